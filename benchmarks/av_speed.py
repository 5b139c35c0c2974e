"""Clips per second per core of each AV / quality check at default settings.

A 4 s synthetic talking head (128 px face crop, dlib landmarks) is run through each stage with
one torch thread; clips/s per core = clips / (seconds x threads). Usage: python benchmarks/av_speed.py
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from lipforge.env import apply_offline_env

apply_offline_env()

import numpy as np  # noqa: E402

FIX = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def main(n_clips: int = 3) -> None:
    import torch

    from lipforge.testing import make_talking_head
    from lipforge.pipeline.av.simple_crop import crop_square, landmarks_68, square_around
    from lipforge.pipeline.media import decode_audio, decode_video
    from lipforge.pipeline.stages.base import ClipItem
    from lipforge.pipeline.stages.asd import ActiveSpeakerStage
    from lipforge.pipeline.stages.quality import QualityStage
    from lipforge.pipeline.stages.speech import SpeechStage
    from lipforge.pipeline.stages.sync import SyncStage

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        v = make_talking_head(Path(d) / "t.mp4", seconds=4.0, size=(384, 384), face_px=200)
        frames, audio = decode_video(v.path), decode_audio(v.path)
    sq = square_around(v.face_box, 1.3)
    size = 256
    crops = np.stack([crop_square(f, sq, size) for f in frames])
    inner = size / 1.3
    lm = landmarks_68(crops, ((size - inner) / 2,) * 2 + ((size + inner) / 2,) * 2)
    audio = np.pad(audio, (0, len(frames) * 640))[: len(frames) * 640]

    def items():
        out = []
        for i in range(n_clips):
            it = ClipItem(clip_id=f"c{i}", source_id="s", parent_id=f"c{i}", start_frame=0, end_frame=len(crops),
                          frames=crops, audio=audio.copy(), frames_are_crop=True)
            it.arrays["landmarks_crop.npy"] = lm
            out.append(it)
        return out

    stages = {"speech (silero-vad)": SpeechStage(), "quality (laplacian fallback)": QualityStage(),
              "sync (offline)": SyncStage(SyncStage.Config())}
    w = FIX / "weights" / "light_asd_finetuning_talkset.model"
    if w.is_file():
        stages["asd (Light-ASD)"] = ActiveSpeakerStage(ActiveSpeakerStage.Config(weights=str(w), threshold=-1e9))
    print(f"{n_clips} clips of {len(crops) / 25:.1f} s, {size} px face crop, 1 torch thread")
    for name, st in stages.items():
        st(items()[:1])  # warm-up: loads the model
        t0 = time.perf_counter()
        st(items())
        dt = time.perf_counter() - t0
        print(f"{name:30s} {n_clips / dt:8.2f} clips/s/core  ({dt / n_clips:.2f} s per clip)", flush=True)


if __name__ == "__main__":
    main()
