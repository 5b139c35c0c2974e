"""The Ray runner's dataflow with every default stage on: the same outputs as the local runner,
fused and named operators, compact rows, and an in-process Ray reachable from loopback only."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.pipeline.runners.test_runners import assert_same_shards, read_outputs

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def talking(tmp_path_factory) -> Path:
    from lipforge.testing import make_talking_head

    d = tmp_path_factory.mktemp("talking")
    make_talking_head(d / "a.mp4", seconds=3.0, seed=0)  # 384 px, a 260 px face: kept by the defaults
    make_talking_head(d / "b.mp4", seconds=2.5, seed=1)
    return d


def curate_cmd(inp: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lipforge.cli", "curate", "--input", str(inp), "--output", str(out), *extra]


def run_watching_sockets(cmd: list[str]) -> tuple[subprocess.CompletedProcess, set]:
    """Run ``cmd``; every TCP socket any process of its tree listens on, sampled while it runs."""
    import psutil

    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    listening: set = set()
    out = {}
    th = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), proc.communicate())))
    th.start()
    root = psutil.Process(proc.pid)
    while th.is_alive():
        try:
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                for c in p.net_connections(kind="tcp"):
                    if c.status == psutil.CONN_LISTEN:
                        listening.add((p.name(), c.laddr.ip, c.laddr.port))
            except psutil.Error:
                pass
        th.join(0.3)
    r = subprocess.CompletedProcess(cmd, proc.returncode, out["stdout"], out["stderr"])
    assert r.returncode == 0, r.stderr[-3000:]
    return r, listening


@pytest.fixture(scope="module")
def local_default(talking, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    subprocess.run(curate_cmd(talking, out, "--runner", "local"), cwd=REPO, check=True, capture_output=True,
                   timeout=600)
    return out


def test_default_stages_fused_on_loopback_equal_local(talking, local_default, tmp_path):
    out = tmp_path / "out"
    r, listening = run_watching_sockets(curate_cmd(talking, out, "--num-cpus", "2"))
    a, b = read_outputs(local_default), read_outputs(out)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    assert_same_shards(a[2], b[2])
    assert sum(1 for row in b[0].to_pylist() if row["status"] == "kept") >= 1
    flow = json.loads(next((out / "work" / "dataflow").glob("*.json")).read_text())
    name = "decode+speech+faces+landmarks+crop+quality+asd+sync+write"
    assert [o["name"] for o in flow["operators"]] == [name] and flow["operators"][0]["actors"] == 2
    assert flow["operators"][0]["memory"] > 1 << 30
    assert f"MapBatches({name})" in r.stderr  # Ray's own progress names the operator
    assert 0 < flow["bytes_per_video_s"] < 20_000  # counts only: no pixels leave the decoder
    assert "curate/ray" in r.stderr and "clips" in r.stderr  # lipforge's progress line
    assert listening, "no listening socket was seen: the check saw nothing"
    assert {ip for _, ip, _ in listening} <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, listening


@pytest.mark.slow
def test_stage_with_other_resources_gets_its_operator_and_compact_rows(talking, local_default, tmp_path):
    """quality on half a CPU: its own operator, fed the 320 px crops, same outputs as local."""
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"stages": {"quality": {"num_cpus": 0.5}}}))
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    subprocess.run(curate_cmd(talking, local, "--runner", "local", "--config", str(cfg)), cwd=REPO, check=True,
                   capture_output=True, timeout=600)
    subprocess.run(curate_cmd(talking, ray_out, "--num-cpus", "2", "--config", str(cfg)), cwd=REPO, check=True,
                   capture_output=True, timeout=600)
    a, b = read_outputs(local), read_outputs(ray_out)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    assert_same_shards(a[2], b[2])
    flow = json.loads(next((ray_out / "work" / "dataflow").glob("*.json")).read_text())
    assert [o["name"] for o in flow["operators"]] == ["decode+speech+faces+landmarks+crop", "quality+asd",
                                                      "sync+write"]
    # crops cross (2 hops of 320x320x3 per frame at 25 fps), never the 384 px working frames
    crop_hop = 320 * 320 * 3 * 25
    assert crop_hop <= flow["bytes_per_video_s"] < 2.5 * crop_hop
