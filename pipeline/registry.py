"""The clip stages lipforge knows, in the order a run applies them.

Stages are imported lazily so that a run that disables a heavy stage never imports its
dependencies.
"""
from __future__ import annotations

import importlib

from pipeline.stage import Stage

# name -> "module:Class", in run order. Stages plug in here.
STAGES: dict[str, str] = {
    "speech": "pipeline.stages.speech:SpeechStage",  # audio only and cheap: before any pixel work
    "faces": "pipeline.stages.faces:FaceDetectStage",
    "landmarks": "pipeline.stages.landmarks:LandmarksStage",
    "crop": "pipeline.stages.crop:CropStage",
    "quality": "pipeline.stages.quality:QualityStage",
    "asd": "pipeline.stages.asd:ActiveSpeakerStage",
    "sync": "pipeline.stages.sync:SyncStage",
}


def stage_classes() -> dict[str, type[Stage]]:
    out = {}
    for name, ref in STAGES.items():
        mod, cls = ref.split(":")
        out[name] = getattr(importlib.import_module(mod), cls)
    return out
