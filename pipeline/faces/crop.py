"""Square face crops and their inverse: shared by curation (crop stage) and inference (compositing).

A crop box is a square x0 y0 x1 y1 around the face box, ``1 + 2 * margin`` times its larger
side, with its coordinates smoothed over time so the crop does not shake. Cropping is an affine
warp (scale + translation) with replicated borders where the square leaves the frame, so the
same box inverts it exactly (:func:`uncrop_frames`).

>>> import numpy as np
>>> faces = np.tile([100., 100., 200., 240.], (5, 1))
>>> crop_boxes_from_faces(faces, margin=0.25, smooth_window=3)[0].tolist()
[45.0, 65.0, 255.0, 275.0]
"""
from __future__ import annotations

import numpy as np


def smooth_boxes(boxes: np.ndarray, window: int) -> np.ndarray:
    """Centered moving average of each coordinate over ``window`` frames (edges replicated).

    Linear in the coordinates, so squares stay squares. ``window`` 1 returns a copy.
    """
    b = np.asarray(boxes, np.float64)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smooth_boxes: window must be an odd number >= 1, got {window}")
    if window == 1 or len(b) < 2:
        return b.copy()
    half = window // 2
    padded = np.concatenate([np.repeat(b[:1], half, 0), b, np.repeat(b[-1:], half, 0)])  # (T + 2 half, 4)
    csum = np.cumsum(np.concatenate([np.zeros((1, b.shape[1])), padded]), axis=0)
    return (csum[window:] - csum[:-window]) / window


def crop_boxes_from_faces(face_boxes: np.ndarray, margin: float = 0.25, smooth_window: int = 7) -> np.ndarray:
    """Square crop boxes ``(T, 4)`` centred on the face boxes, expanded and smoothed."""
    f = np.asarray(face_boxes, np.float64)
    c = np.stack([(f[:, 0] + f[:, 2]) / 2, (f[:, 1] + f[:, 3]) / 2], axis=-1)  # (T, 2)
    side = np.maximum(f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]) * (1.0 + 2.0 * margin)  # (T,)
    cs = np.concatenate([c, side[:, None]], axis=-1)
    cs = smooth_boxes(cs, smooth_window) if len(cs) else cs
    half = cs[:, 2:3] / 2
    return np.concatenate([cs[:, :2] - half, cs[:, :2] + half], axis=-1)


def crop_affine(box: np.ndarray, size: int) -> np.ndarray:
    """2x3 matrix taking frame pixels to crop pixels for one square box."""
    x0, y0, x1, _ = (float(v) for v in box)
    s = size / max(x1 - x0, 1e-6)
    return np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]], np.float64)


def crop_frames(frames: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, C) frames -> (T, size, size, C) crops of the square ``boxes`` (frame pixels)."""
    import cv2

    frames = np.asarray(frames)
    out = np.empty((len(frames), size, size) + frames.shape[3:], frames.dtype)
    for i, (fr, b) in enumerate(zip(frames, boxes)):
        side = float(b[2] - b[0])
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        out[i] = cv2.warpAffine(np.ascontiguousarray(fr), crop_affine(b, size), (size, size), flags=interp,
                                borderMode=cv2.BORDER_REPLICATE)
    return out


def points_to_crop(points: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(T, N, 2) frame-pixel points -> crop pixels of the per-frame square ``boxes``."""
    p = np.asarray(points, np.float64)
    b = np.asarray(boxes, np.float64)
    s = (size / (b[:, 2] - b[:, 0]))[:, None, None]
    return (p - b[:, None, :2]) * s


def points_from_crop(points: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Inverse of :func:`points_to_crop`."""
    p = np.asarray(points, np.float64)
    b = np.asarray(boxes, np.float64)
    s = ((b[:, 2] - b[:, 0]) / size)[:, None, None]
    return p * s + b[:, None, :2]


def uncrop_frames(crops: np.ndarray, boxes: np.ndarray, frames: np.ndarray,
                  masks: np.ndarray | None = None) -> np.ndarray:
    """Composite crops ``(T, S, S, 3)`` back into copies of ``frames`` ``(T, H, W, 3)``.

    ``masks`` ``(T, S, S)`` in [0, 1] (crop pixels) blend the crop over the frame (1 = crop);
    without masks the whole crop square replaces the frame. Inference passes the dilated face
    region here so only the generated area changes.
    """
    import cv2

    crops = np.asarray(crops)
    frames = np.asarray(frames)
    size = crops.shape[1]
    out = frames.copy()
    h, w = frames.shape[1:3]
    for i in range(len(frames)):
        inv = cv2.invertAffineTransform(crop_affine(boxes[i], size))
        back = cv2.warpAffine(np.ascontiguousarray(crops[i]), inv, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        m = np.ones((size, size), np.float32) if masks is None else np.asarray(masks[i], np.float32)
        mb = cv2.warpAffine(m, inv, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
        blend = mb * back.astype(np.float32) + (1.0 - mb) * frames[i].astype(np.float32)
        out[i] = np.clip(np.rint(blend), 0, 255).astype(frames.dtype)
    return out
