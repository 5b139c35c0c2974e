"""Training conventions: LR warmup and schedule, gradient accumulation (resumable), fp16 with the
grad scaler, 8-bit AdamW's install hint, interval-averaged tensorboard scalars and log lines."""
from __future__ import annotations

import logging
import math
import sys

import pytest
import torch

from lipforge.testing.train_data import tiny_train_config
from lipforge.train.loop import train
from lipforge.train.schedule import lr_at


def test_lr_follows_warmup_then_cosine(shards, tmp_path):
    torch.set_num_threads(1)
    cfg = tiny_train_config(tmp_path, shards, max_steps=5, ckpt_every=100,
                            optim={"lr": 1e-3, "warmup_steps": 2, "lr_schedule": "cosine", "min_lr_ratio": 0.1})
    hist = train(cfg)
    want = [lr_at(s, 1e-3, 2, "cosine", 5, 0.1) for s in range(5)]
    assert [h["lr"] for h in hist] == want
    assert want[0] == 5e-4 and want[1] == 1e-3 and want[2] == 1e-3 and math.isclose(want[-1], 1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 2 / 3))))


def test_gradient_accumulation_steps_once_per_micro_batches_and_resumes_exactly(shards, tmp_path):
    torch.set_num_threads(1)

    def cfg(d):
        return tiny_train_config(d, shards, max_steps=3, ckpt_every=100, data={"batch_size": 1},
                                 optim={"lr": 1e-3, "grad_accum_steps": 2})

    full = train(cfg(tmp_path / "full"))
    assert [len(h["keys"]) for h in full] == [2, 2, 2]  # two micro-batches of 1 per optimizer step
    from lipforge.train.checkpoint import CheckpointManager

    st = CheckpointManager.load(CheckpointManager(tmp_path / "full" / "checkpoints").latest())
    assert {int(s["step"]) for s in st["optimizer"]["state"].values()} == {3}  # AdamW stepped 3 times
    part = train(cfg(tmp_path / "part"), stop_at_step=1) + train(cfg(tmp_path / "part"), resume=True)
    assert [h["keys"] for h in part] == [h["keys"] for h in full]
    assert [h["loss"] for h in part] == [h["loss"] for h in full]  # bitwise, as without accumulation


def test_fp16_trains_with_the_grad_scaler(shards, tmp_path):
    torch.set_num_threads(1)
    cfg = tiny_train_config(tmp_path, shards, max_steps=2, ckpt_every=100, mixed_precision="fp16",
                            optim={"lr": 1e-3})
    hist = train(cfg)
    assert all(math.isfinite(h["loss"]) for h in hist)
    from lipforge.train.checkpoint import CheckpointManager

    st = CheckpointManager.load(CheckpointManager(tmp_path / "checkpoints").latest())
    assert st["scaler"]["scale"] > 0  # the scaler was on (bf16 / fp32 runs save an empty state)


def test_8bit_adamw_without_bitsandbytes_names_the_install(monkeypatch):
    from lipforge.train.config import OptimConfig
    from lipforge.train.optim import build_optimizer

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    with pytest.raises(ImportError, match="pip install bitsandbytes"):
        build_optimizer([torch.nn.Parameter(torch.zeros(2))], OptimConfig(optimizer="adamw8bit"))
    with pytest.raises(ValueError, match="OptimConfig.optimizer"):
        OptimConfig(optimizer="sgd")


def test_interval_scalars_and_log_lines(shards, tmp_path, caplog):
    torch.set_num_threads(1)
    cfg = tiny_train_config(tmp_path, shards, max_steps=4, ckpt_every=100, log_every=2, optim={"lr": 1e-3})
    with caplog.at_level(logging.INFO, logger="lipforge.train.loop"):
        hist = train(cfg)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert len(lines) == 2 and lines[0].startswith("step 2/4 loss ") and "steps/s" in lines[0] and "ETA" in lines[0]
    mean = (hist[2]["loss"] + hist[3]["loss"]) / 2
    assert f"loss {mean:.4f}" in lines[1]  # the interval's mean, not the last step's value
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tmp_path / "tb"))
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    assert {"train/loss", "train/lr", "time/data_wait_s", "time/steps_per_s", "data/bad_samples"} <= tags
    assert [e.value for e in ea.Scalars("train/loss")][1] == pytest.approx(mean, rel=1e-6)


def test_8bit_adamw_trains_and_resumes(shards, tmp_path):
    pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed: 8-bit AdamW not tested")
    torch.set_num_threads(1)

    def cfg(d):
        return tiny_train_config(d, shards, max_steps=3, ckpt_every=100, optim={"lr": 1e-3, "optimizer": "adamw8bit"})

    full = train(cfg(tmp_path / "full"))
    from lipforge.train.checkpoint import CheckpointManager

    st = CheckpointManager.load(CheckpointManager(tmp_path / "full" / "checkpoints").latest())
    def tensors(x):
        if torch.is_tensor(x):
            yield x
        elif isinstance(x, dict):
            for v in x.values():
                yield from tensors(v)

    assert any(t.dtype == torch.uint8 for t in tensors(st["optimizer"]["state"]))  # moments stored in 8 bits
    part = train(cfg(tmp_path / "part"), stop_at_step=1) + train(cfg(tmp_path / "part"), resume=True)
    assert [h["loss"] for h in part] == [h["loss"] for h in full]
