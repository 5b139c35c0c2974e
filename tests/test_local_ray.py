"""lipforge.local_ray: the one place a private loopback-only Ray is started (curate, infer, train).

ray.init is replaced here (the test process refuses a real one, tests/conftest.py); the tests that
start a real local Ray and list its listening sockets are tests/pipeline/runners/test_ray_dataflow.py,
tests/train/test_ray_launch.py and tests/infer/test_infer_batch.py."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from lipforge.local_ray import LOOPBACK_ENV, RayStart, is_local, start_ray

ray = pytest.importorskip("ray")


@pytest.fixture(autouse=True)
def _keep_sigterm():
    before = signal.getsignal(signal.SIGTERM)  # RayStart.begin sets ray.init's handler, as ray.init does
    yield
    signal.signal(signal.SIGTERM, before)


@pytest.fixture
def fake_init(monkeypatch):
    """Records each ray.init call: its kwargs, the single-node switch then, the calling thread."""
    calls: list[dict] = []
    up = {"v": False}

    def init(**kw):
        calls.append({**kw, "_switch": os.environ.get(LOOPBACK_ENV), "_thread": threading.current_thread()})
        up["v"] = True

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: up["v"])
    monkeypatch.delenv(LOOPBACK_ENV, raising=False)
    return calls, up


def test_local_start_sets_single_node_mode_only_while_ray_starts(fake_init, monkeypatch):
    calls, up = fake_init
    assert start_ray(None, num_cpus=2)
    c = calls[-1]
    assert c["address"] == "local" and c["num_cpus"] == 2 and c["include_dashboard"] is False
    assert c["_switch"] == "0"  # read by the processes ray.init starts: 127.0.0.1 only
    assert LOOPBACK_ENV not in os.environ  # not left set for a later (multi-node) cluster
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"
    import ray._private.ray_constants as rc

    assert rc.ENABLE_RAY_CLUSTER is False
    assert not start_ray("local")  # already connected: nothing started, nothing to shut down
    assert len(calls) == 1
    up["v"] = False
    monkeypatch.setenv(LOOPBACK_ENV, "1")  # a user's own value comes back afterwards
    assert start_ray("local")
    assert calls[-1]["_switch"] == "0" and os.environ[LOOPBACK_ENV] == "1"


def test_joining_a_cluster_sets_no_switch_and_no_size(fake_init):
    calls, _ = fake_init
    assert start_ray("auto", num_cpus=4)
    c = calls[-1]
    assert c["address"] == "auto" and "num_cpus" not in c and "include_dashboard" not in c
    assert c["_switch"] is None
    assert is_local(None) and is_local("local") and not is_local("ray://h:10001")


def test_background_start_keeps_its_thread_until_released(fake_init):
    """Ray's processes die with the thread that started them (PR_SET_PDEATHSIG): it must live on."""
    calls, _ = fake_init
    start = RayStart.begin("local", num_cpus=1)
    assert start.wait() is True
    assert calls[-1]["_thread"] is not threading.main_thread()
    assert start._thread.is_alive() and start.seconds >= 0 and start.waited_s >= 0
    start.release()
    start._thread.join(5)
    assert not start._thread.is_alive()


def test_background_start_error_is_raised_by_wait(monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)

    def boom(**kw):
        raise RuntimeError("no raylet")

    monkeypatch.setattr(ray, "init", boom)
    start = RayStart.begin("local")
    with pytest.raises(RuntimeError, match="no raylet"):
        start.wait()
    start._thread.join(5)
    assert not start._thread.is_alive() and LOOPBACK_ENV not in os.environ


def test_curate_runner_stops_an_early_start_no_run_used(monkeypatch):
    """``lipforge curate`` starts Ray while it plans; when nothing is left to do, the runner's
    wait_closed stops that Ray and lets the starting thread go (a Ray left running would leak)."""
    from lipforge.pipeline.run.runners.ray_runner import RayRunner
    from lipforge.pipeline.stages.config import RunConfig

    events: list[str] = []

    class FakeStart:
        seconds = waited_s = 0.0

        def wait(self):
            events.append("wait")
            return True

        def release(self):
            events.append("release")

    monkeypatch.setattr(RayStart, "begin", classmethod(lambda cls, address, **kw: events.append(f"begin {kw}") or FakeStart()))
    monkeypatch.setattr(ray, "shutdown", lambda: events.append("shutdown"))
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    runner = RayRunner(RunConfig(), address=None, num_cpus=1)
    runner.start_early()
    runner.start_early()  # once
    runner.wait_closed()
    assert events == ["begin {'num_cpus': 1}", "wait", "shutdown", "release"]
    runner.wait_closed()  # nothing left to stop
    assert len(events) == 4
