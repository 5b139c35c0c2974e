"""Crop stage: the square face crop the model trains on, its inverse box, and both lip masks.

From the face boxes (source px) it makes square crop boxes expanded by ``margin`` and smoothed
over ``smooth_window`` frames (:func:`pipeline.faces.crop_boxes_from_faces`), crops the working
frames to ``crop_size`` and replaces ``item.frames`` by the crops (``frames_are_crop`` True).
Stored: ``crop_boxes.npy`` (source px, inverts the crop at inference), ``landmarks_crop.npy``,
and the two mask rectangles in crop pixels, ``mask_adaptive.npy`` (SayAnything) and
``mask_keysync.npy`` (KeySync); :func:`pipeline.faces.render_masks` rasterises them. The
landmark and mask arrays need ``landmarks.npy`` (the ``landmarks`` stage); without it only the
crop and its boxes are made.

>>> CropStage(CropStage.Config(crop_size=512)).config.crop_size
512
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.stage import ClipItem, Stage, StageConfig

CROP_SIZES = (256, 320, 512)


@dataclass(frozen=True)
class CropConfig(StageConfig):
    crop_size: int = 320  # training resolution (SayAnything: 320)
    margin: float = 0.25  # crop side = (1 + 2 margin) x the face box's larger side
    smooth_window: int = 7  # frames of the centred moving average of the crop box (odd)
    adaptive_pad: float = 0.1  # SayAnything mask padding, fraction of the rectangle's size
    adaptive_alpha: float = 0.75  # x'_t = a x_t + (1 - a) x_{t+1}
    keysync_nose_index: int = 27  # 0-based; iBUG point 28 (1-based) = top of the nose bridge

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.crop_size not in CROP_SIZES:
            raise ValueError(f"CropConfig.crop_size must be one of {CROP_SIZES}, got {self.crop_size}")
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"CropConfig.margin must be in [0, 2], got {self.margin}")
        if self.smooth_window < 1 or self.smooth_window % 2 == 0:
            raise ValueError(f"CropConfig.smooth_window must be an odd number >= 1, got {self.smooth_window}")
        if not 0.0 <= self.adaptive_pad <= 1.0:
            raise ValueError(f"CropConfig.adaptive_pad must be in [0, 1], got {self.adaptive_pad}")
        if not 0.0 <= self.adaptive_alpha <= 1.0:
            raise ValueError(f"CropConfig.adaptive_alpha must be in [0, 1], got {self.adaptive_alpha}")
        if not 0 <= self.keysync_nose_index < 68:
            raise ValueError(f"CropConfig.keysync_nose_index must be in [0, 68), got {self.keysync_nose_index}")


class CropStage(Stage):
    """Square face crops, crop boxes, crop-space landmarks and mask rectangles per clip."""

    name = "crop"
    Config = CropConfig

    def process(self, items: list[ClipItem]) -> list[ClipItem]:
        from pipeline.faces.crop import crop_boxes_from_faces, crop_frames, points_to_crop
        from pipeline.faces.masks import adaptive_mask_rects, keysync_mask_rects

        c = self.config
        size = c.crop_size
        for item in items:
            faces = item.arrays.get("face_boxes.npy")
            if faces is None or item.frames is None:
                raise ValueError(f"crop: clip {item.clip_id} has no face boxes or frames; "
                                 "the 'faces' stage must run before 'crop'")
            if item.frames_are_crop:
                raise ValueError(f"crop: clip {item.clip_id} is already cropped")
            boxes = crop_boxes_from_faces(faces, c.margin, c.smooth_window)  # (T, 4) source px
            item.frames = crop_frames(item.frames, boxes * item.work_scale, size)  # (T, S, S, 3)
            item.frames_are_crop = True
            item.arrays["crop_boxes.npy"] = boxes.astype(np.float32)
            lm = item.arrays.get("landmarks.npy")
            if lm is not None:
                lm_crop = points_to_crop(lm.astype(np.float64), boxes, size)  # (T, 68, 2) crop px
                item.arrays["landmarks_crop.npy"] = lm_crop.astype(np.float16)
                item.arrays["mask_adaptive.npy"] = adaptive_mask_rects(
                    lm_crop, size, c.adaptive_pad, c.adaptive_alpha).astype(np.float32)
                item.arrays["mask_keysync.npy"] = keysync_mask_rects(
                    lm_crop, size, c.keysync_nose_index).astype(np.float32)
        return items
