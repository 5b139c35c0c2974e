"""The clip stages lipforge knows, in the order a run applies them.

Stages are imported lazily so that a run that disables a heavy stage never imports its
dependencies.
"""
from __future__ import annotations

import importlib

from lipforge.pipeline.stages.base import Stage

# name -> "module:Class", in run order. Stages plug in here.
STAGES: dict[str, str] = {
    "speech": "lipforge.pipeline.stages.speech:SpeechStage",  # audio only and cheap: before any pixel work
    "faces": "lipforge.pipeline.stages.faces:FaceDetectStage",
    "landmarks": "lipforge.pipeline.stages.landmarks:LandmarksStage",
    "crop": "lipforge.pipeline.stages.crop:CropStage",
    "quality": "lipforge.pipeline.stages.quality:QualityStage",
    "asd": "lipforge.pipeline.stages.asd:ActiveSpeakerStage",
    "sync": "lipforge.pipeline.stages.sync:SyncStage",
}


def stage_classes() -> dict[str, type[Stage]]:
    out = {}
    for name, ref in STAGES.items():
        mod, cls = ref.split(":")
        out[name] = getattr(importlib.import_module(mod), cls)
    return out
