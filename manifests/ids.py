"""Deterministic ids: the same input always gets the same id, on any machine.

A clip id is ``{source_id}-{start_ms:08d}-{track:02d}`` and equals the WebDataset ``__key__``
of its shard sample, so a manifest row and a shard sample always line up.

>>> clip_id("abc123", 1.5)
'abc123-00001500-00'
"""
from __future__ import annotations

import hashlib
import os
import re

_SAFE = re.compile(r"[^A-Za-z0-9_]+")


def source_id_for_path(path: str, root: str | None = None) -> str:
    """A readable, collision-safe id from the path relative to the input root.

    Dots are not allowed in WebDataset keys (they split extensions), so the stem is sanitised
    and a short hash of the relative path keeps two files with the same stem apart.
    """
    rel = os.path.relpath(path, root) if root else os.path.basename(path)
    stem = _SAFE.sub("_", os.path.splitext(os.path.basename(rel))[0]).strip("_")[:40] or "src"
    digest = hashlib.sha1(rel.encode("utf-8")).hexdigest()[:8]
    return f"{stem}_{digest}"


def source_id_for_range(path: str, start_s: float, end_s: float, root: str | None = None) -> str:
    """Id of the range ``[start_s, end_s)`` of a file: the file's id plus the range in ms.

    Several ranges of one file (a dataset's annotated segments) get distinct ids that depend
    only on the file and the range, and sort together in time order.

    >>> source_id_for_range("/data/Radio11.mp4", 30.0, 60.5)
    'Radio11_64e9c115_00030000_00060500'
    """
    if not 0 <= start_s < end_s:
        raise ValueError(f"source_id_for_range: need 0 <= start_s < end_s, got {start_s}, {end_s}")
    return f"{source_id_for_path(path, root)}_{int(round(start_s * 1000)):08d}_{int(round(end_s * 1000)):08d}"


def clip_id(source_id: str, start_s: float, track: int = 0) -> str:
    if start_s < 0:
        raise ValueError(f"clip_id: start_s must be >= 0, got {start_s}")
    if not 0 <= track < 100:
        raise ValueError(f"clip_id: track must be in [0, 100), got {track}")
    start_ms = int(round(start_s * 1000))
    return f"{source_id}-{start_ms:08d}-{track:02d}"


def parse_clip_id(cid: str) -> tuple[str, float, int]:
    """Inverse of :func:`clip_id`: (source_id, start_s, track)."""
    src, start_ms, track = cid.rsplit("-", 2)
    return src, int(start_ms) / 1000.0, int(track)
