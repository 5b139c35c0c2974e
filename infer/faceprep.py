"""Face preparation for inference: boxes, landmarks, smoothed square crops and mask rectangles.

Everything geometric goes through :mod:`lipforge.pipeline.faces`, the pure functions curation's face,
landmark and crop stages use (same detector default, gap filling, crop margin and smoothing,
SayAnything adaptive mask, mask rasterisation), so a face is cropped and masked at inference
exactly as in the training shards.

>>> track = prepare_faces(frames, crop_size=64)   # doctest: +SKIP
>>> track.crop_boxes.shape, track.mask_rects.shape   # doctest: +SKIP
((T, 4), (T, 4))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipforge.errors import UserError
from lipforge.pipeline.faces.recipe import CropRecipe

# Inference crops and masks a face exactly as curation's crop stage does by default.
_CURATION_CROP = CropRecipe()
CROP_MARGIN = _CURATION_CROP.margin
CROP_SMOOTH_WINDOW = _CURATION_CROP.smooth_window
ADAPTIVE_PAD = _CURATION_CROP.adaptive_pad


class NoFaceError(UserError, RuntimeError):
    """No face was found in the source video (a per-job error, never a crash of a batch)."""


@dataclass
class FaceTrack:
    boxes: np.ndarray  # (T, 4) face boxes x0 y0 x1 y1, frame px, lipforge convention
    landmarks: np.ndarray  # (T, 68, 2) frame px
    crop_boxes: np.ndarray  # (T, 4) square crop boxes, frame px, smoothed
    mask_rects: np.ndarray  # (T, 4) mask rectangle in crop px
    crop_size: int

    def to_npz(self) -> dict[str, np.ndarray]:
        return {"boxes": self.boxes, "landmarks": self.landmarks, "crop_boxes": self.crop_boxes,
                "mask_rects": self.mask_rects, "crop_size": np.array(self.crop_size)}

    @classmethod
    def from_npz(cls, d) -> "FaceTrack":
        return cls(d["boxes"], d["landmarks"], d["crop_boxes"], d["mask_rects"], int(d["crop_size"]))

    def take(self, idx: np.ndarray) -> "FaceTrack":
        """The track at source frame indices ``idx`` (for the length rules)."""
        return FaceTrack(self.boxes[idx], self.landmarks[idx], self.crop_boxes[idx], self.mask_rects[idx],
                         self.crop_size)


def render_mask_images(mask_rects: np.ndarray, size: int) -> np.ndarray:
    """(T, 4) rectangles in crop px -> (T, size, size) float32 masks (1 = region to generate)."""
    from lipforge.pipeline.faces.masks import render_masks

    return render_masks(mask_rects, size)


def fill_gaps(boxes: np.ndarray) -> np.ndarray:
    """Interpolate NaN rows between detections, hold them at the ends (inference keeps every frame)."""
    ok = np.flatnonzero(np.isfinite(boxes).all(1))
    if len(ok) == 0:
        raise NoFaceError("no face detected in any frame of the source video")
    t = np.arange(len(boxes))
    return np.stack([np.interp(t, ok, boxes[ok, c]) for c in range(4)], 1)


def prepare_faces(frames: np.ndarray, crop_size: int, detector=None, landmarker=None,
                  detect_every: int = 1, recipe=None) -> FaceTrack:
    """Detect, fill gaps, landmark, crop and mask one source video (T, H, W, 3).

    Raises :class:`NoFaceError` when no frame has a face. Unlike curation, inference cannot
    drop frames: the whole video is one track and gaps of any length are filled. ``recipe``
    (:class:`lipforge.infer.recipe.Recipe`, a trained model's) sets the crop margin, smoothing and
    mask type; without it curation's default crop and the adaptive mask.
    """
    from lipforge.pipeline.faces.crop import crop_boxes_from_faces, points_to_crop
    from lipforge.pipeline.faces.detectors import DlibHogDetector
    from lipforge.pipeline.faces.landmarks import DlibLandmarker
    from lipforge.pipeline.faces.masks import adaptive_mask_rects
    from lipforge.pipeline.faces.tracks import sample_indices, scatter_samples

    detector = detector or DlibHogDetector()
    landmarker = landmarker or DlibLandmarker()
    n = len(frames)
    idx = sample_indices(n, detect_every)
    boxes = fill_gaps(scatter_samples(idx, detector(frames[idx]), n))
    lm = np.asarray(landmarker(frames, boxes), np.float64)  # (T, 68, 2)
    crop = recipe.crop_config() if recipe is not None else _CURATION_CROP
    crop_boxes = crop_boxes_from_faces(boxes, crop.margin, crop.smooth_window)
    lm_crop = points_to_crop(lm, crop_boxes, crop_size)
    rects = recipe.mask_rects(lm_crop, crop_size) if recipe is not None else \
        adaptive_mask_rects(lm_crop, crop_size, ADAPTIVE_PAD)
    return FaceTrack(boxes, lm, crop_boxes, np.asarray(rects, np.float64), crop_size)
