"""Demo steps 3 and 4: train a tiny model briefly on the curated shards, then lip-sync a video.

The tiny random-init model (infer.models.LipSyncModelConfig.tiny) shows the whole arc runs and
resumes on CPU in minutes; it does not make convincing lips. A real run uses a pretrained SVD
and Whisper from a local models directory and a GPU cluster.
"""
from __future__ import annotations

import glob
from pathlib import Path

import yaml


def write_train_config(work: Path, corpus: Path, steps: int) -> Path:
    from infer.models import LipSyncModelConfig
    from train.config import DataConfig, OptimConfig, TrainConfig

    shards = sorted(glob.glob(str(corpus / "shards" / "*.tar")))
    if not shards:
        raise RuntimeError(f"no shards in {corpus / 'shards'}: the curation kept no clip")
    cfg = TrainConfig(model=LipSyncModelConfig.tiny(), data=DataConfig(shards=tuple(shards)),
                      output_dir=str(work / "train"), optim=OptimConfig(lr=1e-3),
                      max_steps=steps, log_every=5, ckpt_every=max(steps // 2, 1))
    path = work / "train.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path


def train_and_infer(work: Path, corpus: Path, steps: int = 20) -> dict:
    from lipforge.cli import main as cli

    print(f"[demo] 3/4 train a tiny model for {steps} steps on {corpus / 'shards'}", flush=True)
    cfg = write_train_config(work, corpus, steps)
    rc = cli(["train", "--config", str(cfg)])
    if rc:
        raise SystemExit(rc)
    model_dir = work / "model"
    cli(["train", "--config", str(cfg), "--export", str(model_dir)])
    out = {"train_logs": work / "train", "model": model_dir}
    try:
        import infer.cli  # noqa: F401
    except ImportError as e:
        print(f"[demo] inference unavailable: {e}")
        return out
    print("[demo] 4/4 lip-sync speaker_a to new speech", flush=True)
    from lipforge.testing import speech_wav
    from pipeline.media import encode_wav

    audio = work / "new_speech.wav"
    audio.write_bytes(encode_wav(speech_wav(3.0, seed=7)))
    video = work / "inputs" / "speaker_a.mp4"
    result = work / "lipsync.mp4"
    rc = cli(["infer", "--video", str(video), "--audio", str(audio), "--checkpoint", str(model_dir),
              "--out", str(result)])
    if rc:
        raise SystemExit(rc)
    out["lipsync_video"] = result
    return out
