"""Training on Ray (lipforge.train.ray_launch): 2 CPU ranks (gloo, the tiny model) on a private
local Ray. A rank killed with SIGKILL mid-run is restarted from the last checkpoint and the run
ends as an uninterrupted one; logs reach the driver; Ctrl-C stops the ranks after a checkpoint;
every socket the run listens on is bound to 127.0.0.1."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from lipforge.testing.train_data import tiny_train_config
from lipforge.train.config import ClusterConfig, TrainConfig

STEPS = 4


def _cfg(out: Path, shards, **over) -> TrainConfig:
    kw = dict(max_steps=STEPS, ckpt_every=2, log_every=1, pg_timeout_s=120, optim={"lr": 1e-3},
              cluster=ClusterConfig(num_workers=2, cpus_per_worker=1))
    return tiny_train_config(out, shards, **{**kw, **over})


def _rank_procs() -> list:
    import psutil

    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "TrainRank" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            pass
    return out


def _tb_losses(tb: Path) -> dict[int, float]:
    """train/loss per step from every event file (a restart appends one): the last value written wins."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    out = {}
    for f in sorted(tb.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime):
        for ev in EventFileLoader(str(f)).Load():
            for v in ev.summary.value:
                if v.tag == "train/loss":
                    out[ev.step] = v.simple_value if v.HasField("simple_value") else float(v.tensor.float_val[0])
    return out


def _final_weights(out: Path) -> dict[str, torch.Tensor]:
    from lipforge.train.checkpoint import CheckpointManager

    return CheckpointManager.load(out / "checkpoints" / f"step_{STEPS:08d}")["model"]


def _launch(cfg: TrainConfig, cfg_path: Path):
    """``launch(cfg, address="local")`` in a child process (tests/conftest.py keeps Ray drivers out
    of the pytest process); the child's ranks are still this process's descendants."""
    import json
    from types import SimpleNamespace

    cfg.to_yaml(cfg_path)
    code = ("import dataclasses, json, sys; from lipforge.train.config import TrainConfig; "
            "from lipforge.train.ray_launch import launch; "
            "r = launch(TrainConfig.from_yaml(sys.argv[1]), address='local'); "
            "print('LAUNCH-RESULT ' + json.dumps(dataclasses.asdict(r)))")
    proc = subprocess.run([sys.executable, "-c", code, str(cfg_path)], capture_output=True, text=True, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("LAUNCH-RESULT ")]
    assert proc.returncode == 0 and lines, (proc.stdout + proc.stderr)[-3000:]
    return SimpleNamespace(**json.loads(lines[-1].split(" ", 1)[1]))


class _Listeners(threading.Thread):
    """Every TCP socket in LISTEN state among this process's descendants, sampled while the run runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: set[tuple[str, str, int]] = set()
        self.done = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.done.wait(0.5):
            for p in psutil.Process().children(recursive=True):
                try:
                    name = "TrainRank" if "TrainRank" in " ".join(p.cmdline()) else p.name()
                    self.seen |= {(name, c.laddr.ip, c.laddr.port) for c in p.net_connections("tcp")
                                  if c.status == psutil.CONN_LISTEN}
                except psutil.Error:
                    pass


@pytest.fixture(scope="module")
def reference(shards, tmp_path_factory):
    """An uninterrupted run on a private local Ray, the command's own path (``address="local"``)."""
    out = tmp_path_factory.mktemp("ref")
    listeners = _Listeners()
    listeners.start()
    try:
        res = _launch(_cfg(out, shards), out.parent / (out.name + ".yaml"))
    finally:
        listeners.done.set()
        listeners.join()
    return out, res, listeners.seen


@pytest.mark.slow
@pytest.mark.ray
def test_uninterrupted_run_on_local_ray_listens_on_loopback_only(reference):
    out, res, seen = reference
    assert res.restarts == 0 and [h["step"] for h in res.history] == list(range(1, STEPS + 1))
    assert sorted(_tb_losses(out / "tb")) == list(range(1, STEPS + 1))  # rank 0's tensorboard, as under torchrun
    assert any(name == "TrainRank" for name, _, _ in seen)  # the ranks' store / gloo sockets were sampled
    assert {_loopback(ip) for _, ip, _ in seen} == {"127.0.0.1"}, sorted(seen)


