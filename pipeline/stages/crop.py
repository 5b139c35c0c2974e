"""Crop stage: the square face crop the model trains on, its inverse box, and both lip masks.

From the face boxes (source px) it makes square crop boxes expanded by ``margin`` and smoothed
over ``smooth_window`` frames (:func:`lipforge.pipeline.faces.crop_boxes_from_faces`), crops the working
frames to ``crop_size`` and replaces ``item.frames`` by the crops (``frames_are_crop`` True).
Stored: ``crop_boxes.npy`` (source px, inverts the crop at inference), ``landmarks_crop.npy``,
and the two mask rectangles in crop pixels, ``mask_adaptive.npy`` (SayAnything) and
``mask_keysync.npy`` (KeySync); :func:`lipforge.pipeline.faces.render_masks` rasterises them. The
landmark and mask arrays need ``landmarks.npy`` (the ``landmarks`` stage); without it only the
crop and its boxes are made.

>>> CropStage(CropStage.Config(crop_size=512)).config.crop_size
512
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipforge.pipeline.faces.recipe import CropRecipe
from lipforge.pipeline.stages.base import ClipItem, Stage, StageConfig


@dataclass(frozen=True)
class CropConfig(StageConfig, CropRecipe):
    """The crop recipe (:class:`~lipforge.pipeline.faces.recipe.CropRecipe`) plus the stage's resources."""

    def __post_init__(self) -> None:
        StageConfig.__post_init__(self)
        self.validate_recipe()


class CropStage(Stage):
    """Square face crops, crop boxes, crop-space landmarks and mask rectangles per clip."""

    name = "crop"
    Config = CropConfig
    MEASURES = ()  # no verdict and no manifest column: only shard arrays (see lipforge.pipeline.stages.rejudge)

    def process(self, items: list[ClipItem]) -> list[ClipItem]:
        from lipforge.pipeline.faces.crop import crop_boxes_from_faces, crop_frames, points_to_crop
        from lipforge.pipeline.faces.masks import adaptive_mask_rects, keysync_mask_rects

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
            lm = item.arrays.get("landmarks.npy")
            mats = None
            if c.align == "similarity":  # rotate + scale the landmarks' anchors onto the template
                from lipforge.pipeline.faces.align import align_matrices, apply_affine, warp_to_crop

                if lm is None:
                    raise ValueError(f"crop: clip {item.clip_id}: align 'similarity' needs landmarks; "
                                     "the 'landmarks' stage must run before 'crop'")
                mats = align_matrices(lm.astype(np.float64), size, c.margin)  # (T, 2, 3) source px -> crop px
                work = mats.copy()
                work[:, :, :2] /= item.work_scale  # working frames are source px x work_scale
                item.frames = np.stack([warp_to_crop(f, m, size) for f, m in zip(item.frames, work)])
                item.arrays["crop_affine.npy"] = mats.astype(np.float32)
            else:
                item.frames = crop_frames(item.frames, boxes * item.work_scale, size)  # (T, S, S, 3)
            item.frames_are_crop = True
            item.arrays["crop_boxes.npy"] = boxes.astype(np.float32)
            if lm is not None:
                lm_crop = (points_to_crop(lm.astype(np.float64), boxes, size) if mats is None
                           else apply_affine(mats, lm.astype(np.float64)))  # (T, 68, 2) crop px
                item.arrays["landmarks_crop.npy"] = lm_crop.astype(np.float16)
                item.arrays["mask_adaptive.npy"] = adaptive_mask_rects(
                    lm_crop, size, c.adaptive_pad, c.adaptive_alpha).astype(np.float32)
                item.arrays["mask_keysync.npy"] = keysync_mask_rects(
                    lm_crop, size, c.keysync_nose_index).astype(np.float32)
        return items
