"""Similarity alignment of a face to a template: the crop a rotated or tilted face would get upright.

The recipe's default crop (``CropRecipe.align="box"``) is an axis-aligned square around the
smoothed face box: a tilted head stays tilted in the crop. ``align="similarity"`` (as LatentSync
and the ArcFace family crop) fits, by least squares, the rotation + uniform scale + shift that
takes five anchors of the 68 landmarks (the two eye centres, the nose tip, the mouth corners)
onto a fixed template in the crop, warps the frame with it, and pastes back with its exact
inverse. Everything here is pure geometry on numpy arrays (2x3 matrices mapping frame pixels to
crop pixels, as :func:`lipforge.pipeline.faces.crop.crop_affine` does for the box crop).

>>> import numpy as np
>>> m = np.array([[0.0, -2.0, 60.0], [2.0, 0.0, -4.0]])
>>> p = np.array([[10.0, 20.0]])
>>> np.allclose(apply_affine(invert_affine(m), apply_affine(m, p)), p)
True
"""
from __future__ import annotations

import numpy as np

# ArcFace's five-point template in its 112 px crop (eye centres, nose tip, mouth corners)
_ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)
# Placed so that, at margin 0.25, the anchors sit where the box crop puts an upright face's:
# the eye-to-mouth distance 0.27 of the crop side, the anchors' centroid at (0.5, 0.55).
_EYE_MOUTH_AT_025 = 0.27
_CENTROID = np.array([0.5, 0.55])


def anchors(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) iBUG landmarks -> (..., 5, 2): left eye centre, right eye centre, nose tip,
    left and right mouth corners."""
    lm = np.asarray(landmarks, np.float64)
    return np.stack([lm[..., 36:42, :].mean(-2), lm[..., 42:48, :].mean(-2), lm[..., 30, :],
                     lm[..., 48, :], lm[..., 54, :]], axis=-2)


def template(size: int, margin: float = 0.25) -> np.ndarray:
    """(5, 2) anchor positions in a ``size`` px crop; a larger ``margin`` shows more around the face,
    as it does for the box crop (crop side proportional to 1 + 2 margin)."""
    t = _ARCFACE_112 / 112.0
    c = t.mean(0)
    eye_mouth = np.linalg.norm(t[3:].mean(0) - t[:2].mean(0))
    s = _EYE_MOUTH_AT_025 * 1.5 / (1.0 + 2.0 * margin) / eye_mouth
    return ((t - c) * s + _CENTROID) * size


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift; no reflection) taking points
    ``src`` (N, 2) onto ``dst`` (N, 2), as a 2x3 matrix (Umeyama 1991)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1.0
    r = u @ e @ vt
    var = (a ** 2).sum() / len(src)
    scale = float((d * np.diag(e)).sum() / var) if var > 0 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = mu_d - scale * r @ mu_s
    return m


def align_matrices(landmarks: np.ndarray, size: int, margin: float = 0.25) -> np.ndarray:
    """(T, 68, 2) frame-pixel landmarks -> (T, 2, 3) frame -> crop matrices onto :func:`template`."""
    dst = template(size, margin)
    return np.stack([similarity(p, dst) for p in anchors(landmarks)])


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of 2x3 affine matrices (..., 2, 3): crop -> frame for a frame -> crop one."""
    m = np.asarray(m, np.float64)
    a = m[..., :2]
    inv = np.linalg.inv(a)
    return np.concatenate([inv, -(inv @ m[..., 2:])], axis=-1)


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., N, 2) through 2x3 matrices (..., 2, 3)."""
    m, p = np.asarray(m, np.float64), np.asarray(points, np.float64)
    return p @ np.swapaxes(m[..., :2], -1, -2) + m[..., None, :, 2]


def warp_to_crop(frame: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The (size, size, 3) aligned crop of one frame (bilinear; outside the frame: edge pixels)."""
    import cv2

    return cv2.warpAffine(frame, np.asarray(m, np.float64), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def warp_from_crop(crop: np.ndarray, m: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Paste-back geometry: the crop drawn into frame pixels with the exact inverse of ``m`` (the
    frame -> crop matrix), and the (H, W) float32 footprint where the crop has pixels."""
    import cv2

    m = np.asarray(m, np.float64)
    back = cv2.warpAffine(crop, m, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.ones(crop.shape[:2], np.float32), m, (width, height),
                            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0)
    return back, inside
