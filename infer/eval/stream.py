"""Evaluation in chunks: frames of a video (or of its reference, re-timed) a few dozen at a time.

``lipforge eval`` used to hold both videos whole, then a float copy (8.0 GiB for a 5 s portrait
output, more than 37 GB for 60 s). Here every per-frame metric sees one chunk of frames at a
time and keeps only numbers: per-frame scores, face boxes, landmarks, network features. Face
tracks take two passes (boxes for every frame first, then gap filling and smoothing over the
whole track, which are cheap numbers, then landmarks), so the landmarks are exactly those of
:func:`lipforge.infer.faceprep.prepare_faces` over the whole video, whatever the chunk size.

>>> for start, frames in model_chunks(probe("out.mp4"), 32): ...   # doctest: +SKIP
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

CHUNK = 32  # frames per chunk: a multiple of FVD's 16-frame clips


def model_chunks(info, chunk: int = CHUNK) -> Iterator[tuple[int, np.ndarray]]:
    """(start, frames (t, H, W, 3)) over the 25 fps timeline of a probed video, ``chunk`` at a time."""
    from lipforge.infer.source import iter_model_frames

    buf: list[np.ndarray] = []
    start = 0
    for _, rgb in iter_model_frames(info):
        buf.append(rgb)
        if len(buf) == chunk:
            yield start, np.stack(buf)
            start += len(buf)
            buf = []
    if buf:
        yield start, np.stack(buf)


class ModelFrames:
    """Random access to a video's 25 fps frames with a bounded window: a forward iterator, reopened
    from the start when asked for a frame behind its window (a looped output's reference)."""

    def __init__(self, info, window: int = 2 * CHUNK + 2) -> None:
        self.info, self.window = info, window
        self._reset()

    def _reset(self) -> None:
        from lipforge.infer.source import iter_model_frames

        self._it = iter_model_frames(self.info)
        self._buf: dict[int, np.ndarray] = {}
        self._k = -1

    def __getitem__(self, k: int) -> np.ndarray:
        k = int(k)
        if k not in self._buf and k <= self._k:
            self._reset()  # behind the window: decode again from the start
        while self._k < k:
            try:
                self._k, rgb = next(self._it)
            except StopIteration:
                break
            self._buf[self._k] = rgb
            self._buf.pop(self._k - self.window, None)
        return self._buf[min(k, self._k)]


def mapped_chunks(info, positions: np.ndarray, chunk: int = CHUNK) -> Iterator[tuple[int, np.ndarray]]:
    """The frames at fractional 25 fps ``positions`` (blending neighbours, as
    :func:`lipforge.infer.video.sample_frames` does), ``chunk`` at a time."""
    from lipforge.infer.video import sample_frames

    frames = ModelFrames(info)
    for s in range(0, len(positions), chunk):
        pos = np.asarray(positions[s:s + chunk], np.float64)
        lo = int(np.floor(pos.min()))
        hi = min(int(np.floor(pos.max())) + 1, info.n_model_frames - 1)
        local = np.stack([frames[k] for k in range(lo, hi + 1)])
        yield s, sample_frames(local, pos - lo)


def stream_track(chunks: Callable[[], Iterator[tuple[int, np.ndarray]]], detector=None, landmarker=None,
                 per_chunk: Callable[[int, np.ndarray, np.ndarray, np.ndarray], None] | None = None):
    """Face boxes, crop boxes and landmarks of a chunked video, as :func:`prepare_faces` would give
    for the whole of it: (boxes (T, 4), crop_boxes (T, 4), landmarks (T, 68, 2)). ``chunks()`` is
    called twice (one pass for boxes, one for landmarks); ``per_chunk(start, frames, crop_boxes,
    landmarks)`` sees each chunk of the second pass (to cut crops without a third decode).
    Raises :class:`lipforge.infer.faceprep.NoFaceError` when no frame has a face."""
    from lipforge.infer.faceprep import _detector, _landmarker, boxes_by_shot

    detector, landmarker = _detector(detector), _landmarker(landmarker)
    raw = np.concatenate([np.asarray(detector(f), np.float64) for _, f in chunks()])
    boxes, crop_boxes, _ = boxes_by_shot(raw, np.zeros(len(raw), np.int64))
    lms = []
    for s, f in chunks():
        lm = np.asarray(landmarker(f, boxes[s:s + len(f)]), np.float64)
        lms.append(lm)
        if per_chunk is not None:
            per_chunk(s, f, crop_boxes[s:s + len(f)], lm)
    return boxes, crop_boxes, np.concatenate(lms)
