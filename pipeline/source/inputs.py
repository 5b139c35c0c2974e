"""One input of a curation run: a file, or a time range of it, and where it comes from.

A plain input is a whole file. A row of a ``.csv`` / ``.parquet`` input list (for example the
``sources.parquet`` that ``lipforge sources`` writes from a dataset's annotation files) may also
give, per row:

==================  ===========================================================================
``start_s, end_s``  the range of the file this source covers, seconds from its first frame
                    (both or neither); only this range is decoded (from the keyframe before
                    ``start_s``) and judged
``dataset``         the dataset the row comes from (``hdtf``, ``celebv_hq``, ...)
``dataset_key``     the dataset's own id of the row (a clip id, ``Radio11.mp4#1``, ...)
``labels``          the dataset's labels of the row (AVA-Speech label, MultiTalk language, ...)
``box_x0 .. box_y1``  the dataset's face box, normalized to the frame (0..1, x0 < x1, y0 < y1)
``source_id``       an explicit id; by default a range gets the id of its file plus the range
                    in ms (:func:`~lipforge.manifests.ids.source_id_for_range`)
==================  ===========================================================================

A bad value is a configuration error naming the list, the row and the column (the command
exits 2), not a verdict: the list is the user's own file. Values are bounded before anything is
recorded (:func:`check_source_input`): a range lies within the first ``MAX_TIME_S`` of its file
and spans at most ``MAX_SPAN_S``, an id matches ``[A-Za-z0-9_]+`` and has at most
``MAX_ID_LEN`` characters (ids name work files), so nothing enters a corpus that a later run
cannot process or ``--remove``. A relative path in a list is taken relative to the list's folder
(:func:`list_path`), not to the working directory.

>>> s = source_input_from_row({"path": "a.mp4", "start_s": 1.0, "end_s": 3.5, "dataset": "hdtf"}, "row 2")
>>> s.source_id.endswith("_00001000_00003500"), s.start_s, s.end_s, s.dataset
(True, 1.0, 3.5, 'hdtf')
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from lipforge.manifests.ids import source_id_for_path, source_id_for_range

BOX_COLUMNS = ("box_x0", "box_y0", "box_x1", "box_y1")
MAX_SPAN_S = 48 * 3600.0  # a range longer than two days is a typo, not a recording
MAX_TIME_S = 7 * 24 * 3600.0  # range times stay within a week of the file's start
MAX_ID_LEN = 128  # ids name files (work/sources/<id>.json, <id>-<start_ms>-<track>.released.json)
_SOURCE_ID = re.compile(r"[A-Za-z0-9_]+")
RANGE_COLUMNS = ("start_s", "end_s", "dataset", "dataset_key", "labels", *BOX_COLUMNS)


@dataclass(frozen=True)
class SourceInput:
    path: str
    source_id: str
    # A range of the file (seconds from its first frame); None: the whole file.
    start_s: float | None = None
    end_s: float | None = None
    dataset: str | None = None
    dataset_key: str | None = None
    labels: str | None = None
    box: tuple[float, float, float, float] | None = None  # normalized (x0, y0, x1, y1)

    def to_json(self) -> str:
        """The input as one JSON string (how the Ray runner ships it to a worker)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SourceInput":
        d = json.loads(text)
        if d.get("box") is not None:
            d["box"] = tuple(d["box"])
        return cls(**d)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _number(row: dict, col: str, where: str) -> float | None:
    v = row.get(col)
    if _blank(v):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {col} must be a number of seconds, got {v!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{where}: {col} must be finite, got {v!r}")
    return x


def _text(row: dict, col: str) -> str | None:
    v = row.get(col)
    return None if _blank(v) else str(v).strip()


def source_input_from_row(row: dict, where: str, root: str | None = None) -> SourceInput:
    """A :class:`SourceInput` from one list row (see the module doc); ``where`` names the row."""
    path = row.get("path")
    if _blank(path):
        raise ValueError(f"{where}: the path column is empty")
    path = str(path).strip()
    start, end = _number(row, "start_s", where), _number(row, "end_s", where)
    if (start is None) != (end is None):
        raise ValueError(f"{where}: give both start_s and end_s or neither, got start_s={start} end_s={end}")
    if start is not None:
        check_range(start, end, where)
    coords = [_number(row, c, where) for c in BOX_COLUMNS]
    box = None
    if any(c is not None for c in coords):
        if any(c is None for c in coords):
            raise ValueError(f"{where}: a box needs all of {', '.join(BOX_COLUMNS)}, got {coords}")
        x0, y0, x1, y1 = coords
        if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
            raise ValueError(f"{where}: box must be normalized with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, "
                             f"got {tuple(coords)}")
        box = (x0, y0, x1, y1)
    sid = _text(row, "source_id")
    if sid is None:
        sid = source_id_for_path(path, root) if start is None else source_id_for_range(path, start, end, root)
    return check_source_input(SourceInput(path=path, source_id=sid, start_s=start, end_s=end,
                                          dataset=_text(row, "dataset"), dataset_key=_text(row, "dataset_key"),
                                          labels=_text(row, "labels"), box=box), where)


def list_path(path: str, list_file) -> str:
    """A path as written in a list file: a relative one is taken from the list's own folder."""
    import os

    if "://" in path or os.path.isabs(path):
        return path
    return os.path.join(os.path.dirname(os.path.abspath(list_file)), path)


def check_range(start: float, end: float, where: str) -> None:
    if start < 0:
        raise ValueError(f"{where}: start_s must be >= 0, got {start}")
    if end <= start:
        raise ValueError(f"{where}: end_s ({end}) must be > start_s ({start})")
    if end > MAX_TIME_S:
        raise ValueError(f"{where}: end_s ({end}) must be at most {MAX_TIME_S:.0f} s (a week into the file)")
    if end - start > MAX_SPAN_S:
        raise ValueError(f"{where}: the range {start}..{end} s is longer than {MAX_SPAN_S / 3600:.0f} h")


def check_source_input(src: SourceInput, where: str) -> SourceInput:
    """``src`` when a run can process it and ``--remove`` it later; else ValueError naming ``where``."""
    if not _SOURCE_ID.fullmatch(src.source_id) or len(src.source_id) > MAX_ID_LEN:
        # A '.' would split the WebDataset key ('-' and others break the id order of the shards).
        raise ValueError(f"{where}: source_id {src.source_id[:MAX_ID_LEN + 8]!r} must match [A-Za-z0-9_]+ and have "
                         f"at most {MAX_ID_LEN} characters; leave the column out to derive ids from paths")
    if (src.start_s is None) != (src.end_s is None):
        raise ValueError(f"{where}: give both start_s and end_s or neither")
    if src.start_s is not None:
        for v in (src.start_s, src.end_s):
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{where}: range times must be finite numbers, got {v!r}")
        check_range(float(src.start_s), float(src.end_s), where)
    return src


def is_url(path: str) -> bool:
    """A source given as a URL (PyAV opens it): it has no file identity to compare."""
    return "://" in path
