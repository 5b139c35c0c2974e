"""From per-frame detections to face tracks: gap filling and jump splits (SayAnything).

Input is one box per frame (the largest face, lipforge convention) with NaN rows where no face
was detected (or where the detector did not run, with ``every`` > 1). Output is a list of
:class:`TrackPiece` that tile the clip in order:

* up to ``max_gap`` (8) consecutive frames without a face are filled by interpolating the track
  (held at the ends of a piece); a longer gap cuts the clip, and the frames of the gap become a
  piece without a face (``boxes is None``, dropped as ``face_missing``);
* where the box moves between consecutive detections by more than ``jump_threshold`` of its
  height (:func:`lipforge.pipeline.faces.boxes.box_jump`) the clip is cut there, so each piece has one
  stable face region.

>>> import numpy as np
>>> b = np.tile([10., 10., 50., 60.], (20, 1)); b[5:9] = np.nan
>>> [(p.start, p.end, p.filled) for p in build_tracks(b)]
[(0, 20, 4)]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipforge.pipeline.faces.boxes import box_jump


@dataclass
class TrackPiece:
    start: int  # first frame (inclusive) within the clip
    end: int  # last frame (exclusive)
    boxes: np.ndarray | None  # (end - start, 4) float64, gaps filled; None: no usable face
    detected: np.ndarray | None  # (end - start,) uint8: 1 detected, 0 filled over a missed face
    filled: int = 0  # frames filled over missed detections
    max_jump: float = 0.0  # largest frame-to-frame box_jump inside the piece

    @property
    def has_face(self) -> bool:
        return self.boxes is not None

    @property
    def n_frames(self) -> int:
        return self.end - self.start


def sample_indices(n: int, every: int) -> np.ndarray:
    """Frames the detector runs on: every ``every``-th frame and always the last one."""
    if every < 1:
        raise ValueError(f"sample_indices: every must be >= 1, got {every}")
    idx = np.arange(0, n, every)
    if n and idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return idx


def _fill(boxes: np.ndarray, det_idx: np.ndarray, start: int, end: int, every: int) -> TrackPiece:
    """Interpolate a piece's boxes between its detections; hold them at its two ends."""
    t = np.arange(start, end)
    inside = det_idx[(det_idx >= start) & (det_idx < end)]
    filled = np.stack([np.interp(t, inside, boxes[inside, c]) for c in range(4)], axis=-1)  # (n, 4)
    detected = np.zeros(end - start, np.uint8)
    detected[inside - start] = 1
    # Frames skipped by the every-k schedule between two detections count as detected.
    for a, b in zip(inside[:-1], inside[1:]):
        if b - a <= every:
            detected[a - start:b - start] = 1
    jumps = box_jump(filled[1:], filled[:-1]) if len(filled) > 1 else np.zeros(0)
    return TrackPiece(int(start), int(end), filled, detected, int((detected == 0).sum()),
                      float(jumps.max()) if len(jumps) else 0.0)


def build_tracks(boxes: np.ndarray, max_gap: int = 8, jump_threshold: float = 0.35,
                 every: int = 1) -> list[TrackPiece]:
    """Cut a clip's per-frame boxes ``(T, 4)`` (NaN = no face) into pieces; see module doc.

    With ``every`` > 1 only sampled frames carry boxes; the jump threshold then applies per
    detection step, and the frames between two detections ``every`` apart are not a gap.
    """
    b = np.asarray(boxes, np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"build_tracks wants (T, 4) boxes, got {b.shape}")
    if max_gap < 0:
        raise ValueError(f"build_tracks: max_gap must be >= 0, got {max_gap}")
    n = len(b)
    det = np.flatnonzero(np.isfinite(b).all(axis=1))
    if len(det) == 0:
        return [TrackPiece(0, n, None, None)] if n else []
    gap_limit = max(max_gap, every - 1)
    # Cuts between consecutive detections a < b: ("gap", a, b) or ("jump", a, b).
    cuts = []
    for a, c in zip(det[:-1], det[1:]):
        if c - a - 1 > gap_limit:
            cuts.append(("gap", a, c))
        elif box_jump(b[a], b[c]) > jump_threshold:
            cuts.append(("jump", a, c))
    pieces: list[TrackPiece] = []
    first = det[0]
    start = 0 if first <= max_gap else first
    if start > 0:
        pieces.append(TrackPiece(0, int(start), None, None))
    for kind, a, c in cuts:
        if kind == "gap":
            pieces.append(_fill(b, det, start, a + 1, every))
            pieces.append(TrackPiece(int(a) + 1, int(c), None, None))
        else:  # the frames between a and c (<= max_gap) stay with the earlier face, held
            pieces.append(_fill(b, det, start, c, every))
        start = c
    last = det[-1]
    end = n if n - 1 - last <= max_gap else last + 1
    pieces.append(_fill(b, det, start, end, every))
    if end < n:
        pieces.append(TrackPiece(int(end), n, None, None))
    return pieces


def scatter_samples(sampled_idx: np.ndarray, sampled_boxes: np.ndarray, n: int) -> np.ndarray:
    """Scatter boxes of the sampled frames into a ``(n, 4)`` array with NaN elsewhere."""
    out = np.full((n, 4), np.nan)
    out[np.asarray(sampled_idx, int)] = np.asarray(sampled_boxes, np.float64).reshape(-1, 4)
    return out
