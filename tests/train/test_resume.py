"""Stopped and resumed runs continue bit for bit: same batch keys, same losses."""
from __future__ import annotations

import pytest
import torch

from lipforge.testing.train_data import tiny_train_config
from lipforge.train.loader import DataPosition, ShardLoader, WindowSpec
from lipforge.train.loop import train

STEPS = 6  # 8 samples, batch 2: 4 batches per epoch, so the run crosses an epoch boundary


def _cfg(tmp, shards):
    return tiny_train_config(tmp, shards, max_steps=STEPS, ckpt_every=100, data={"batch_size": 2},
                             optim={"lr": 1e-3})


@pytest.fixture(scope="module")
def reference(shards, tmp_path_factory):
    torch.set_num_threads(1)
    return train(_cfg(tmp_path_factory.mktemp("ref"), shards))


def _run_with_stops(cfg, stops):
    hist = []
    for i, stop in enumerate(stops + [None]):
        hist += train(cfg, resume=i > 0, stop_at_step=stop)
    return hist


@pytest.mark.parametrize("stops", [[2], [4], [1, 3]], ids=["inside_epoch", "epoch_boundary", "second_resume"])
def test_resume_is_exact(reference, shards, tmp_path, stops):
    torch.set_num_threads(1)
    hist = _run_with_stops(_cfg(tmp_path, shards), stops)
    assert [h["step"] for h in hist] == list(range(1, STEPS + 1))
    assert [h["keys"] for h in hist] == [h["keys"] for h in reference]
    assert [h["loss"] for h in hist] == [h["loss"] for h in reference]  # bitwise
    assert reference[3]["epoch"] == 0 and reference[4]["epoch"] == 1
    ck = sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*"))
    assert len(ck) == 2 and ck[-1] == f"step_{STEPS:08d}"  # the last two kept


def test_resume_refuses_other_world_size(shards, tmp_path):
    from lipforge.train.checkpoint import CheckpointManager

    cfg = _cfg(tmp_path, shards)
    train(cfg, stop_at_step=1)
    st = CheckpointManager.load(CheckpointManager(tmp_path / "checkpoints").latest(), mmap=False)  # rewritten below
    st["world_size"] = 2
    torch.save(st, CheckpointManager(tmp_path / "checkpoints").latest() / "state.pt")
    with pytest.raises(ValueError, match="world_size=2"):
        train(cfg, resume=True)


def test_loader_with_workers_resumes_at_any_position(shards):
    spec = WindowSpec(num_frames=4, resolution=32, audio_k=1)

    def keys(start, n):
        ld = ShardLoader(shards, 0, 1, batch_size=1, num_workers=2, seed=3, spec=spec)
        ld.position = start
        out, it = [], iter(ld)
        for _ in range(n):
            b = next(it)
            out.append((b["epoch"], b["keys"][0], int(b["start"][0])))
        return out

    full = keys(DataPosition(0, 0), 16)  # 8 per epoch
    assert len({k for _, k, _ in full[:8]}) == 8  # an epoch sees every clip once
    assert full[8:] != full[:8]  # epochs are reshuffled (shard order, windows, references)
    for start in (3, 7):
        assert keys(DataPosition(0, start), 16 - start) == full[start:]
