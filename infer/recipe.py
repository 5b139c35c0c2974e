"""The recipe: what inference needs to prepare its inputs exactly as training saw them.

A model is only half of what makes a lip-sync result: the face crop (margin, smoothing), the
lip mask (SayAnything's adaptive mask or KeySync's, its padding), the audio window, the frame
count, fps and sample rate must be the ones the model was trained with, and the noise scheduler
the one whose sigmas it learned. ``lipforge train --export`` writes them next to the weights:

    export/
      lipsync_config.json  unet/ vae/ whisper/ id_guider/ audio_proj/   (LipSyncModel)
      scheduler/scheduler_config.json                                      (EDMScheduler)
      recipe.json                                                          (this module)

and :meth:`lipforge.infer.pipeline.LipSyncPipeline.from_pretrained` reads all three or fails
naming the missing file or the mismatched field; there is no silent default.

>>> r = Recipe(mask_type="mask_keysync", crop={"margin": 0.3}, num_frames=16, resolution=320,
...            audio_context_k=2, audio_features_per_frame=2)
>>> r.crop_config().margin, r.crop_config().smooth_window
(0.3, 7)
>>> Recipe.from_dict(r.to_dict()) == r
True
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RECIPE_NAME = "recipe.json"
RECIPE_VERSION = 1
MASK_TYPES = ("mask_adaptive", "mask_keysync")
FPS = 25  # lipforge normalizes every video to 25 fps ...
SAMPLE_RATE = 16000  # ... and every audio track to 16 kHz mono (pipeline.stages.config.SegmentConfig)

# The face-crop recipe's fields (lipforge.pipeline.faces.recipe.CropRecipe): crop side, margin,
# smoothing, mask padding. Inference crops at the model's resolution with the same geometry.
CROP_FIELDS = ("crop_size", "margin", "smooth_window", "adaptive_pad", "adaptive_alpha", "keysync_nose_index",
               "align")
# fields a recipe saved before they existed may lack, with the value every such export had
CROP_FIELDS_ADDED = {"align": "box"}


class RecipeError(ValueError):
    """An export's recipe is missing, malformed or disagrees with the model it sits next to."""


@dataclass(frozen=True)
class Recipe:
    """Input preparation of a trained model (saved form: ``recipe.json``).

    ``crop`` holds curation's crop-stage fields (:data:`CROP_FIELDS`); absent fields take the
    crop stage's defaults, and ``crop_source`` says where the values came from (the corpus's
    ``run_config.yaml`` or the defaults), so a reader can judge them.
    """

    mask_type: str
    num_frames: int
    resolution: int
    audio_context_k: int
    audio_features_per_frame: int
    crop: dict[str, Any] = field(default_factory=dict)
    crop_source: str = "defaults"
    fps: int = FPS
    sample_rate: int = SAMPLE_RATE
    recipe_version: int = RECIPE_VERSION

    def __post_init__(self) -> None:
        if self.mask_type not in MASK_TYPES:
            raise RecipeError(f"Recipe.mask_type must be one of {MASK_TYPES}, got {self.mask_type!r}")
        unknown = sorted(set(self.crop) - set(CROP_FIELDS))
        if unknown:
            raise RecipeError(f"Recipe.crop: unknown fields {unknown}; known: {list(CROP_FIELDS)}")
        if self.fps != FPS:
            raise RecipeError(f"Recipe.fps: lipforge runs at {FPS} fps, the recipe says {self.fps}")
        if self.sample_rate != SAMPLE_RATE:
            raise RecipeError(f"Recipe.sample_rate: lipforge runs at {SAMPLE_RATE} Hz, the recipe says {self.sample_rate}")
        if self.recipe_version != RECIPE_VERSION:
            raise RecipeError(f"Recipe.recipe_version {self.recipe_version} is not the supported {RECIPE_VERSION}")
        c = self.crop_config()  # validates the crop values (names the field and value)
        object.__setattr__(self, "crop", {k: getattr(c, k) for k in CROP_FIELDS})  # saved in full

    # ---- the face recipe --------------------------------------------------------------------
    def crop_config(self):
        """The face-crop recipe (:class:`lipforge.pipeline.faces.recipe.CropRecipe`) curation used."""
        from lipforge.pipeline.faces.recipe import CropRecipe

        try:
            return CropRecipe(**self.crop)
        except ValueError as e:
            raise RecipeError(f"Recipe.crop: {e}") from e

    def mask_rects(self, landmarks_crop: np.ndarray, size: int) -> np.ndarray:
        """Crop-pixel landmarks (T, 68, 2) -> the trained mask's rectangles (T, 4) in crop px."""
        from lipforge.pipeline.faces.masks import adaptive_mask_rects, keysync_mask_rects

        c = self.crop_config()
        if self.mask_type == "mask_keysync":
            return keysync_mask_rects(landmarks_crop, size, c.keysync_nose_index)
        return adaptive_mask_rects(landmarks_crop, size, c.adaptive_pad, c.adaptive_alpha)

    def face_tag(self) -> str:
        """Short digest of everything that shapes a face track (cache keys of prepared faces)."""
        c = dataclasses.asdict(self.crop_config())
        key = json.dumps({"mask": self.mask_type, **{k: c[k] for k in CROP_FIELDS if k != "crop_size"}},
                         sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    # ---- agreement with the model -------------------------------------------------------------
    def check_model(self, model_config, where: str = "recipe") -> None:
        """Fail naming the field when the model's own config disagrees with the recipe."""
        for name in ("num_frames", "resolution", "audio_context_k", "audio_features_per_frame"):
            want, got = getattr(self, name), getattr(model_config, name)
            if want != got:
                raise RecipeError(f"{where}: {name}={want} but the model's lipsync_config.json says {got}: "
                                  "the export is inconsistent (re-export it with lipforge train --export)")

    # ---- saved form -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "recipe") -> "Recipe":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise RecipeError(f"{where}: unknown fields {unknown}")
        if isinstance(d.get("crop"), dict):  # older exports: only box crops existed
            d = {**d, "crop": {**CROP_FIELDS_ADDED, **d["crop"]}}
        required = [f.name for f in dataclasses.fields(cls)]  # a saved recipe is complete: no silent default
        missing = [n for n in required if n not in d] + [f"crop.{k}" for k in CROP_FIELDS
                                                           if k not in (d.get("crop") or {})]
        if missing:
            raise RecipeError(f"{where}: missing fields {missing}")
        try:
            return cls(**d)
        except TypeError as e:
            raise RecipeError(f"{where}: {e}") from e

    def save(self, directory: str | Path) -> Path:
        p = Path(directory) / RECIPE_NAME
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, directory: str | Path) -> "Recipe":
        p = Path(directory) / RECIPE_NAME
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing (an export carries its input recipe: mask, crop, audio window; "
                                    "write it with `lipforge train --config train.yaml --export DIR`)")
        try:
            d = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise RecipeError(f"{p}: not valid JSON ({e})") from e
        return cls.from_dict(d, where=str(p))

    @classmethod
    def default_for(cls, model_config, mask_type: str = "mask_adaptive") -> "Recipe":
        """The recipe of a model built in code (tests, a pipeline constructed by hand): curation's
        default crop and the given mask. ``from_pretrained`` never falls back to this."""
        return cls(mask_type=mask_type, num_frames=model_config.num_frames, resolution=model_config.resolution,
                   audio_context_k=model_config.audio_context_k,
                   audio_features_per_frame=model_config.audio_features_per_frame)
