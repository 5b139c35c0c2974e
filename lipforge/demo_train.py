"""Demo steps 3 and 4: train a tiny model briefly on the curated shards, then lip-sync a video.

The tiny random-init model (lipforge.infer.models.LipSyncModelConfig.tiny) shows the whole arc runs and
resumes on CPU in minutes; it does not make convincing lips. A real run uses a pretrained SVD
and Whisper from a local models directory and a GPU cluster.
"""
from __future__ import annotations

from pathlib import Path

import yaml


def write_train_config(work: Path, corpus: Path, steps: int) -> Path:
    from lipforge.infer.models import LipSyncModelConfig
    from lipforge.train.config import DataConfig, OptimConfig, TrainConfig

    from lipforge.manifests.corpus import shard_files

    shards = [str(p) for p in shard_files(corpus)]  # the published generation's (not a glob of shards/)
    if not shards:
        raise RuntimeError(f"no shards in {corpus / 'shards'}: the curation kept no clip")
    cfg = TrainConfig(model=LipSyncModelConfig.tiny(), data=DataConfig(shards=tuple(shards)),
                      output_dir=str(work / "train"), optim=OptimConfig(lr=1e-3),
                      max_steps=steps, log_every=5, ckpt_every=max(steps // 2, 1))
    path = work / "train.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path


def train_and_infer(work: Path, corpus: Path, steps: int = 20) -> dict:
    from lipforge.infer.pipeline import LipSyncPipeline
    from lipforge.pipeline.media import encode_wav
    from lipforge.testing import speech_wav
    from lipforge.train.config import TrainConfig
    from lipforge.train.export import export
    from lipforge.train.loop import train

    print(f"[demo] 3/4 train a tiny model for {steps} steps on {corpus / 'shards'}", flush=True)
    cfg = TrainConfig.from_yaml(write_train_config(work, corpus, steps))
    hist = train(cfg, overwrite=True)  # the demo's own run directory: a rerun of the demo starts it over
    if hist:
        print(f"[demo] step {hist[-1]['step']} loss {hist[-1]['loss']:.4f}", flush=True)
    model_dir = work / "model"
    export(cfg, str(model_dir), None)
    print("[demo] 4/4 lip-sync speaker_a to new speech", flush=True)
    audio = work / "new_speech.wav"
    audio.write_bytes(encode_wav(speech_wav(3.0, seed=7)))
    result = LipSyncPipeline.from_pretrained(str(model_dir))(
        str(work / "inputs" / "speaker_a.mp4"), str(audio), str(work / "lipsync.mp4"))
    return {"train_logs": work / "train", "model": model_dir, "lipsync_video": Path(result)}
