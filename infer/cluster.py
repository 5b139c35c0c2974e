"""What a batch asks of a Ray cluster, without importing Ray: GPUs to wait for, prepared jobs to hold.

* An autoscaling cluster (``ray_cluster.yaml``: GPU workers at ``min_workers: 0``) has no GPU
  when the batch starts. :func:`wait_for_gpus` asks the autoscaler for them (a resource request)
  and waits, bounded and saying so, until they join, instead of failing on the empty cluster.
* :func:`plan_actors` sizes the model-actor pool from the GPUs present (one actor per GPU by
  default, ``--num-actors`` to choose).
* :class:`PrepareSlots` bounds the jobs prepared but not yet sampled: their crop files sit on the
  work dir's disk, and Ray Data's backpressure counts object-store bytes, not those files (a
  row is a path). A prepare task takes a slot (a file under ``<work>/prepared/``) before it
  decodes and the model actor gives it back when it has sampled the job.

The functions take the cluster's state as callables, so a test can play an autoscaling cluster.

>>> wait_for_gpus(lambda: 2.0, 1.0, timeout_s=0, log=print)
2.0
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Callable


def wait_for_gpus(cluster_gpus: Callable[[], float], need: float, timeout_s: float, log: Callable[[str], None],
                  request: Callable[[], None] | None = None, poll_s: float = 5.0,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> float:
    """The cluster's GPU count once at least ``need`` are there; ``request()`` first asks the
    autoscaler for them. After ``timeout_s`` without them: ValueError (one line) naming the wait."""
    have = float(cluster_gpus())
    if have >= need:
        return have
    if request is not None:
        request()
    log(f"lipforge infer: the Ray cluster has {have:g} GPU(s), the model actors need {need:g}; waiting up to "
        f"{timeout_s:g} s for GPU nodes to join (--gpu-wait)")
    start = clock()
    while True:
        have = float(cluster_gpus())
        if have >= need:
            log(f"lipforge infer: {have:g} GPU(s) joined after {clock() - start:.0f} s")
            return have
        left = timeout_s - (clock() - start)
        if left <= 0:
            break
        sleep(min(poll_s, left))
    raise ValueError(f"the Ray cluster has {have:g} GPU(s) after waiting {timeout_s:g} s for {need:g} "
                     "(are GPU workers allowed to start? see ray_cluster.yaml's gpu_worker); raise --gpu-wait, "
                     "or pass --device cpu to run the model actors on CPUs")


def plan_actors(num_actors: int | None, gpus_per_actor: float, cluster_gpus: float) -> int:
    """Model actors: ``num_actors``, or one per ``gpus_per_actor`` GPUs the cluster has (at least one)."""
    if num_actors is not None:
        return int(num_actors)
    if gpus_per_actor <= 0:
        return 1
    return max(1, int(cluster_gpus // gpus_per_actor + 1e-9))


class PrepareSlots:
    """At most ``limit`` jobs prepared and not yet sampled; slots are files under ``<work>/prepared``
    (work dir storage is shared by every node, see docs/inference.md), so every node sees them.

    >>> slots = PrepareSlots("work", 4)     # doctest: +SKIP
    >>> slots.take("job1"); slots.give("job1")   # doctest: +SKIP
    """

    def __init__(self, work_dir: str | Path, limit: int, poll_s: float = 0.5) -> None:
        if limit < 1:
            raise ValueError(f"max_prepared must be >= 1, got {limit}")
        self.dir = Path(work_dir) / "prepared"
        self.limit, self.poll_s = int(limit), poll_s

    def clear(self) -> None:
        """At the start of a run: slots of a killed run's jobs are not held by anyone."""
        if self.dir.is_dir():
            for p in self.dir.iterdir():
                p.unlink(missing_ok=True)

    def held(self) -> int:
        return len(os.listdir(self.dir)) if self.dir.is_dir() else 0

    def take(self, job_id: str, timeout_s: float = 24 * 3600.0) -> None:
        """Block until a slot is free, then hold it for ``job_id`` (an atomic file create, then a count:
        two tasks racing for the last slot do not both keep it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        mine = self.dir / job_id
        deadline = time.monotonic() + timeout_s
        while True:
            mine.touch()
            if self.held() <= self.limit:
                return
            mine.unlink(missing_ok=True)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no prepare slot freed in {timeout_s:g} s ({self.limit} held under {self.dir})")
            time.sleep(self.poll_s * (0.5 + random.random()))  # jitter: racing tasks do not retry in step

    def give(self, job_id: str) -> None:
        (self.dir / job_id).unlink(missing_ok=True)
