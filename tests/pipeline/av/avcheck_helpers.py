"""Constants and a ClipItem factory shared by the AV tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
REAL_VIDEO = FIXTURES / "real" / "talking_en_1080x1920_25fps.mp4"
OTHER_SPEECH = FIXTURES / "real" / "driving_speech_16k.wav"
LIGHT_ASD = FIXTURES / "weights" / "light_asd_finetuning_talkset.model"


def make_item(frames, audio, landmarks=None, clip_id="c"):
    from lipforge.pipeline.stages.base import ClipItem

    it = ClipItem(clip_id=clip_id, source_id="s", parent_id=clip_id, start_frame=0, end_frame=len(frames),
                  frames=frames, audio=np.asarray(audio, np.float32).copy(), frames_are_crop=landmarks is not None)
    if landmarks is not None:
        it.arrays["landmarks_crop.npy"] = landmarks
    return it
