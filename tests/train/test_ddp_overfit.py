"""Two-process DDP on gloo, and a tiny model overfitting one clip."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from lipforge.testing.train_data import synthetic_clip, tiny_train_config, write_shard


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, out_dir: str, shards: list[str], port: int) -> None:
    from lipforge.env import apply_offline_env

    apply_offline_env()
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from lipforge.train.loop import train

    cfg = tiny_train_config(Path(out_dir), shards, max_steps=3, ckpt_every=100, pg_timeout_s=120)
    hist = train(cfg, rank=rank, world_size=world)
    params = sum(p.detach().double().sum().item() for p in torch.load(
        Path(out_dir) / "checkpoints" / "step_00000003" / "state.pt", weights_only=True)["model"].values()) \
        if rank == 0 else None
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"keys": [h["keys"] for h in hist], "params": params}))


def test_two_process_ddp_sees_different_samples(shards, tmp_path):
    mp.spawn(_rank_main, args=(2, str(tmp_path), shards, _free_port()), nprocs=2, join=True)
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert len(r0["keys"]) == len(r1["keys"]) == 3
    k0 = {k for b in r0["keys"] for k in b}
    k1 = {k for b in r1["keys"] for k in b}
    assert not k0 & k1  # disjoint shards per rank
    from lipforge.train.checkpoint import CheckpointManager

    st = CheckpointManager.load(tmp_path / "checkpoints" / "step_00000003")
    assert st["world_size"] == 2 and len(st["data_positions"]) == 2


def test_tiny_model_overfits_one_clip(tmp_path):
    torch.set_num_threads(1)
    from lipforge.infer.models import LipSyncModel
    from lipforge.infer.scheduler import EDMScheduler, EDMSchedulerConfig
    from lipforge.train.export import load_trained
    from lipforge.train.loader import ShardLoader, WindowSpec
    from lipforge.train.loop import train
    from lipforge.train.objective import compute_loss

    shard = str(write_shard(tmp_path / "one.tar", [synthetic_clip("one-00000000-00", seed=1)]))
    cfg = tiny_train_config(tmp_path / "run", [shard], max_steps=60, ckpt_every=1000,
                            optim={"lr": 5e-3, "ema_decay": 0.0},
                            loss={"p_drop_audio": 0.0, "p_drop_ref": 0.0, "scheduler": EDMSchedulerConfig(p_mean=0.0, p_std=0.5)})
    spec = WindowSpec(cfg.model.num_frames, cfg.model.resolution, cfg.model.audio_context_k)
    batch = next(iter(ShardLoader([shard], 0, 1, 1, 0, cfg.seed, spec)))
    sched = EDMScheduler(cfg.loss.scheduler)

    def eval_loss(model) -> float:  # fixed sigmas and noise: the same 8 draws before and after
        with torch.no_grad():
            return sum(compute_loss(model, model, batch, sched, torch.Generator().manual_seed(100 + i), 0, 0)[0].item()
                       for i in range(8)) / 8

    torch.manual_seed(cfg.seed)
    before = eval_loss(LipSyncModel.from_config(cfg.model))
    train(cfg)
    after = eval_loss(load_trained(cfg, use_ema=False))
    assert after * 5 <= before, (before, after)
