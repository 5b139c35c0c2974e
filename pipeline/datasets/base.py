"""What every dataset adapter shares: annotation rows, finding their videos, the sources list.

An adapter reads a dataset's own annotation files into :class:`DatasetRow` s (which video,
which time range, optionally a face box and labels). :func:`build_sources` then looks each
row's video up in the directory the user downloaded the videos to and turns the row into an
input row of a curation run (the columns of :mod:`lipforge.pipeline.source.inputs`). A row
that cannot become a source is never silently skipped: it is listed with a reason.

=====================  ========================================================================
``video_missing``      no file named after the row's video in the videos directory
``ambiguous_video``    several files of that name in different folders (give a narrower --videos)
``bad_range``          the row's end is not after its start
``unparsed_entry``     a line or entry of the annotation file that does not parse (its text is
                       in ``detail``)
``duplicate_range``    an earlier row already lists the same range of the same video
``not_speech``         (AVA-Speech) a segment labelled ``NO_SPEECH``
=====================  ========================================================================
"""
from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

VIDEO_EXT_PRIORITY = (".mp4", ".mkv", ".webm", ".mov", ".m4v", ".avi", ".flv", ".mpg", ".mpeg", ".ts")
_EXT_RANK = {e: i for i, e in enumerate(VIDEO_EXT_PRIORITY)}

SOURCE_LIST_COLUMNS = ("source_id", "path", "dataset", "dataset_key", "start_s", "end_s", "labels",
                       "box_x0", "box_y0", "box_x1", "box_y1")
SKIPPED_COLUMNS = ("dataset", "dataset_key", "reason", "detail", "video", "start_s", "end_s", "where")


@dataclass
class DatasetRow:
    """One annotated segment of a dataset, before its video is looked up."""

    dataset: str
    key: str  # the dataset's own id of the segment
    videos: tuple[str, ...]  # file names (without extension) the video may have, in preference order
    start_s: float | None = None
    end_s: float | None = None
    box: tuple[float, float, float, float] | None = None  # normalized (x0, y0, x1, y1)
    box_px: tuple[float, float, float, float] | None = None  # pixels of the video frame (normalized later)
    labels: str | None = None
    subdir: str | None = None  # preferred folder of the video (MultiTalk: the language)
    problem: str | None = None  # a reason code when the row cannot become a source
    detail: str = ""
    where: str = ""  # file and line or entry of the annotation


def parse_clock(text: str) -> float:
    """``"01:35"`` (mm:ss), ``"1:02:03.5"`` (h:mm:ss) or ``"95.2"`` -> seconds."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or any(not p for p in parts):
        raise ValueError(f"not a time: {text!r}")
    secs = 0.0
    for p in parts:
        secs = secs * 60 + float(p)
    if secs < 0:
        raise ValueError(f"negative time: {text!r}")
    return secs


def normalized_box(left: float, top: float, right: float, bottom: float) -> tuple[float, float, float, float] | None:
    """A (x0, y0, x1, y1) box clamped to the frame, or None when it is empty."""
    x0, y0 = max(0.0, float(left)), max(0.0, float(top))
    x1, y1 = min(1.0, float(right)), min(1.0, float(bottom))
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def check_range(row: DatasetRow) -> DatasetRow:
    if row.problem is None and row.start_s is not None and not row.end_s > row.start_s:
        row.problem, row.detail = "bad_range", f"end {row.end_s} <= start {row.start_s}"
    return row


class VideoIndex:
    """The video files under a directory by name without extension (walked once)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.by_stem: dict[str, list[Path]] = {}
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                p = Path(dirpath) / f
                if p.suffix.lower() in VIDEO_EXT_PRIORITY and not f.startswith("."):
                    self.by_stem.setdefault(p.stem, []).append(p)

    def find(self, stems: tuple[str, ...], subdir: str | None = None) -> tuple[Path | None, str | None]:
        """(path, None) for the first stem found, else (None, reason)."""
        for stem in stems:
            found = self.by_stem.get(stem)
            if not found:
                continue
            if subdir is not None and any(p.parent.name == subdir for p in found):
                found = [p for p in found if p.parent.name == subdir]
            if len({p.parent for p in found}) > 1:
                return None, "ambiguous_video"
            return min(found, key=lambda p: (_EXT_RANK.get(p.suffix.lower(), 99), p.name)), None
        return None, "video_missing"


