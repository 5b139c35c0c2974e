"""Batch resume honours the checkpoint and the settings; results.parquet records them per job."""
from __future__ import annotations

import json

import pandas as pd
import pytest

CROP = 32


def test_rerun_with_other_settings_is_refused_then_redone(tiny_checkpoint, infer_media, tmp_path):
    from lipforge.infer.batch import BatchConfig, run_jobs

    pd.DataFrame([{"video": str(infer_media["src"].path), "audio": str(infer_media["short"].path),
                   "output": "out/o.mp4"}]).to_csv(tmp_path / "jobs.csv", index=False)
    cfg = BatchConfig(checkpoint=str(tiny_checkpoint), work_dir=str(tmp_path / "work"), runner="local",
                      num_inference_steps=1, crop_size=CROP, device="cpu")
    quiet = lambda s: None  # noqa: E731
    assert [r["status"] for r in run_jobs(tmp_path / "jobs.csv", cfg, log=quiet)] == ["done"]
    out = tmp_path / "out" / "o.mp4"
    mtime = out.stat().st_mtime_ns
    assert [r["status"] for r in run_jobs(tmp_path / "jobs.csv", cfg, log=quiet)] == ["skipped"]
    table = pd.read_parquet(tmp_path / "work" / "results.parquet")
    assert json.loads(table["settings"][0])["num_inference_steps"] == 1 and len(table["checkpoint_hash"][0]) == 64
    first_hash = table["settings_hash"][0]
    other = BatchConfig(**{**cfg.__dict__, "seed": 7})
    with pytest.raises(ValueError, match="--overwrite"):
        run_jobs(tmp_path / "jobs.csv", other, log=quiet)
    assert out.stat().st_mtime_ns == mtime  # refused: nothing redone, nothing rewritten
    assert json.loads((tmp_path / "work" / "infer_config.json").read_text())["seed"] == 0
    redo = BatchConfig(**{**other.__dict__, "overwrite": True})
    assert [r["status"] for r in run_jobs(tmp_path / "jobs.csv", redo, log=quiet)] == ["done"]
    assert out.stat().st_mtime_ns != mtime
    table = pd.read_parquet(tmp_path / "work" / "results.parquet")
    assert table["settings_hash"][0] != first_hash and json.loads(table["settings"][0])["seed"] == 7
    assert [r["status"] for r in run_jobs(tmp_path / "jobs.csv", other, log=quiet)] == ["skipped"]
    # another checkpoint (one weight file changed) is another model: refused again
    import shutil

    ck2 = tmp_path / "ck2"
    shutil.copytree(tiny_checkpoint, ck2)
    victim = next(p for p in sorted(ck2.rglob("*")) if p.is_file() and p.suffix in (".safetensors", ".bin", ".pt"))
    victim.write_bytes(victim.read_bytes()[:-1] + bytes([victim.read_bytes()[-1] ^ 1]))
    with pytest.raises(ValueError, match="not made with this checkpoint"):
        run_jobs(tmp_path / "jobs.csv", BatchConfig(**{**other.__dict__, "checkpoint": str(ck2)}), log=quiet)


def test_actor_gpus_come_from_the_cluster():
    from lipforge.infer.devices import plan_actor_gpus

    assert plan_actor_gpus("auto", 2, None, 4.0)[0] == 1.0
    assert "2 model actor(s) x 1 GPU on a cluster with 4 GPU(s)" in plan_actor_gpus("auto", 2, None, 4.0)[1]
    assert plan_actor_gpus("cpu", 2, None, 0.0)[0] == 0.0
    with pytest.raises(ValueError, match="--device cpu"):
        plan_actor_gpus("auto", 1, None, 0.0)  # the head node has no GPU: never a silent CPU run
    with pytest.raises(ValueError, match="need 4 GPUs"):
        plan_actor_gpus("cuda", 4, 1.0, 2.0)


def test_local_batch_refuses_silent_cpu(tiny_checkpoint, infer_media, tmp_path, monkeypatch):
    import torch

    from lipforge.infer.batch import BatchConfig, run_jobs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    pd.DataFrame([{"video": str(infer_media["src"].path), "audio": str(infer_media["short"].path),
                   "output": "out/o.mp4"}]).to_csv(tmp_path / "jobs.csv", index=False)
    cfg = BatchConfig(checkpoint=str(tiny_checkpoint), work_dir=str(tmp_path / "work"), runner="local",
                      num_inference_steps=1, crop_size=CROP)
    with pytest.raises(ValueError, match="--device cpu"):
        run_jobs(tmp_path / "jobs.csv", cfg, log=lambda s: None)
