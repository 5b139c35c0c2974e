"""The batch planner against an autoscaling cluster's state, and the bound on prepared jobs."""
from __future__ import annotations

import threading

import pytest


class FakeAutoscalingCluster:
    """GPU workers at min_workers 0: no GPU until the autoscaler was asked and ``boot_s`` passed."""

    def __init__(self, boot_s: float, gpus_per_node: float = 1.0, nodes: int = 2) -> None:
        self.t, self.boot_s, self.asked_at = 0.0, boot_s, None
        self.gpus_per_node, self.nodes, self.requests = gpus_per_node, nodes, []

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s

    def request(self, bundles=None) -> None:
        self.requests.append(bundles)
        self.asked_at = self.t

    def gpus(self) -> float:
        up = self.asked_at is not None and self.t - self.asked_at >= self.boot_s
        return self.gpus_per_node * self.nodes if up else 0.0


def test_planner_waits_for_gpu_nodes_then_sizes_the_pool():
    from lipforge.infer.cluster import plan_actors, wait_for_gpus

    c = FakeAutoscalingCluster(boot_s=95.0)
    lines: list[str] = []
    have = wait_for_gpus(c.gpus, 1.0, timeout_s=600, log=lines.append, request=lambda: c.request([{"GPU": 1}]),
                         poll_s=5, clock=c.clock, sleep=c.sleep)
    assert have == 2.0 and c.requests == [[{"GPU": 1}]] and 95 <= c.t <= 100
    assert "waiting up to 600 s" in lines[0] and "joined after" in lines[-1]
    assert plan_actors(None, 1.0, have) == 2  # one actor per GPU by default
    assert plan_actors(None, 0.5, have) == 4 and plan_actors(3, 1.0, have) == 3


def test_planner_gives_up_after_the_bounded_wait():
    from lipforge.infer.cluster import wait_for_gpus

    c = FakeAutoscalingCluster(boot_s=10_000.0)
    with pytest.raises(ValueError, match="0 GPU.*after waiting 60 s.*--gpu-wait"):
        wait_for_gpus(c.gpus, 1.0, timeout_s=60, log=lambda s: None, request=c.request, poll_s=5, clock=c.clock,
                      sleep=c.sleep)
    assert c.t == pytest.approx(60.0)


def test_run_ray_waits_on_a_joined_cluster(monkeypatch, tmp_path):
    """The driver path: joining a cluster (``--ray-address auto``) with no GPU yet waits and asks
    the autoscaler instead of stopping with "the Ray cluster has no GPU"."""
    import ray

    from lipforge.infer import batch
    from lipforge.infer.jobs import BatchConfig

    c = FakeAutoscalingCluster(boot_s=0.0)
    monkeypatch.setattr(batch, "_start_ray", lambda cfg: False)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0, "GPU": c.gpus()})
    monkeypatch.setattr(batch, "_request_gpus", c.request)
    seen = {}

    def stop_at_dataset(*a, **kw):
        seen["planned"] = True
        raise RuntimeError("planned")

    monkeypatch.setattr(ray.data, "from_items", stop_at_dataset)
    lines: list[str] = []
    cfg = BatchConfig(checkpoint=None, work_dir=str(tmp_path), ray_address="auto", gpu_wait_s=30)
    with pytest.raises(RuntimeError, match="planned"):
        batch._run_ray([{"job_id": "a"}], cfg, 32, None, lines.append, "", {}, lambda r: None)
    assert seen and c.requests[0] == [{"GPU": 1.0}] and c.requests[-1] == []  # asked, then released
    assert any("2 model actor(s) x 1 GPU" in line and "at most 4 job(s) prepared" in line for line in lines), lines


def test_prepare_slots_bound_the_prepared_jobs(tmp_path):
    from lipforge.infer.cluster import PrepareSlots

    slots = PrepareSlots(tmp_path, 2, poll_s=0.01)
    slots.take("a")
    slots.take("b")
    third = threading.Thread(target=slots.take, args=("c",))
    third.start()
    third.join(0.3)
    assert third.is_alive() and slots.held() == 2  # waits: two jobs are prepared and not sampled
    slots.give("a")  # the model sampled one
    third.join(5)
    assert not third.is_alive() and sorted(p.name for p in slots.dir.iterdir()) == ["b", "c"]
    slots.clear()
    assert slots.held() == 0
