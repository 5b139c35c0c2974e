"""A minimal stand-in for the face/crop stages, for tests, benchmarks and ad-hoc checks.

It reads a video, finds the largest face every few frames, interpolates the box, cuts a square
crop around it and places 68 landmarks in crop pixels: the same inputs (``frames_are_crop``,
``landmarks_crop.npy``) the real crop stage hands to the quality / ASD / sync stages. Not used by
a curation run. Detection, landmarks and cropping are :mod:`lipforge.pipeline.faces`' own functions
(one implementation, so these checks see faces prepared as curation prepares them); this
module only adds the streaming loop over a video file.

Boxes taken and returned by :func:`detect_face_box` and :func:`landmarks_68` are in dlib's
detector convention (what the shape predictor was trained on), as before.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


@functools.lru_cache(maxsize=4)
def _detector(max_side: int):
    from lipforge.pipeline.faces.detectors import DlibHogDetector

    return DlibHogDetector(max_side=max_side, upsample=1)


@functools.lru_cache(maxsize=1)
def _landmarker():
    from lipforge.pipeline.faces.landmarks import DlibLandmarker

    return DlibLandmarker()


def detect_face_box(frame: np.ndarray, max_side: int = 480) -> tuple[float, float, float, float] | None:
    """Largest face in an RGB frame (searched at <= max_side px) as x0 y0 x1 y1 dlib-convention pixels."""
    from lipforge.pipeline.faces.boxes import DLIB_HOG_CALIBRATION, uncalibrate_boxes

    det = _detector(max_side)
    b = det(frame[None])[0]  # (4,) lipforge convention, NaN when no face
    if not np.isfinite(b).all():
        return None
    return tuple(float(v) for v in uncalibrate_boxes(b[None], DLIB_HOG_CALIBRATION)[0])


def landmarks_68(images: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """(T, H, W, 3) RGB images with a face near ``box`` (dlib convention) -> (T, 68, 2) float16."""
    from lipforge.pipeline.faces.boxes import DLIB_HOG_CALIBRATION, calibrate_boxes

    boxes = calibrate_boxes(np.tile(np.asarray(box, np.float64), (len(images), 1)), DLIB_HOG_CALIBRATION)
    return _landmarker()(images, boxes).astype(np.float16)


def square_around(box, margin: float = 1.6) -> tuple[float, float, float, float]:
    """Square of ``margin`` times the box's larger side, same centre (``margin`` is a side factor)."""
    from lipforge.pipeline.faces.crop import crop_boxes_from_faces

    sq = crop_boxes_from_faces(np.asarray(box, np.float64)[None], margin=(margin - 1.0) / 2.0, smooth_window=1)
    return tuple(float(v) for v in sq[0])


def crop_square(frame: np.ndarray, square, size: int) -> np.ndarray:
    """One frame cut to the square (frame pixels) and resized to ``size`` (replicated borders)."""
    from lipforge.pipeline.faces.crop import crop_frames

    return crop_frames(frame[None], np.asarray(square, np.float64)[None], size)[0]


def load_face_clip(path: str | Path, size: int = 160, max_frames: int | None = None, detect_every: int = 10,
                   margin: float = 1.6) -> tuple[np.ndarray, np.ndarray]:
    """Video file -> (crops (T, size, size, 3) uint8 RGB, landmarks_crop (T, 68, 2) float16).

    Decodes frame by frame (a 1080x1920 clip never sits in memory whole), detects every
    ``detect_every`` frames and linearly interpolates the square between detections.
    """
    import av

    from lipforge.pipeline.media import display_quarter_turns

    frames_small, keys = [], {}
    with av.open(str(path)) as c:
        raw = []
        for i, f in enumerate(c.decode(video=0)):
            if max_frames is not None and i >= max_frames:
                break
            img = f.to_ndarray(format="rgb24")
            if display_quarter_turns(f):
                img = np.ascontiguousarray(np.rot90(img, display_quarter_turns(f)))
            if i % detect_every == 0:
                b = detect_face_box(img)
                if b is not None:
                    keys[i] = square_around(b, margin)
            raw.append(img)
            if len(raw) >= 2 * detect_every:  # crop what lies before the last detection
                frames_small += _flush(raw, len(frames_small), keys, size, keep=detect_every)
        frames_small += _flush(raw, len(frames_small), keys, size, keep=0)
    crops = np.stack(frames_small)
    # the face box inside the crop: the square was margin x the box side, centred on it
    inner = size / margin
    box = ((size - inner) / 2, (size - inner) / 2, (size + inner) / 2, (size + inner) / 2)
    return crops, landmarks_68(crops, box)


def _interp_square(keys: dict, i: int):
    if not keys:
        raise RuntimeError("no face found in the video")
    ks = sorted(keys)
    arr = np.array([keys[k] for k in ks], np.float64)
    return tuple(np.interp(i, ks, arr[:, j]) for j in range(4))


def _flush(raw: list, start: int, keys: dict, size: int, keep: int) -> list:
    n = len(raw) - keep
    out = [crop_square(raw[j], _interp_square(keys, start + j), size) for j in range(n)]
    del raw[:n]
    return out
