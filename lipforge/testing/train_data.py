"""Factories for trainer tests and benchmarks: tiny clips in the real shard layout and a tiny
train config (a one-block random-init model), like diffusers' get_dummy_components().
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def synthetic_clip(key: str, n_frames: int = 12, size: int = 32, seed: int = 0,
                   keyint: int | None = None) -> dict[str, bytes | str]:
    """A moving bright square on a dark face-coloured background, a 'mouth' bar whose height follows
    a sine tone's envelope, and that tone as 16 kHz audio; all fields of the sample layout used by train.
    ``keyint``: the video's keyframe interval as the shard writer sets it (None: the writer's
    default, ``ShardConfig.video_keyint``; 0: one GOP, as shards written before it)."""
    from lipforge.pipeline.media import SHARD_KEYINT, encode_video, encode_wav
    from lipforge.manifests.layout import encode_sample

    rng = np.random.default_rng(seed)
    frames = np.zeros((n_frames, size, size, 3), np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 150, 110, 90
    env = 0.5 + 0.5 * np.sin(np.arange(n_frames) * 0.9 + seed)
    for t in range(n_frames):
        x = (t * 2 + seed * 3) % (size - 8)
        frames[t, 4:10, x:x + 8] = 230
        h = 1 + int(env[t] * 6)
        frames[t, 20:20 + h, 10:22] = 40
    t_s = np.arange(n_frames * 640) / 16000
    audio = (0.3 * np.repeat(env, 640) * np.sin(2 * np.pi * (220 + 40 * seed) * t_s)).astype(np.float32)
    rects = np.tile(np.array([[6, 16, 26, 30]], np.float32), (n_frames, 1)) + rng.normal(0, 0.3, (n_frames, 4)).astype(np.float32)
    meta = {"clip_id": key, "source_id": key.split("-")[0], "fps": 25, "sample_rate": 16000, "n_frames": n_frames,
            "crop_size": size}
    keyint = SHARD_KEYINT if keyint is None else keyint
    if keyint:
        meta["video_keyint"] = keyint
    return encode_sample(key, {"mp4": encode_video(frames, fps=25, keyint=keyint or None), "wav": encode_wav(audio), "json": meta,
                               "mask_adaptive.npy": rects, "mask_keysync.npy": rects})


def write_shard(path: Path, samples: list[dict[str, bytes | str]]) -> Path:
    """Write encoded samples as a shard with curation's own deterministic tar writer."""
    from lipforge.manifests.container import write_tar

    write_tar(path, samples)
    return Path(path)


def tiny_train_config(tmp: Path, shards: list[str], **over):
    from lipforge.infer.models import LipSyncModelConfig
    from lipforge.train.config import DataConfig, LossConfig, OptimConfig, TrainConfig

    data = over.pop("data", {})
    loss = over.pop("loss", {})
    optim = over.pop("optim", {})
    return TrainConfig(model=LipSyncModelConfig.tiny(), data=DataConfig(shards=tuple(shards), **data),
                       output_dir=str(tmp), loss=LossConfig(**loss), optim=OptimConfig(**optim), **over)


def tiny_model_export(directory: Path, seed: int = 0, **tiny_overrides) -> Path:
    """A complete random-init export (weights, scheduler, recipe), as ``lipforge train --export``
    writes one: what ``LipSyncPipeline.from_pretrained`` needs. Not a trained model."""
    import torch

    from lipforge.infer.models import LipSyncModel, LipSyncModelConfig
    from lipforge.infer.pipeline import LipSyncPipeline
    from lipforge.infer.scheduler import EDMScheduler

    torch.manual_seed(seed)
    model = LipSyncModel.from_config(LipSyncModelConfig.tiny(**tiny_overrides))
    return LipSyncPipeline(model, EDMScheduler(), device="cpu").save_pretrained(directory)


def tiny_corpus(root: Path, n_shards: int = 2, per_shard: int = 4, crop: dict | None = None) -> Path:
    """A curated-corpus directory as ``lipforge curate`` lays it out (lipforge.manifests.corpus):
    ``shards/*.tar`` written by the container, ``manifests/shards.parquet`` with each sample's byte
    offset and size, ``manifests/clips.parquet`` with kept clips and two scores (clip i of the
    corpus has ``sync_conf = i`` and ``iqa_score = (i % 4) / 4``) plus one dropped clip, and, with
    ``crop``, a ``run_config.yaml`` whose crop stage has those values."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from lipforge.manifests import corpus as layout
    from lipforge.manifests.container import write_tar

    root = Path(root)
    layout.shards_dir(root).mkdir(parents=True, exist_ok=True)
    layout.manifests_dir(root).mkdir(parents=True, exist_ok=True)
    shard_rows, clip_rows, i = [], [], 0
    for s in range(n_shards):
        samples = []
        for _ in range(per_shard):
            samples.append(synthetic_clip(f"c{i:03d}-00000000-00", seed=i))
            clip_rows.append({"clip_id": f"c{i:03d}-00000000-00", "status": "kept", "shard": f"shards/shard-{s:05d}.tar",
                              "sync_conf": float(i), "iqa_score": (i % 4) / 4})
            i += 1
        for r in write_tar(layout.shards_dir(root) / f"shard-{s:05d}.tar", samples):
            shard_rows.append({"shard": f"shards/{r.shard}", "key": r.key, "offset": r.offset, "size": r.size,
                               "n_frames": r.n_frames})
    clip_rows.append({"clip_id": "gone-00000000-00", "status": "dropped", "shard": None, "sync_conf": 99.0,
                      "iqa_score": 1.0})
    pq.write_table(pa.Table.from_pylist(clip_rows), layout.manifest_path(root, "clips"))
    pq.write_table(pa.Table.from_pylist(shard_rows), layout.manifest_path(root, "shards"))
    if crop is not None:
        (root / "run_config.yaml").write_text(yaml.safe_dump({"stages": {"crop": crop}}))
    return root
