"""Batch resume honours the checkpoint and the settings; results.parquet records them per job."""
from __future__ import annotations

import json
from pathlib import Path

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


def _duration(path) -> float:
    import av

    with av.open(str(path)) as c:
        return float(c.duration) / 1e6


def test_replaced_audio_is_redone_and_results_are_written_per_job(tiny_checkpoint, infer_media, tmp_path):
    """A re-take saved under the same name (3 s -> here 2.0 s -> 0.6 s) is redone without --overwrite;
    results.parquet holds each job's row as soon as it finishes, with the error's traceback."""
    import shutil

    from lipforge.infer.batch import BatchConfig, run_jobs
    from lipforge.infer.batch_stages import GenerateStage

    audio = tmp_path / "take.wav"
    shutil.copy(infer_media["long"].path, audio)  # 2.0 s
    pd.DataFrame([{"video": str(infer_media["src"].path), "audio": str(audio), "output": "out/o.mp4"},
                  {"video": str(tmp_path / "missing.mp4"), "audio": str(audio), "output": "out/bad.mp4"},
                  {"video": str(infer_media["src"].path), "audio": str(infer_media["short"].path),
                   "output": "out/o2.mp4"}]).to_csv(tmp_path / "jobs.csv", index=False)
    cfg = BatchConfig(checkpoint=str(tiny_checkpoint), work_dir=str(tmp_path / "work"), runner="local",
                      num_inference_steps=1, crop_size=CROP, device="cpu")
    seen: list[list[str]] = []
    original = GenerateStage.row

    def watching(self, row):  # what results.parquet holds when the next job reaches the model
        p = tmp_path / "work" / "results.parquet"
        seen.append(sorted(pd.read_parquet(p)["status"]) if p.exists() else [])
        return original(self, row)

    GenerateStage.row = watching
    try:
        rows = run_jobs(tmp_path / "jobs.csv", cfg, log=lambda s: None)
    finally:
        GenerateStage.row = original
    assert seen == [["error"], ["done", "error"]]  # the bad job's row was written before any model ran
    table = pd.read_parquet(tmp_path / "work" / "results.parquet")
    bad = table[table["status"] == "error"].iloc[0]
    assert "missing.mp4" in bad["error"] and "Traceback" in bad["traceback"]
    assert json.loads(table[table["output"].str.endswith("o.mp4")].iloc[0]["input_ids"])["audio"]["size"] > 0
    out = tmp_path / "out" / "o.mp4"
    assert abs(_duration(out) - 2.0) < 0.2 and [r["status"] for r in rows if r["output"] == str(out)] == ["done"]
    assert sorted(r["status"] for r in run_jobs(tmp_path / "jobs.csv", cfg, log=lambda s: None)) == \
        ["error", "skipped", "skipped"]
    shutil.copy(infer_media["short"].path, audio)  # the re-take: same name, 0.6 s
    logs: list[str] = []
    rows = run_jobs(tmp_path / "jobs.csv", cfg, log=logs.append)
    status = {Path(r["output"]).name: r["status"] for r in rows}
    assert status == {"o.mp4": "done", "o2.mp4": "skipped", "bad.mp4": "error"}, status
    assert abs(_duration(out) - 0.6) < 0.2  # the new take's length, not the old output left in place
    assert any("1 redone (an input changed" in line for line in logs), logs
    assert json.loads((tmp_path / "work" / "done" / f"{rows[0]['job_id']}.json").read_text())["inputs"]["audio"][
        "size"] == Path(audio).stat().st_size


def test_output_equal_to_an_input_is_refused(infer_media, tmp_path):
    from lipforge.infer.jobs import read_jobs

    pd.DataFrame([{"video": str(infer_media["src"].path), "audio": str(infer_media["short"].path),
                   "output": str(infer_media["src"].path)}]).to_csv(tmp_path / "jobs.csv", index=False)
    with pytest.raises(ValueError, match="row 1: --out .* is the --video input"):
        read_jobs(tmp_path / "jobs.csv")