def _loopback(ip: str) -> str:
    """``::ffff:127.0.0.1`` (a dual-stack socket bound to IPv4 loopback) is 127.0.0.1."""
    import ipaddress

    a = ipaddress.ip_address(ip)
    return str(getattr(a, "ipv4_mapped", None) or a)


@pytest.mark.slow
@pytest.mark.ray
def test_rank_killed_mid_run_restarts_from_checkpoint_and_matches(reference, shards, tmp_path):
    ref_out, ref, _ = reference
    killed: list[int] = []

    def kill_after_first_checkpoint() -> None:
        marker = tmp_path / "run" / "checkpoints" / "step_00000002" / "COMMITTED"
        deadline = time.monotonic() + 600
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        procs = _rank_procs()
        if marker.exists() and procs:
            procs[-1].send_signal(signal.SIGKILL)
            killed.append(procs[-1].pid)

    killer = threading.Thread(target=kill_after_first_checkpoint, daemon=True)
    killer.start()
    res = _launch(_cfg(tmp_path / "run", shards), tmp_path / "t.yaml")
    killer.join()
    assert killed and res.restarts == 1
    assert res.history[0]["step"] == 3  # continued from the step-2 checkpoint, not from step 0
    by_step = {h["step"]: h for h in ref.history}
    assert [h["loss"] for h in res.history] == [by_step[h["step"]]["loss"] for h in res.history]  # bitwise
    assert [h["keys"] for h in res.history] == [by_step[h["step"]]["keys"] for h in res.history]
    assert _tb_losses(tmp_path / "run" / "tb") == _tb_losses(ref_out / "tb")  # every step, before and after the loss
    a, b = _final_weights(tmp_path / "run"), _final_weights(ref_out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@pytest.mark.ray
def test_cli_ctrl_c_stops_ranks_after_a_checkpoint(shards, tmp_path):
    """The command users run; its log lines carry the ranks' progress; Ctrl-C (SIGINT to the whole
    process group, as a terminal sends it, Ray's own processes included): a checkpoint, then exit."""
    cfg = _cfg(tmp_path / "run", shards, max_steps=200, ckpt_every=1000)
    y = tmp_path / "t.yaml"
    cfg.to_yaml(y)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "lipforge.cli", "train", "--config", str(y), "--address", "local",
                             "--num-workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "step 2/200" in line:
                os.killpg(proc.pid, signal.SIGINT)
                break
        lines += proc.stdout.readlines()
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = "".join(lines)
    assert "rank 0 lipforge.train.loop: step 1/200 loss" in text, text[-3000:]  # a rank's log, on the driver
    assert rc == 128 + signal.SIGINT and "stopped by signal 2" in text, text[-3000:]
    from lipforge.train.checkpoint import CheckpointManager

    latest = CheckpointManager(tmp_path / "run" / "checkpoints").latest()
    assert latest is not None and 2 <= CheckpointManager.load(latest)["step"] < 200
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


def test_used_output_dir_is_refused_before_ray_starts(shards, tmp_path):
    from lipforge.train.ray_launch import launch
    from lipforge.train.rundir import RunDirError

    (tmp_path / "config.yaml").write_text("old run\n")
    with pytest.raises(RunDirError, match="not empty"):
        launch(_cfg(tmp_path, shards), address="local")
    with pytest.raises(RunDirError, match="no committed checkpoint"):
        launch(_cfg(tmp_path, shards), address="local", resume=True)
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()


@pytest.mark.parametrize("field,value,match", [
    ("num_workers", 0, "num_workers must be >= 1"),
    ("gpus_per_worker", 0.5, "gpus_per_worker must be 0"),
    ("cpus_per_worker", 0, "cpus_per_worker must be > 0"),
    ("resources", {"GPU": 1}, "resources"),
    ("placement_strategy", "RANDOM", "placement_strategy"),
    ("max_failures", -1, "max_failures must be >= 0"),
])
def test_cluster_config_names_the_bad_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        ClusterConfig(**{field: value})


def test_cluster_section_round_trips_and_may_change_on_resume(shards, tmp_path):
    from lipforge.train.ray_launch import _bundle
    from lipforge.train.rundir import config_changes

    cfg = _cfg(tmp_path, shards, cluster=ClusterConfig(num_workers=4, gpus_per_worker=1, memory_per_worker_gb=2,
                                                        resources={"train_gpu": 1}, max_failures=5))
    cfg.to_yaml(tmp_path / "t.yaml")
    back = TrainConfig.from_yaml(tmp_path / "t.yaml")
    assert back.cluster == cfg.cluster
    assert _bundle(back) == {"CPU": 1.0, "GPU": 1.0, "memory": float(2 * 2 ** 30), "train_gpu": 1.0}
    d = yaml.safe_load((tmp_path / "t.yaml").read_text())
    assert config_changes(d, {**d, "cluster": {**d["cluster"], "max_failures": 0}}) == []


@pytest.mark.parametrize("argv,match", [
    (["--num-workers", "2"], "give --address"),
    (["--address", "local", "--dry-run"], "--dry-run and --export"),
])
def test_cli_refuses_ray_flags_out_of_place(tmp_path, capsys, argv, match):
    from lipforge.train.cli import main

    with pytest.raises(SystemExit):
        main(["--config", str(tmp_path / "t.yaml"), *argv])
    assert match in capsys.readouterr().err


class _FakeAttempt:
    """Stands in for a gang of ranks: loses a worker ``losses`` times, then returns (or raises ``error``)."""

    calls: list[tuple] = []
    losses = 0
    error: Exception | None = None

    def __init__(self, ray, cfg, local, stop) -> None:
        pass

    def run(self, resume, overwrite, allow_config_change):
        from lipforge.train.ray_launch import _WorkerLost

        _FakeAttempt.calls.append((resume, overwrite, allow_config_change))
        if len(_FakeAttempt.calls) <= _FakeAttempt.losses:
            raise _WorkerLost(f"rank 1: ActorDiedError: loss {len(_FakeAttempt.calls)}")
        if _FakeAttempt.error is not None:
            raise _FakeAttempt.error
        return [{"step": 4, "loss": 0.5}]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("losses,max_failures,error", [(2, 3, None), (3, 2, None), (0, 3, "bad")],
                         ids=["within_budget", "budget_spent", "loop_error_not_retried"])
def test_failure_budget_and_what_a_restart_continues(shards, tmp_path, monkeypatch, losses, max_failures, error):
    from lipforge.train import ray_launch
    from lipforge.train.rundir import RunDirError

    monkeypatch.setattr(ray_launch, "connect", lambda address, num_cpus=None: False)  # no Ray started
    monkeypatch.setattr(ray_launch, "_Attempt", _FakeAttempt)
    monkeypatch.setattr(_FakeAttempt, "calls", [])
    monkeypatch.setattr(_FakeAttempt, "losses", losses)
    monkeypatch.setattr(_FakeAttempt, "error", RunDirError(error) if error else None)
    cfg = _cfg(tmp_path, shards, cluster=ClusterConfig(num_workers=2, max_failures=max_failures))
    if losses > max_failures:
        msg = f"lost {losses} times.*max_failures={max_failures}.*loss {losses}"
        with pytest.raises(ray_launch.TrainingFailed, match=msg):
            ray_launch.launch(cfg, address="local")
    elif error:
        with pytest.raises(RunDirError, match=error):
            ray_launch.launch(cfg, address="local")
    else:
        res = ray_launch.launch(cfg, address="local")
        assert res.restarts == losses and res.history[-1]["step"] == 4
    # the first attempt as asked; every restart continues the last checkpoint (or starts over when
    # none was committed: the directory the driver checked holds only the lost attempt's files)
    assert _FakeAttempt.calls == [(False, False, False)] + [("if-any", True, False)] * min(losses, max_failures)


def test_a_local_run_that_cannot_fit_fails_at_once():
    from lipforge.errors import UserError
    from lipforge.train.ray_launch import _check_fits

    _check_fits({"CPU": 2.0, "memory": 1e10}, {"CPU": 1.0}, 2)
    with pytest.raises(UserError, match="CPU 10 asked .2 workers., 2 there.*GPU 2 asked .2 workers., 0 there"):
        _check_fits({"CPU": 2.0}, {"CPU": 5.0, "GPU": 1.0}, 2)
