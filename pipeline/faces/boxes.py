"""Face boxes in one convention, whatever detector produced them.

lipforge's face box runs **from the forehead to the chin** (as YOLO face models trained on WIDER
FACE draw them): x from the leftmost to the rightmost jaw landmark, y from a point above the
eyebrows (``FOREHEAD_FRAC`` of the brow-to-chin height) down to the chin. The 228 px rule is
applied to the height of this box, so it means the same for every backend.

dlib's HOG detector draws a tighter, square box: measured on the real fixtures (obama.jpg,
biden.jpg, the astronaut photo and five frames of talking_en_1080x1920_25fps.mp4), the 68-point
landmark extent starts 0.143 h below its top edge (std 0.056) and the chin lies 0.054 h below
its bottom edge (std 0.039); the jaw is inset 0.06 w on the left and 0.056 w on the right.
:data:`DLIB_HOG_CALIBRATION` maps a dlib box onto the convention, about 1.18 times taller
(a 216 px dlib box is a 256 px lipforge box). Per face the error depends on head pose (up to
about 15 % of the height on a turned head) and on the face's size in the detector's pixels (the
HOG box steps with the pyramid level, see ``benchmarks/dlib_box_scale.py``), so by default the
dlib detector uses the calibrated box only to seed the landmarks and returns the box they define
(:class:`lipforge.pipeline.faces.detectors.DlibHogDetector`, ``refine``); the landmark models get
boxes back in dlib's convention through :func:`uncalibrate_boxes`.

Boxes are float arrays ``(..., 4)`` of x0 y0 x1 y1 (exclusive right/bottom edges).

>>> import numpy as np
>>> calibrate_boxes(np.array([[100., 100., 200., 200.]]), DLIB_HOG_CALIBRATION).round(1).tolist()
[[106.0, 87.0, 194.4, 205.4]]
"""
from __future__ import annotations

import numpy as np

# Forehead above the brows, as a fraction of the brow-to-chin height (the top of the box).
FOREHEAD_FRAC = 0.3

# Per-edge offsets (dx0/w, dy0/h, dx1/w, dy1/h) taking a detector's box to the convention.
IDENTITY_CALIBRATION = (0.0, 0.0, 0.0, 0.0)
# brow top = y0 + 0.143 h; chin = y1 + 0.054 h; landmark height 0.911 h;
# forehead top = brow top - FOREHEAD_FRAC * 0.911 h = y0 - 0.130 h.
DLIB_HOG_CALIBRATION = (0.060, -0.130, -0.056, 0.054)


def calibrate_boxes(boxes: np.ndarray, calib: tuple[float, float, float, float]) -> np.ndarray:
    """Move each edge by a fraction of the box size: detector box -> lipforge convention."""
    b = np.asarray(boxes, np.float64)
    w = (b[..., 2] - b[..., 0])[..., None]
    h = (b[..., 3] - b[..., 1])[..., None]
    scale = np.concatenate([w, h, w, h], axis=-1)
    return b + np.asarray(calib, np.float64) * scale


def uncalibrate_boxes(boxes: np.ndarray, calib: tuple[float, float, float, float]) -> np.ndarray:
    """Inverse of :func:`calibrate_boxes` (lipforge box -> the detector's own convention).

    Landmark models were trained on their detector's boxes (dlib's predictor on dlib boxes), so
    they get the box back in that convention.
    """
    b = np.asarray(boxes, np.float64)
    dx0, dy0, dx1, dy1 = calib
    # x0' = x0 + dx0 w, x1' = x1 + dx1 w  =>  w' = w (1 + dx1 - dx0)
    w = (b[..., 2] - b[..., 0]) / (1.0 + dx1 - dx0)
    h = (b[..., 3] - b[..., 1]) / (1.0 + dy1 - dy0)
    return np.stack([b[..., 0] - dx0 * w, b[..., 1] - dy0 * h, b[..., 2] - dx1 * w, b[..., 3] - dy1 * h], axis=-1)


def box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """The convention's box from 68 landmarks ``(..., 68, 2)``: jaw width, forehead to chin."""
    lm = np.asarray(landmarks, np.float64)
    x0, y_top = lm[..., 0].min(-1), lm[..., 1].min(-1)
    x1, y1 = lm[..., 0].max(-1), lm[..., 1].max(-1)
    y0 = y_top - FOREHEAD_FRAC * (y1 - y_top)
    return np.stack([x0, y0, x1, y1], axis=-1)


def box_height(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float64)
    return b[..., 3] - b[..., 1]


def box_jump(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Displacement between two boxes relative to their size.

    The largest move of any edge divided by the mean height of the two boxes: a face that moves
    a tenth of its height gives 0.1; switching to another person usually gives > 0.5.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    size = 0.5 * (box_height(a) + box_height(b))
    return np.abs(a - b).max(-1) / np.maximum(size, 1e-6)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def largest_box(boxes: np.ndarray) -> np.ndarray | None:
    """The largest box (by area) of one frame's detections ``(N, 4)``; None when N == 0."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(b) == 0:
        return None
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return b[int(np.argmax(area))]
