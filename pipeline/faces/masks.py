"""Lip masks as rectangles in crop pixels, and the one function that renders them.

Rectangles (x0 y0 x1 y1, crop pixels) are what the shards store; :func:`render_masks` turns
them into pixel masks for training and inference, so both rasterise identically.

* SayAnything's adaptive mask (:func:`adaptive_mask_rects`): the lower face from the landmarks
  (jaw points 2..14 across, mid-nose point 29 down to the chin), padded by ``pad`` of its size to
  cover the lips' range of motion and the lower-face muscles, then smoothed over time with
  x'_t = a x_t + (1 - a) x_{t+1}, a = 0.75 (:func:`smooth_forward`). Rectangular, so the mask's
  shape leaks nothing about the lips.
* KeySync's leakage-proof mask (:func:`keysync_mask_rects`): from the leftmost to the rightmost
  of the 68 landmarks, from the height of the nose down to the bottom edge of the crop. The
  paper names landmark 28 in the iBUG scheme, whose numbering is 1-based: that is the top of
  the nose bridge, index 27 in lipforge's 0-based arrays (the default ``nose_index``).

Landmark indices here are 0-based (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67).

>>> import numpy as np
>>> render_masks(np.array([[1., 0., 3., 2.]]), 4)[0].astype(int).tolist()
[[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
"""
from __future__ import annotations

import numpy as np

KEYSYNC_NOSE_INDEX = 27  # iBUG point 28 (1-based): top of the nose bridge
ADAPTIVE_ALPHA = 0.75


def smooth_forward(x: np.ndarray, alpha: float = ADAPTIVE_ALPHA) -> np.ndarray:
    """x'_t = alpha x_t + (1 - alpha) x_{t+1} along axis 0; the last frame is kept as is."""
    x = np.asarray(x, np.float64)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"smooth_forward: alpha must be in [0, 1], got {alpha}")
    out = x.copy()
    out[:-1] = alpha * x[:-1] + (1.0 - alpha) * x[1:]
    return out


def _clip_rects(r: np.ndarray, size: int) -> np.ndarray:
    return np.clip(r, 0.0, float(size))


def adaptive_mask_rects(landmarks: np.ndarray, size: int, pad: float = 0.1,
                        alpha: float = ADAPTIVE_ALPHA) -> np.ndarray:
    """SayAnything's adaptive mask ``(T, 4)`` from crop-pixel landmarks ``(T, 68, 2)``."""
    lm = np.asarray(landmarks, np.float64)
    jaw = lm[:, 2:15]  # (T, 13, 2) lower jaw, ear level down to the chin
    x0, x1 = jaw[..., 0].min(1), jaw[..., 0].max(1)
    y0, y1 = lm[:, 29, 1], np.maximum(jaw[..., 1].max(1), lm[:, 57, 1])
    w, h = x1 - x0, y1 - y0
    rects = np.stack([x0 - pad * w, y0 - pad * h, x1 + pad * w, y1 + pad * h], axis=-1)
    return smooth_forward(_clip_rects(rects, size), alpha)


def keysync_mask_rects(landmarks: np.ndarray, size: int, nose_index: int = KEYSYNC_NOSE_INDEX) -> np.ndarray:
    """KeySync's leakage-proof mask ``(T, 4)``: landmark x extent, nose height to the bottom edge."""
    lm = np.asarray(landmarks, np.float64)
    x0, x1 = lm[..., 0].min(1), lm[..., 0].max(1)
    y0 = lm[:, nose_index, 1]
    rects = np.stack([x0, y0, x1, np.full_like(y0, float(size))], axis=-1)
    return _clip_rects(rects, size)


def render_masks(rects: np.ndarray, size: int) -> np.ndarray:
    """Rectangles ``(T, 4)`` in crop pixels -> pixel masks ``(T, size, size)`` float32 in {0, 1}.

    Pixel (row i, col j) is inside when its centre (j + 0.5, i + 0.5) lies in [x0, x1) x [y0, y1).
    """
    r = np.asarray(rects, np.float64).reshape(-1, 4)
    c = np.arange(size) + 0.5
    inx = (c[None, :] >= r[:, 0:1]) & (c[None, :] < r[:, 2:3])  # (T, size)
    iny = (c[None, :] >= r[:, 1:2]) & (c[None, :] < r[:, 3:4])  # (T, size)
    return (iny[:, :, None] & inx[:, None, :]).astype(np.float32)
