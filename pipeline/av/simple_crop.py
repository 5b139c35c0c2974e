"""A minimal stand-in for the face/crop stages, for tests, benchmarks and ad-hoc checks.

It reads a video, finds the largest face with dlib's HOG detector on a downscaled frame every
few frames, interpolates the box, cuts a square crop around it and places dlib's 68 landmarks in
crop pixels: the same inputs (``frames_are_crop``, ``landmarks_crop.npy``) the real crop stage
hands to the quality / ASD / sync stages. Not used by a curation run.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


@functools.lru_cache(maxsize=1)
def _dlib_models():
    import dlib
    import face_recognition_models as frm

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(frm.pose_predictor_model_location())


def detect_face_box(frame: np.ndarray, max_side: int = 480) -> tuple[float, float, float, float] | None:
    """Largest HOG face in an RGB frame (searched at <= max_side px) as x0 y0 x1 y1 frame pixels."""
    import cv2

    det, _ = _dlib_models()
    s = min(1.0, max_side / max(frame.shape[:2]))
    small = cv2.resize(frame, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else frame
    rects = det(np.ascontiguousarray(small), 1)
    if not rects:
        return None
    r = max(rects, key=lambda r: r.area())
    return (r.left() / s, r.top() / s, r.right() / s, r.bottom() / s)


def landmarks_68(images: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """(T, H, W, 3) RGB images with a face near ``box`` -> (T, 68, 2) float16 dlib landmarks."""
    import dlib

    _, pred = _dlib_models()
    rect = dlib.rectangle(*[int(round(v)) for v in box])
    out = np.empty((len(images), 68, 2), np.float32)
    for i, im in enumerate(images):
        shape = pred(np.ascontiguousarray(im), rect)
        out[i] = [(p.x, p.y) for p in shape.parts()]
    return out.astype(np.float16)


def square_around(box, margin: float = 1.6) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * margin
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def crop_square(frame: np.ndarray, square, size: int) -> np.ndarray:
    import cv2

    x0, y0, x1, y1 = square
    s = size / (x1 - x0)
    m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float32)
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def load_face_clip(path: str | Path, size: int = 160, max_frames: int | None = None, detect_every: int = 10,
                   margin: float = 1.6) -> tuple[np.ndarray, np.ndarray]:
    """Video file -> (crops (T, size, size, 3) uint8 RGB, landmarks_crop (T, 68, 2) float16).

    Decodes frame by frame (a 1080x1920 clip never sits in memory whole), detects every
    ``detect_every`` frames and linearly interpolates the square between detections.
    """
    import av

    frames_small, keys = [], {}
    with av.open(str(path)) as c:
        raw = []
        for i, f in enumerate(c.decode(video=0)):
            if max_frames is not None and i >= max_frames:
                break
            img = f.to_ndarray(format="rgb24")
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
