"""The face-crop recipe: one set of numbers for how a face becomes the model's square crop and
lip mask. Curation's crop stage is configured by it (its config *is* a recipe plus resources),
inference prepares faces from it, and an exported model carries the one it was trained on.

>>> CropRecipe(margin=0.3).crop_size
320
"""
from __future__ import annotations

from dataclasses import dataclass

CROP_SIZES = (256, 320, 512)
ALIGN_MODES = ("box", "similarity")  # box: square around the face box; similarity: pipeline.faces.align


@dataclass(frozen=True)
class CropRecipe:
    crop_size: int = 320  # training resolution (SayAnything: 320)
    margin: float = 0.25  # crop side = (1 + 2 margin) x the face box's larger side
    smooth_window: int = 7  # frames of the centred moving average of the crop box (odd)
    adaptive_pad: float = 0.1  # SayAnything mask padding, fraction of the rectangle's size
    adaptive_alpha: float = 0.75  # x'_t = a x_t + (1 - a) x_{t+1}
    keysync_nose_index: int = 27  # 0-based; iBUG point 28 (1-based) = top of the nose bridge
    align: str = "box"  # "similarity": rotate + scale the 68 landmarks' anchors onto a template

    def __post_init__(self) -> None:
        self.validate_recipe()

    def validate_recipe(self) -> None:
        n = type(self).__qualname__
        if self.crop_size not in CROP_SIZES:
            raise ValueError(f"{n}.crop_size must be one of {CROP_SIZES}, got {self.crop_size}")
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"{n}.margin must be in [0, 2], got {self.margin}")
        if self.smooth_window < 1 or self.smooth_window % 2 == 0:
            raise ValueError(f"{n}.smooth_window must be an odd number >= 1, got {self.smooth_window}")
        if not 0.0 <= self.adaptive_pad <= 1.0:
            raise ValueError(f"{n}.adaptive_pad must be in [0, 1], got {self.adaptive_pad}")
        if not 0.0 <= self.adaptive_alpha <= 1.0:
            raise ValueError(f"{n}.adaptive_alpha must be in [0, 1], got {self.adaptive_alpha}")
        if self.align not in ALIGN_MODES:
            raise ValueError(f"{n}.align must be one of {ALIGN_MODES}, got {self.align!r}")
        if not 0 <= self.keysync_nose_index < 68:
            raise ValueError(f"{n}.keysync_nose_index must be in [0, 68), got {self.keysync_nose_index}")

    def recipe(self) -> "CropRecipe":
        """Just the recipe fields (a stage config that is also a recipe drops its resources)."""
        import dataclasses

        return CropRecipe(**{f.name: getattr(self, f.name) for f in dataclasses.fields(CropRecipe)})
