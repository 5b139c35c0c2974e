"""Annotation rows -> the sources list of a curation run, and its writer.

Each row's video is looked up, its box normalized to that video's frame (pixel boxes through
their reference frame, so a download of any size gets the same box), and the rows are then
settled in order: a row repeating a range of its video with the same face is a
``duplicate_range`` (listed), one with a different face is a second speaker and a second
source (its id ends with its dataset key); with ``merge_gap`` set, segments of one video and
face that touch or lie at most that many seconds apart become one source (AVA-Speech labels
speech in short adjacent pieces). Codes of the skipped rows and of the warnings:
:mod:`lipforge.pipeline.datasets.base`.

>>> built = build_sources(read("HDTF_dataset"), "videos/", merge_gap=None)       # doctest: +SKIP
>>> len(built.sources), built.listed_s["hdtf"] / 3600                            # doctest: +SKIP
(435, 16.93)
"""
from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lipforge.pipeline.datasets.base import SAME_FACE_IOU, DatasetRow, VideoIndex, check_range, fit_box, iou, video_size

SOURCE_LIST_COLUMNS = ("source_id", "path", "dataset", "dataset_key", "start_s", "end_s", "labels",
                       "box_x0", "box_y0", "box_x1", "box_y1", "warnings")
SKIPPED_COLUMNS = ("dataset", "dataset_key", "reason", "detail", "video", "start_s", "end_s", "where")
_BOX = ("box_x0", "box_y0", "box_x1", "box_y1")
_KEY_SAFE = re.compile(r"[^A-Za-z0-9_]+")


@dataclass
class SourceList:
    """The sources, the skipped rows, and per dataset the seconds the annotations list."""

    sources: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    listed_s: Counter = field(default_factory=Counter)  # every row with a usable range
    found_s: Counter = field(default_factory=Counter)  # of those, the rows whose video was found
    flagged_s: Counter = field(default_factory=Counter)  # ranges listed as bad_range or implausible_range
    merged: Counter = field(default_factory=Counter)  # rows that joined an earlier row's source

    def skip(self, row: DatasetRow, reason: str, detail: str = "") -> None:
        self.skipped.append({"dataset": row.dataset, "dataset_key": row.key, "reason": reason,
                             "detail": detail or row.detail, "video": "|".join(row.videos),
                             "start_s": row.start_s, "end_s": row.end_s, "where": row.where})


@dataclass(slots=True)
class _Item:
    """A row whose video was found, with its fitted box; becomes one source (or joins one)."""

    row: DatasetRow
    path: Path
    box: tuple | None
    start_s: float | None
    end_s: float | None
    keys: list[str]
    labels: list[str]


def _fitted_box(row: DatasetRow, path: Path, sizes: dict) -> tuple | None:
    if row.box_px is None:
        return fit_box(row, row.box, "the frame") if row.box is not None else None
    size = sizes[path] if path in sizes else sizes.setdefault(path, video_size(path))
    if size is None:
        row.warn("no_video_size", f"the size of {path.name} could not be read, so its pixel box is not used")
        return None
    w, h = size
    ref_h = row.box_ref_h or h  # the reference frame has the download's aspect ratio
    ref_w = ref_h * w / h
    x0, y0, x1, y1 = row.box_px
    frame = f"the {ref_w:.0f}x{ref_h:.0f} {'reference frame' if row.box_ref_h else 'video'}"
    return fit_box(row, (x0 / ref_w, y0 / ref_h, x1 / ref_w, y1 / ref_h), frame)


def _same_face(a: tuple | None, b: tuple | None) -> bool:
    """One face unless both ranges have boxes that hardly overlap (two people speaking at once)."""
    return a is None or b is None or iou(a, b) >= SAME_FACE_IOU


def _drop_duplicates(items: list[_Item], out: SourceList) -> list[_Item]:
    kept: list[_Item] = []
    by_range: dict[tuple, list[_Item]] = {}
    for it in items:
        rng = (str(it.path), None if it.start_s is None else round(it.start_s * 1000),
               None if it.end_s is None else round(it.end_s * 1000))
        twin = next((o for o in by_range.get(rng, []) if _same_face(o.box, it.box)), None)
        if twin is not None:
            out.skip(it.row, "duplicate_range", f"same range and face of {it.path.name} as {twin.row.key}")
            continue
        by_range.setdefault(rng, []).append(it)
        kept.append(it)
    return kept


