"""Shots of a source video and the segment plan that respects them.

A hard cut ends one face track and starts another: boxes are gap-filled and smoothed within a
shot only (a crop never glides across a cut), every shot gets its own reference frame, and the
sampling segments never straddle a cut (frames of two shots are never denoised or cross-faded
together). Cuts are found by curation's own scene-cut detector (PySceneDetect's ContentDetector,
see :class:`ShotDetector`) on the frames inference decodes anyway.

>>> shot_runs(np.array([0, 0, 1, 1, 1, 0]))
[(0, 2), (2, 5), (5, 6)]
"""
from __future__ import annotations

import numpy as np

from lipforge.infer.video import Segment, plan_segments, segment_weights


class ShotDetector:
    """``feed(rgb)`` frame by frame; ``ids`` is the shot number of every frame fed (25 fps timeline).
    The cuts are curation's own detector (:class:`lipforge.pipeline.source.scenes.SceneCuts`) at
    its default settings."""

    def __init__(self, detector: str = "content", threshold: float | None = None) -> None:
        from lipforge.pipeline.source.scenes import CONTENT_THRESHOLD, SceneCuts

        self._cuts = SceneCuts(detector, CONTENT_THRESHOLD if threshold is None else threshold, fps=25.0)
        self._ids: list[int] = []

    def feed(self, rgb: np.ndarray) -> None:
        i = len(self._ids)
        cut = self._cuts.feed(i, rgb) and i > 0
        self._ids.append((self._ids[-1] + (1 if cut else 0)) if self._ids else 0)

    @property
    def ids(self) -> np.ndarray:
        return np.asarray(self._ids, np.int64)


def shot_runs(ids: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs [start, end) of equal consecutive values (shots along a timeline)."""
    ids = np.asarray(ids)
    if len(ids) == 0:
        return []
    edges = np.flatnonzero(np.diff(ids) != 0) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(ids)]])
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def plan_shot_segments(shot_of_frame: np.ndarray, length: int = 16,
                       overlap: int = 4) -> tuple[list[Segment], list[np.ndarray]]:
    """Segments of at most ``length`` frames that never cross a shot boundary, and their blend
    weights (summing to 1 on every frame; cross-fades only between segments of one shot)."""
    segments: list[Segment] = []
    weights: list[np.ndarray] = []
    for a, b in shot_runs(shot_of_frame):
        segs = [Segment(a + s.start, a + s.end) for s in plan_segments(b - a, length, overlap)]
        local = [Segment(s.start - a, s.end - a) for s in segs]
        segments += segs
        weights += segment_weights(local, b - a)
    return segments, weights
