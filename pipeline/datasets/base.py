"""What every dataset adapter shares: annotation rows, finding their videos, fitting boxes.

An adapter reads a dataset's own annotation files into :class:`DatasetRow` s (which video,
which time range, optionally a face box and labels). :func:`lipforge.pipeline.datasets.build.build_sources`
then looks each row's video up in the directory the user downloaded the videos to and turns
the row into an input row of a curation run (the columns of :mod:`lipforge.pipeline.source.inputs`).
A row that cannot become a source is never silently skipped: it is listed with a reason.

=====================  ========================================================================
``video_missing``      no file named after the row's video in the videos directory
``ambiguous_video``    several files of that name in different folders (give a narrower --videos)
``bad_range``          the row's end is not after its start, a time is negative or not finite
``implausible_range``  far longer than the dataset's longest range (:data:`IMPLAUSIBLE_S`), or (HDTF)
                       out of the order of its line: a typo, not a talking span
``unparsed_entry``     a line or entry of the annotation file that does not parse (its text is
                       in ``detail``)
``duplicate_range``    an earlier row lists the same range of the same video with the same face
                       (no box, or boxes overlapping by IoU >= 0.5; a different box is a second
                       speaker and a second source)
``not_speech``         (AVA-Speech) a segment labelled ``NO_SPEECH``
=====================  ========================================================================

A row that does become a source may carry warnings (the ``warnings`` column of the list,
``code: detail | code: detail``), each counted in the printed summary:

==========================  ===================================================================
``box_clamped``             the box does not fit its frame and was clamped to it
``box_outside_frame``       the box lies outside its frame: the source has no box
``no_box``                  the dataset gives boxes, but none for this range
``bad_box``                 the box's entry does not parse: the source has no box
``box_reference_assumed``   (HDTF) no resolution entry: crop pixels taken as the download's own
``no_video_size``           the video's size could not be read, so a pixel box was not used
==========================  ===================================================================
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

VIDEO_EXT_PRIORITY = (".mp4", ".mkv", ".webm", ".mov", ".m4v", ".avi", ".flv", ".mpg", ".mpeg", ".ts")
_EXT_RANK = {e: i for i, e in enumerate(VIDEO_EXT_PRIORITY)}

# A range longer than this is implausible for its dataset (twice its longest real range or
# more). Measured on the published files: HDTF's longest range is 438 s (its one longer range,
# WRA MittRomney's 500 s, is a typo the order check finds); MultiTalk's 50.2 s (11 languages);
# CelebV-Text's sample 54.6 s; AVA-Speech labels 900 s per movie. VFHQ: clips of a few seconds.
IMPLAUSIBLE_S: dict[str, float] = {"hdtf": 900.0, "multitalk": 120.0, "celebv_hq": 300.0, "celebv_text": 300.0,
                               "ava_speech": 900.0, "vfhq": 600.0}
SAME_FACE_IOU = 0.5  # two boxes of one range overlapping at least this much are one face
BOX_SLACK = 0.005  # a box may overshoot its frame by this much (rounding) before it counts as clamped


@dataclass(slots=True)  # CelebV-Text and MultiTalk list 70k-110k rows
class DatasetRow:
    """One annotated segment of a dataset, before its video is looked up."""

    dataset: str
    key: str  # the dataset's own id of the segment
    videos: tuple[str, ...]  # file names (without extension) the video may have, in preference order
    start_s: float | None = None
    end_s: float | None = None
    box: tuple[float, float, float, float] | None = None  # normalized (x0, y0, x1, y1), not yet clamped
    box_px: tuple[float, float, float, float] | None = None  # pixels of a reference frame (normalized later)
    # Height in px of the frame box_px is measured in (HDTF: its *_resolution.txt); its width follows
    # the downloaded video's aspect ratio. None: the downloaded video's own size.
    box_ref_h: float | None = None
    labels: str | None = None
    subdir: str | None = None  # preferred folder of the video (MultiTalk: the language)
    problem: str | None = None  # a reason code when the row cannot become a source
    detail: str = ""
    where: str = ""  # file and line or entry of the annotation
    warnings: list[str] = field(default_factory=list)  # "code: detail" (see the module doc)

    def warn(self, code: str, detail: str) -> None:
        self.warnings.append(f"{code}: {detail}")


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


def fit_box(row: DatasetRow, box: tuple[float, float, float, float], frame: str) -> tuple | None:
    """``box`` (normalized, possibly past the frame) clamped to the frame; a clamp beyond rounding
    or an empty result is a warning on ``row`` (``frame`` names the frame in its text)."""
    fitted = normalized_box(*box)
    if fitted is not None and -BOX_SLACK <= min(box) and max(box) <= 1 + BOX_SLACK:
        return fitted
    shown = "(" + ", ".join(f"{v:.4g}" for v in box) + ")"
    if fitted is None:
        row.warn("box_outside_frame", f"box {shown} of {frame} is empty inside the frame")
    else:
        row.warn("box_clamped", f"box {shown} of {frame} does not fit it, clamped")
    return fitted


def iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def check_range(row: DatasetRow) -> DatasetRow:
    """Flag a range that cannot be a source (``bad_range``) or is far too long (``implausible_range``)."""
    if row.problem is not None or row.start_s is None:
        return row
    a, b = row.start_s, row.end_s
    if b is None or not (math.isfinite(a) and math.isfinite(b)):
        row.problem, row.detail = "bad_range", f"start {a}, end {b}: not finite"
    elif a < 0:
        row.problem, row.detail = "bad_range", f"negative start {a}"
    elif not b > a:
        row.problem, row.detail = "bad_range", f"end {b} <= start {a}"
    elif b - a > IMPLAUSIBLE_S.get(row.dataset, math.inf):
        row.problem = "implausible_range"
        row.detail = (f"{b - a:.1f} s long: more than {IMPLAUSIBLE_S[row.dataset]:.0f} s, far beyond "
                      f"{row.dataset}'s longest ranges (a typo?)")
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
