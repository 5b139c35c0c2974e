"""A 3-node Ray cluster on this machine (head + 2 `ray start --address` workers) loses a worker
node mid-run: the run completes or fails with a message, and a rerun ends byte-identical to an
uninterrupted run. Slow (three `ray start`s, two curations)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline.runners.local_cluster import cluster_env, free_port, raylets, start_node, stop_cluster
from tests.pipeline.runners.test_runners import assert_same_shards, read_outputs, spine_config

REPO = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def many_sources(tmp_path_factory) -> Path:
    from lipforge.testing import make_talking_head

    d = tmp_path_factory.mktemp("many")
    for i in range(6):
        make_talking_head(d / f"s{i}.mp4", seconds=4.0, size=(96, 96), face_px=60, seed=i)
    return d


def test_worker_node_killed_mid_run_then_rerun_is_identical(many_sources, tmp_path):
    port = free_port()
    env = cluster_env()
    cfg = spine_config(tmp_path / "run.yaml", max_clip_s=2.0)
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, "-m", "lipforge.cli", "curate", "--input", str(many_sources), "--output",
                    str(ref), "--config", str(cfg), "--runner", "local"], cwd=REPO, check=True,
                   capture_output=True, timeout=600)
    try:
        start_node(port, head=True, num_cpus=0)  # the head only drives, as in ray_cluster.yaml
        for _ in range(2):
            start_node(port, head=False, num_cpus=1)
        nodes = raylets(port)
        assert len(nodes) == 3, nodes
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "lipforge.cli", "curate", "--input", str(many_sources), "--output", str(out),
               "--config", str(cfg), "--address", f"127.0.0.1:{port}"]
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        groups = out / "work" / "groups"
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and len(list(groups.rglob("*.parquet"))) < 2:
            time.sleep(0.1)
        killed_mid_run = proc.poll() is None
        os.kill(nodes[-1], signal.SIGKILL)  # the last worker node: its raylet and, with it, its workers
        so, se = proc.communicate(timeout=600)
        if proc.returncode != 0:  # allowed: a clear message, not a hang
            assert se.strip(), "the run failed without saying why"
        print(f"run with a node killed: exit {proc.returncode}; "
              f"{len(list(groups.rglob('*.parquet')))} candidates durable before the rerun")
        rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        a, b = read_outputs(ref), read_outputs(out)
        assert a[0].equals(b[0]) and a[1].equals(b[1])
        assert_same_shards(a[2], b[2])
        assert killed_mid_run, "the run ended before the node was killed: the test saw no node loss"
    finally:
        stop_cluster(port)