def _merge(items: list[_Item], gap: float, out: SourceList) -> list[_Item]:
    """Join each ranged item to an earlier one of its video, dataset and face ending at most ``gap``
    seconds before it starts (or overlapping it); the joined box is the union of the boxes."""
    result: list[_Item] = []
    open_by_video: dict[tuple, list[_Item]] = {}
    ranged = sorted((it for it in items if it.start_s is not None), key=lambda it: (str(it.path), it.start_s))
    for it in ranged:
        groups = open_by_video.setdefault((str(it.path), it.row.dataset), [])
        groups[:] = [g for g in groups if it.start_s - g.end_s <= gap + 1e-6]  # the others can take no later item
        host = next((g for g in groups if _same_face(g.box, it.box)), None)
        if host is None:
            groups.append(it)
            result.append(it)
            continue
        host.end_s = max(host.end_s, it.end_s)
        if host.box is not None and it.box is not None:
            host.box = (min(host.box[0], it.box[0]), min(host.box[1], it.box[1]),
                        max(host.box[2], it.box[2]), max(host.box[3], it.box[3]))
        host.box = host.box or it.box
        host.keys += it.keys
        host.labels += [lab for lab in it.labels if lab not in host.labels]
        host.row.warnings += it.row.warnings
        out.merged[it.row.dataset] += 1
    return result + [it for it in items if it.start_s is None]


def _source(it: _Item, taken: dict[str, dict], out: SourceList) -> dict | None:
    from lipforge.pipeline.source.inputs import source_input_from_row

    key = it.keys[0] if len(it.keys) == 1 else f"{it.keys[0]}..{it.keys[-1]}"
    src = {"path": os.path.abspath(it.path), "dataset": it.row.dataset, "dataset_key": key,
           "start_s": it.start_s, "end_s": it.end_s, "labels": ",".join(it.labels) or None,
           **dict(zip(_BOX, it.box or (None,) * 4)), "warnings": " | ".join(it.row.warnings) or None}
    try:
        sid = source_input_from_row(src, it.row.where).source_id
    except ValueError as e:  # the checks above should leave none; a bad row is listed, never an abort
        out.skip(it.row, "bad_range", str(e))
        return None
    if sid in taken:  # the same range with another face: a second speaker
        first = f"{sid}_{_KEY_SAFE.sub('_', it.keys[0]).strip('_')[:40] or 'face'}"
        sid, n = first, 2
        while sid in taken:
            sid, n = f"{first}_{n}", n + 1
    src["source_id"] = sid
    return src


def build_sources(rows: Iterable[DatasetRow], videos: str | Path, merge_gap: float | None = None) -> SourceList:
    """The sources of the rows whose video exists, and the rows listed with a reason."""
    if merge_gap is not None and not merge_gap >= 0:
        raise ValueError(f"--merge-gap must be >= 0 seconds, got {merge_gap}")
    index = VideoIndex(videos)
    sizes: dict[Path, tuple[int, int] | None] = {}  # one probe per video, not per row (CelebV-Text: 70k rows)
    out = SourceList()
    items: list[_Item] = []
    for row in rows:
        row = check_range(row)
        if row.problem is not None:
            if row.problem in ("bad_range", "implausible_range") and row.end_s - row.start_s > 0:
                out.flagged_s[row.dataset] += row.end_s - row.start_s
            out.skip(row, row.problem)
            continue
        secs = 0.0 if row.start_s is None else row.end_s - row.start_s
        out.listed_s[row.dataset] += secs
        path, why = index.find(row.videos, row.subdir)
        if path is None:
            out.skip(row, why, f"looked for {' or '.join(row.videos)}.* under {index.root}")
            continue
        out.found_s[row.dataset] += secs
        items.append(_Item(row, path, _fitted_box(row, path, sizes), row.start_s, row.end_s, [row.key],
                           [row.labels] if row.labels else []))
    items = _drop_duplicates(items, out)
    if merge_gap is not None:
        items = _merge(items, merge_gap, out)
    taken: dict[str, dict] = {}
    for it in items:
        src = _source(it, taken, out)
        if src is not None:
            taken[src["source_id"]] = src
    out.sources = [taken[k] for k in sorted(taken)]
    return out


def write_sources(out: str | Path, sources: list[dict], skipped: list[dict]) -> Path:
    """Write the sources list (Parquet) and, beside it, ``<name>.skipped.csv``; returns the latter."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    f64, s = pa.float64(), pa.string()
    schema = pa.schema([(c, f64 if c.startswith(("start", "end", "box")) else s) for c in SOURCE_LIST_COLUMNS])
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(sources, schema=schema), tmp)
    tmp.replace(out)
    listing = out.with_name(out.stem + ".skipped.csv")
    tmp = listing.with_name(listing.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SKIPPED_COLUMNS)
        w.writeheader()
        w.writerows(skipped)
    tmp.replace(listing)
    return listing
