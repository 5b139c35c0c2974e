"""Shots of a source video and the segment plan that respects them.

A hard cut ends one face track and starts another: boxes are gap-filled and smoothed within a
shot only (a crop never glides across a cut), every shot gets its own reference frame, and the
sampling segments never straddle a cut (frames of two shots are never denoised or cross-faded
together). Cuts are found with curation's detector settings (PySceneDetect's ContentDetector, see
:class:`ShotDetector`) on the frames inference decodes anyway.

>>> shot_runs(np.array([0, 0, 1, 1, 1, 0]))
[(0, 2), (2, 5), (5, 6)]
"""
from __future__ import annotations

import numpy as np

from lipforge.infer.video import Segment, plan_segments, segment_weights


# curation's defaults (pipeline.config.SegmentConfig / pipeline.source.scenes, which infer may
# not import: they belong to the stage layer): ContentDetector, threshold 27, min 15 frames,
# flash filter in SUPPRESS mode, frames shrunk to 256 px
CONTENT_THRESHOLD = 27.0
MIN_SHOT_FRAMES = 15
DETECT_MAX_SIDE = 256


class ShotDetector:
    """``feed(rgb)`` frame by frame; ``ids`` is the shot number of every frame fed (25 fps timeline)."""

    def __init__(self, threshold: float = CONTENT_THRESHOLD, min_frames: int = MIN_SHOT_FRAMES) -> None:
        try:
            from scenedetect.detector import FlashFilter
            from scenedetect.detectors import ContentDetector
        except ImportError as e:  # pragma: no cover - pinned dependency
            raise ImportError("shot detection needs PySceneDetect: pip install 'scenedetect==0.7.2'") from e
        self._det = ContentDetector(threshold=threshold, min_scene_len=min_frames,
                                    filter_mode=FlashFilter.Mode.SUPPRESS)
        self._ids: list[int] = []

    def feed(self, rgb: np.ndarray) -> None:
        import cv2
        from scenedetect.common import FrameTimecode

        i = len(self._ids)
        h, w = rgb.shape[:2]
        s = DETECT_MAX_SIDE / max(h, w)
        small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) \
            if s < 1 else rgb
        cuts = self._det.process_frame(FrameTimecode(i, 25.0), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        cut = i > 0 and any(int(c.frame_num) == i for c in cuts)
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
