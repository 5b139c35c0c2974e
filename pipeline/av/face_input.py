"""Face crops as the reference AV models were fed, derived from our face track.

SyncNet's and Light-ASD's reference pipelines crop every frame around the detector box with a
40 % margin (``cs = 0.4``): a square of side ``2.8 * bs`` (``bs`` = half the larger box side)
centred horizontally on the box and shifted down by ``0.4 * bs`` so mouth and chin are in. SyncNet
sees that square at 224 px (colour, BGR order); Light-ASD resizes it to 224 and keeps the central
112 px in grayscale. We rebuild the detector box from the 68 landmarks in crop pixels (brows to
chin, jaw to jaw: close to an S3FD box), median-smoothed over time as their pipeline smooths boxes.
When no landmarks exist the whole frame is taken as that reference square (documented fallback).
"""
from __future__ import annotations

import numpy as np


def boxes_from_landmarks(landmarks: np.ndarray, smooth: int = 13) -> np.ndarray:
    """(T, 68, 2) landmarks -> (T, 4) x0 y0 x1 y1 boxes, each coordinate median-filtered over time."""
    from scipy.ndimage import median_filter

    lm = np.asarray(landmarks, np.float32)
    boxes = np.concatenate([lm.min(axis=1), lm.max(axis=1)], axis=1)  # (T, 4)
    if smooth > 1 and len(boxes) > 1:
        boxes = median_filter(boxes, size=(min(smooth, len(boxes)), 1), mode="nearest")
    return boxes


def reference_square(boxes: np.ndarray, cs: float = 0.4) -> np.ndarray:
    """(T, 4) face boxes -> (T, 4) the reference pipelines' square crop (side 2 * bs * (1 + cs))."""
    b = np.asarray(boxes, np.float32)
    bs = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) / 2
    mx, my = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    half = bs * (1 + cs)
    return np.stack([mx - half, my - bs, mx + half, my + bs * (1 + 2 * cs)], axis=1)


def cut_squares(frames: np.ndarray, squares: np.ndarray | None, size: int, pad_value: int = 110) -> np.ndarray:
    """(T, H, W, 3) uint8 + (T, 4) squares -> (T, size, size, 3) uint8 resized crops.

    ``squares`` None takes the whole frame. Out-of-frame parts are filled with ``pad_value`` as
    the reference crop code pads its frames.
    """
    import cv2

    t, h, w, _ = frames.shape
    out = np.empty((t, size, size, 3), np.uint8)
    for i in range(t):
        if squares is None:
            out[i] = cv2.resize(frames[i], (size, size), interpolation=cv2.INTER_AREA)
            continue
        x0, y0, x1, y1 = squares[i]
        side = max(x1 - x0, 1.0)
        # affine map of the square onto size x size, constant border outside the frame
        s = size / side
        m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float32)
        out[i] = cv2.warpAffine(frames[i], m, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(pad_value,) * 3)
    return out


def reference_crops(frames: np.ndarray, landmarks: np.ndarray | None, size: int) -> np.ndarray:
    """Reference-pipeline face crops (T, size, size, 3) RGB from crop frames and landmarks."""
    squares = None if landmarks is None else reference_square(boxes_from_landmarks(landmarks))
    return cut_squares(frames, squares, size)


def to_gray(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) RGB uint8 -> (T, H, W) uint8 with OpenCV's BT.601 weights (cv2 BGR2GRAY)."""
    f = frames.astype(np.float32)
    g = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    return np.clip(np.rint(g), 0, 255).astype(np.uint8)
