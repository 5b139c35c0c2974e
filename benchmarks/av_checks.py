"""Print the AV checks on the real fixture and altered copies of its audio.

For own audio, audio delayed 5 frames, another speech track (driving_speech_16k.wav) and
silence: the Light-ASD score (raw logit, clip mean), the silero-vad speech ratio, and the sync
offset / confidence of each available backend (offline always; syncnet when
LIPFORGE_SYNCNET_V2 points at a syncnet_v2.model). Usage: python benchmarks/av_checks.py [seconds]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from lipforge.env import apply_offline_env

apply_offline_env()

import numpy as np  # noqa: E402

FIX = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def main() -> None:
    import torch

    from lipforge.pipeline.media import decode_audio, decode_wav
    from lipforge.pipeline.av.simple_crop import load_face_clip
    from lipforge.pipeline.stages.base import ClipItem
    from lipforge.pipeline.stages.asd import ActiveSpeakerStage
    from lipforge.pipeline.stages.speech import SpeechStage
    from lipforge.pipeline.stages.sync import SyncStage

    torch.set_num_threads(int(os.environ.get("AV_THREADS", "2")))
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    video = FIX / "real" / "talking_en_1080x1920_25fps.mp4"
    if not video.is_file():
        print(f"real fixture missing: {video}")
        return
    t0 = time.time()
    crops, lm = load_face_clip(video, size=160, max_frames=int(seconds * 25))
    n = len(crops)
    own = np.pad(decode_audio(video), (0, n * 640))[: n * 640]
    other = np.pad(decode_wav(FIX / "real" / "driving_speech_16k.wav")[0], (0, n * 640))[: n * 640]
    variants = {"own": own, "delayed5": np.concatenate([np.zeros(3200, np.float32), own])[: n * 640],
                "other_speech": other, "silence": np.zeros_like(own)}
    print(f"real fixture: {n} frames, face crop 160 px, prepared in {time.time() - t0:.1f}s")
    stages = {"speech": SpeechStage()}
    asd_w = FIX / "weights" / "light_asd_finetuning_talkset.model"
    if asd_w.is_file():
        stages["asd"] = ActiveSpeakerStage(ActiveSpeakerStage.Config(weights=str(asd_w), threshold=-1e9))
    stages["sync_offline"] = SyncStage(SyncStage.Config(max_offset=15))  # records only
    if os.environ.get("LIPFORGE_SYNCNET_V2"):
        stages["sync_syncnet"] = SyncStage(SyncStage.Config(backend="syncnet", min_conf=-1.0, max_offset=15,
                                                            syncnet_weights=os.environ["LIPFORGE_SYNCNET_V2"]))
    print(f"{'audio':14s} {'asd_raw':>8s} {'speech':>7s} {'off(offl)':>9s} {'conf(offl)':>10s}"
          + ("  off(sn) conf(sn) dist(sn)" if "sync_syncnet" in stages else ""))
    for name, audio in variants.items():
        row = {}
        for sname, st in stages.items():
            it = ClipItem(clip_id=name, source_id="real", parent_id=name, start_frame=0, end_frame=n,
                          frames=crops, audio=audio.copy(), frames_are_crop=True)
            it.arrays["landmarks_crop.npy"] = lm
            (it,) = st([it])
            row[sname] = it.measurements
        asd = row.get("asd", {}).get("asd_score", float("nan"))
        line = (f"{name:14s} {asd:8.2f} {row['speech']['speech_ratio']:7.2f} "
                f"{row['sync_offline']['sync_offset']:9d} {row['sync_offline']['sync_conf']:10.3f}")
        if "sync_syncnet" in row:
            m = row["sync_syncnet"]
            line += f"  {m['sync_offset']:7d} {m['sync_conf']:8.2f} {m['sync_min_dist']:8.2f}"
        print(line, flush=True)
    print("offset sign: positive = audio lags video (the delayed5 copy should read +5)")


if __name__ == "__main__":
    main()
