"""Landmarks stage: 68-point landmarks per frame on the face track's boxes.

Runs after ``faces`` on the working frames, with each frame's face box (no second detection),
and stores ``landmarks.npy`` (T, 68, 2) float16 in source pixels. Backends: ``dlib``
(shape_predictor_68 from face-recognition-models, the offline default) and ``face_alignment``
(FAN from a local weights file; the package itself would download).

>>> stage = LandmarksStage(LandmarksStage.Config(backend="dlib"))
>>> stage.name
'landmarks'
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipforge.pipeline.stages.base import ClipItem, Stage, StageConfig

BACKENDS = ("dlib", "face_alignment")


@dataclass(frozen=True)
class LandmarksConfig(StageConfig):
    backend: str = "dlib"  # dlib | face_alignment
    fan_weights: str = ""  # face_alignment: FAN state dict, relative to models_dir unless absolute
    fan_modules: int = 4  # hourglass modules of the FAN the weights belong to (2D FAN-4: 4)
    fan_flip: bool = False  # average with the mirrored image (2x the cost, a little steadier)
    fan_batch: int = 8
    models_dir: str | None = None  # the runner copies RunConfig.models_dir here
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backend not in BACKENDS:
            raise ValueError(f"LandmarksConfig.backend must be one of {BACKENDS}, got {self.backend!r}")
        if not 1 <= self.fan_modules <= 4:
            raise ValueError(f"LandmarksConfig.fan_modules must be in [1, 4], got {self.fan_modules}")
        if self.fan_batch < 1:
            raise ValueError(f"LandmarksConfig.fan_batch must be >= 1, got {self.fan_batch}")


class LandmarksStage(Stage):
    """68 landmarks per frame in source pixels; see the module docstring."""

    name = "landmarks"
    Config = LandmarksConfig
    MEASURES = ("landmark_backend",)  # no verdict; cleared when an earlier stage now drops a clip (rejudge)

    def __init__(self, config: LandmarksConfig | None = None) -> None:
        super().__init__(config)
        self._weights = None
        if self.config.backend == "face_alignment":
            from lipforge.pipeline.models import require_model_file as resolve_model_path
            from lipforge.pipeline.faces.landmarks import FAN_WEIGHTS_HINT

            self._weights = resolve_model_path(self.config.fan_weights, self.config.models_dir,
                                               "stages.landmarks (face_alignment)", FAN_WEIGHTS_HINT)
        self.landmarker = None

    def setup(self) -> None:
        from lipforge.pipeline.faces.landmarks import DlibLandmarker, FanLandmarker

        c = self.config
        if c.backend == "dlib":
            self.landmarker = DlibLandmarker()
        else:
            self.landmarker = FanLandmarker(self._weights, num_modules=c.fan_modules, device=c.device,
                                            batch_size=c.fan_batch, flip_input=c.fan_flip)

    def process(self, items: list[ClipItem]) -> list[ClipItem]:
        for item in items:
            boxes = item.arrays.get("face_boxes.npy")
            if boxes is None or item.frames is None:
                raise ValueError(f"landmarks: clip {item.clip_id} has no face boxes or frames; "
                                 "the 'faces' stage must run before 'landmarks'")
            s = item.work_scale
            lm = self.landmarker(item.frames, boxes.astype(np.float64) * s) / s  # (T, 68, 2) source px
            item.arrays["landmarks.npy"] = lm.astype(np.float16)
            item.measurements["landmark_backend"] = self.config.backend
        return items