def video_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of the first video stream as stored, or None when it cannot be read."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return None
            cc = c.streams.video[0].codec_context
            return (int(cc.width), int(cc.height)) if cc.width and cc.height else None
    except (av.FFmpegError, OSError):
        return None


def build_sources(rows, videos: str | Path) -> tuple[list[dict], list[dict]]:
    """Input-list rows for the rows whose video exists, and the rows listed with a reason."""
    from lipforge.pipeline.source.inputs import source_input_from_row

    index = VideoIndex(videos)
    sizes: dict[Path, tuple[int, int] | None] = {}  # one probe per video, not per row (CelebV-Text: 70k rows)
    sources: dict[str, dict] = {}
    skipped: list[dict] = []

    def skip(row: DatasetRow, reason: str, detail: str = "") -> None:
        skipped.append({"dataset": row.dataset, "dataset_key": row.key, "reason": reason,
                        "detail": detail or row.detail, "video": "|".join(row.videos),
                        "start_s": row.start_s, "end_s": row.end_s, "where": row.where})

    for row in rows:
        row = check_range(row)
        if row.problem is not None:
            skip(row, row.problem)
            continue
        path, why = index.find(row.videos, row.subdir)
        if path is None:
            skip(row, why, f"looked for {' or '.join(row.videos)}.* under {index.root}")
            continue
        box = row.box
        if box is None and row.box_px is not None:
            size = sizes[path] if path in sizes else sizes.setdefault(path, video_size(path))
            if size is not None:
                x0, y0, x1, y1 = row.box_px
                box = normalized_box(x0 / size[0], y0 / size[1], x1 / size[0], y1 / size[1])
        out = {"path": os.path.abspath(path), "dataset": row.dataset, "dataset_key": row.key,
               "start_s": row.start_s, "end_s": row.end_s, "labels": row.labels}
        out.update(zip(("box_x0", "box_y0", "box_x1", "box_y1"), box or (None,) * 4))
        src = source_input_from_row(out, row.where)
        if src.source_id in sources:
            skip(row, "duplicate_range", f"same range of {path.name} as {sources[src.source_id]['dataset_key']}")
            continue
        out["source_id"] = src.source_id
        sources[src.source_id] = out
    return [sources[k] for k in sorted(sources)], skipped


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


def overlapping(sources: list[dict]) -> int:
    """Ranges that overlap an earlier range of the same video (MultiTalk and CelebV list some):
    they stay separate sources, but their clips share frames, which a training split should know."""
    n = 0
    by_path: dict[str, list[tuple[float, float]]] = {}
    for r in sources:
        if r["start_s"] is not None:
            by_path.setdefault(r["path"], []).append((r["start_s"], r["end_s"]))
    for spans in by_path.values():
        reach = -1.0
        for a, b in sorted(spans):
            n += a < reach
            reach = max(reach, b)
    return n


def summarize(sources: list[dict], skipped: list[dict]) -> str:
    """One line per dataset: sources, hours listed, boxes, overlapping ranges, rows skipped by reason."""
    lines = []
    for ds in sorted({r["dataset"] for r in sources} | {r["dataset"] for r in skipped}):
        mine = [r for r in sources if r["dataset"] == ds]
        hours = sum((r["end_s"] - r["start_s"]) for r in mine if r["start_s"] is not None) / 3600
        reasons = Counter(r["reason"] for r in skipped if r["dataset"] == ds)
        boxes = sum(r["box_x0"] is not None for r in mine)
        lines.append(f"{ds}: {len(mine)} sources ({hours:.3f} h listed, {boxes} with a face box, "
                     f"{overlapping(mine)} overlapping an earlier range of their video); "
                     f"skipped {sum(reasons.values())}" + (f" {dict(sorted(reasons.items()))}" if reasons else ""))
    return "\n".join(lines)
