"""Which files of an ``--input`` folder become sources: one rule, at every depth.

The folder is walked recursively. At every depth:

* names starting with ``.`` (hidden files and folders) are skipped, reason ``hidden``;
* names ending in ``.tmp``, ``.part``, ``.partial``, ``.crdownload`` or ``~`` (files still being
  written or copied) are skipped, reason ``temporary``;
* a file is taken when its extension (any case) is one of :data:`VIDEO_EXTS`, the common
  container and camera formats; any other file is skipped, reason ``other_extension``.

A name taken that is no regular file (a FIFO called ``x.mp4``) is still a source: the probe drops
it as ``not_a_file`` without opening it. Every skipped name is counted: the run prints the counts
by reason and ``summary.json`` lists them (``inputs_skipped``), so nothing leaves without a trace.

>>> sorted(VIDEO_EXTS)[:4]
['.3g2', '.3gp', '.asf', '.avi']
"""
from __future__ import annotations

import os
from pathlib import Path

from lipforge.manifests.ids import source_id_for_path
from lipforge.pipeline.source.inputs import SourceInput

VIDEO_EXTS = frozenset({
    ".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".wmv", ".asf", ".flv", ".f4v",
    ".mpg", ".mpeg", ".m2v", ".vob", ".ts", ".mts", ".m2ts", ".tod", ".mod", ".3gp", ".3g2",
    ".mxf", ".dv", ".ogv", ".rm", ".rmvb", ".divx", ".nut",
})
TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", "~")


def skip_reason(name: str, is_dir: bool = False) -> str | None:
    """Why a name found in an input folder is not taken (None: taken, or walked into)."""
    if name.startswith("."):
        return "hidden"
    if name.lower().endswith(TEMP_SUFFIXES):
        return "temporary"
    if not is_dir and os.path.splitext(name)[1].lower() not in VIDEO_EXTS:
        return "other_extension"
    return None


def list_folder(root: str | Path) -> tuple[list[SourceInput], list[tuple[str, str]]]:
    """The sources of folder ``root`` and the ``(path, reason)`` of every name skipped."""
    root = str(root)
    items: list[SourceInput] = []
    skipped: list[tuple[str, str]] = []
    for dirpath, dirs, files in os.walk(root):
        for d in sorted(dirs):
            why = skip_reason(d, is_dir=True)
            if why is not None:
                skipped.append((os.path.join(dirpath, d), why))
        dirs[:] = sorted(d for d in dirs if skip_reason(d, is_dir=True) is None)
        for f in sorted(files):
            fp = os.path.join(dirpath, f)
            why = skip_reason(f)
            if why is not None:
                skipped.append((fp, why))
            else:
                items.append(SourceInput(fp, source_id_for_path(fp, root)))
    return items, skipped
