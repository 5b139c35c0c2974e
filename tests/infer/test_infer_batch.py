"""Batch jobs: error rows, skip of finished outputs, face-track cache, and resume after a kill (Ray)."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

CROP = 32
REPO = Path(__file__).resolve().parents[2]


def _jobs_csv(tmp_path: Path, media: dict, n_good: int, bad: bool = True, later_long: bool = False) -> Path:
    """``later_long``: jobs after the first get the 2 s audio, so they are still running at the first output."""
    rows = [{"video": str(media["src"].path), "audio": str(media["long" if later_long and i else "short"].path),
             "output": f"out/o{i}.mp4"} for i in range(n_good)]
    if bad:
        rows.append({"video": str(tmp_path / "missing.mp4"), "audio": str(media["short"].path),
                     "output": "out/bad.mp4"})
    p = tmp_path / "jobs.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    return p


def test_local_runner_error_row_skip_and_cache(tiny_checkpoint, infer_media, tmp_path):
    from lipforge.infer.batch import BatchConfig, run_jobs

    jobs = _jobs_csv(tmp_path, infer_media, n_good=2)
    cfg = BatchConfig(checkpoint=str(tiny_checkpoint), work_dir=str(tmp_path / "work"), runner="local",
                      num_inference_steps=1, crop_size=CROP, device="cpu")
    rows = run_jobs(jobs, cfg, log=lambda s: None)
    status = {Path(r["output"]).name: r["status"] for r in rows}
    assert status == {"o0.mp4": "done", "o1.mp4": "done", "bad.mp4": "error"}
    bad = next(r for r in rows if r["status"] == "error")
    assert bad["error"].startswith("prepare:") and "missing.mp4" in bad["error"]
    assert len(list((tmp_path / "work" / "cache").glob("*.faces.npz"))) == 1  # one source, detected once
    assert not list((tmp_path / "out").glob(".*partial*"))  # no temporary outputs left
    mtime = (tmp_path / "out" / "o0.mp4").stat().st_mtime_ns
    rows = run_jobs(jobs, cfg, log=lambda s: None)
    assert sorted(r["status"] for r in rows) == ["error", "skipped", "skipped"]
    assert (tmp_path / "out" / "o0.mp4").stat().st_mtime_ns == mtime
    table = pd.read_parquet(tmp_path / "work" / "results.parquet")
    assert len(table) == 3 and set(table["status"]) == {"error", "skipped"}


def test_start_ray_is_private_unless_an_address_is_given(monkeypatch):
    ray = pytest.importorskip("ray")
    from lipforge.infer.batch import BatchConfig, _start_ray

    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    assert _start_ray(BatchConfig(checkpoint=None, work_dir="w", ray_num_cpus=2))
    assert calls[-1]["address"] == "local" and calls[-1]["num_cpus"] == 2 and calls[-1]["include_dashboard"] is False
    assert _start_ray(BatchConfig(checkpoint=None, work_dir="w", ray_address="auto", ray_num_cpus=2))
    assert calls[-1]["address"] == "auto" and "num_cpus" not in calls[-1]  # a cluster's size is not ours to set
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    assert not _start_ray(BatchConfig(checkpoint=None, work_dir="w")) and len(calls) == 2


def _session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid``: the driver and everything Ray started under it."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid=,stat="], capture_output=True, text=True).stdout.split("\n")
    return [int(p) for p, s, st in (line.split()[:3] for line in out if line.strip())
            if int(s) == sid and not st.startswith("Z")]


def _leftovers(sid: int, wait: float = 20.0) -> list[int]:
    """Processes of session ``sid`` still alive after ``wait`` s; they are killed so the test leaks nothing."""
    deadline = time.time() + wait
    while (pids := _session_pids(sid)) and time.time() < deadline:
        time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def _listening_ips(proc: subprocess.Popen, seen: set[str]) -> None:
    """The addresses every TCP socket in LISTEN state of ``proc``'s session binds, until it ends."""
    import psutil

    sid = proc.pid
    while proc.poll() is None:
        for pid in _session_pids(sid):
            try:
                seen |= {c.laddr.ip for c in psutil.Process(pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN}
            except psutil.Error:
                pass
        time.sleep(0.5)


@pytest.mark.ray
@pytest.mark.slow
def test_ray_batch_resumes_after_kill(tiny_checkpoint, infer_media, tmp_path):
    jobs = _jobs_csv(tmp_path, infer_media, n_good=3, later_long=True)
    argv = ["--jobs", str(jobs), "--checkpoint", str(tiny_checkpoint), "--work-dir", str(tmp_path / "work"),
            "--steps", "4", "--crop-size", str(CROP), "--runner", "ray", "--ray-num-cpus", "2", "--device", "cpu"]
    code = ("from lipforge.env import apply_offline_env; apply_offline_env(); import sys, torch; "
            "torch.set_num_threads(1); from lipforge.infer.cli import main_infer; sys.exit(main_infer(sys.argv[1:]))")
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(REPO))
    outs = [tmp_path / "out" / f"o{i}.mp4" for i in range(3)]
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 150
        while not any(o.exists() for o in outs):
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"first run ended or stalled before any output: {proc.stdout.read().decode()[-3000:]}")
            time.sleep(0.2)
    finally:  # preemption: kill the driver and everything it started (its own session)
        sid = os.getsid(proc.pid)
        for pid in _session_pids(sid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)
    assert not _leftovers(sid), "processes of the killed run survived"
    first = [o for o in outs if o.exists()]
    assert 1 <= len(first) < 3, "the kill came too late to test a resume"
    mtimes = {o: o.stat().st_mtime_ns for o in first}
    rerun = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=REPO, env=env, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    listening: set[str] = set()
    sampler = threading.Thread(target=_listening_ips, args=(rerun, listening), daemon=True)
    sampler.start()
    try:
        log, _ = rerun.communicate(timeout=300)
    finally:
        if rerun.poll() is None:
            rerun.kill()
        left = _leftovers(rerun.pid)  # its own session: the private Ray runtime must be gone with it
        sampler.join(timeout=5)
    assert rerun.returncode == 1, log[-3000:]  # 1: the bad job's error row
    assert listening and listening <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening  # a local batch's Ray: loopback only
    assert not left, f"the private Ray runtime left processes behind: {left}"
    table = pd.read_parquet(tmp_path / "work" / "results.parquet")
    status = dict(zip(table["output"].map(lambda p: Path(p).name), table["status"]))
    assert all(status[o.name] == "skipped" for o in first)
    assert all(status[o.name] == "done" for o in outs if o not in first)
    assert status["bad.mp4"] == "error"
    assert all(o.exists() for o in outs)
    assert all(o.stat().st_mtime_ns == m for o, m in mtimes.items())  # finished outputs were not redone
