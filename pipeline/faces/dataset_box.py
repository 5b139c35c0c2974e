"""A dataset's face box (CelebV-HQ, HDTF, VFHQ, MultiTalk give one per segment) against the track.

The box comes from the input list (normalized x0, y0, x1, y1 of the frame) and reaches every
clip of the source as its ``dataset_box`` measurement. These boxes are crop windows around the
face (often squared and padded), not tight face boxes, so the check is how much of the tracked
face lies inside the dataset box (``overlap``: intersection over the *face* box area, 1.0 when
the face is inside it), not an IoU. The face stage (``FaceDetectConfig``) can use it two ways,
both off by default:

* ``dataset_box_check``: drop a piece as ``face_outside_dataset_box`` when the overlap of its
  median face box is below ``dataset_box_min_overlap`` (the track followed another face);
* ``dataset_box_seed``: detect only inside the dataset box grown by ``dataset_box_margin`` of
  its size on each side, so the dataset's face is tracked even when a larger face is elsewhere
  in the frame (and detection is cheaper).

The overlap is recorded (``dataset_box_overlap``) whenever a box is given, so the threshold can
be re-tuned from the manifest.

>>> overlap(np.array([10., 10., 20., 20.]), np.array([0., 0., 15., 100.]))
0.5
"""
from __future__ import annotations

import numpy as np


def box_px(box_norm, width: int, height: int) -> np.ndarray:
    """Normalized (x0, y0, x1, y1) -> pixels of a ``width`` x ``height`` frame, (4,) float64."""
    x0, y0, x1, y1 = (float(v) for v in box_norm)
    return np.array([x0 * width, y0 * height, x1 * width, y1 * height])


def overlap(face: np.ndarray, ref: np.ndarray) -> float:
    """Share of the ``face`` box's area inside ``ref`` (both (4,) x0 y0 x1 y1), in [0, 1]."""
    iw = max(0.0, min(face[2], ref[2]) - max(face[0], ref[0]))
    ih = max(0.0, min(face[3], ref[3]) - max(face[1], ref[1]))
    area = max(1e-9, (face[2] - face[0]) * (face[3] - face[1]))
    return float(min(1.0, iw * ih / area))


def median_box(boxes: np.ndarray) -> np.ndarray:
    """(T, 4) boxes (NaN rows ignored) -> (4,) per-coordinate median."""
    return np.nanmedian(np.asarray(boxes, np.float64), axis=0)


def seed_region(box_norm, width: int, height: int, margin: float) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) of the dataset box grown by ``margin`` x its size, inside the frame."""
    b = box_px(box_norm, width, height)
    mw, mh = margin * (b[2] - b[0]), margin * (b[3] - b[1])
    x0, y0 = max(0, int(np.floor(b[0] - mw))), max(0, int(np.floor(b[1] - mh)))
    x1, y1 = min(width, int(np.ceil(b[2] + mw))), min(height, int(np.ceil(b[3] + mh)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)
