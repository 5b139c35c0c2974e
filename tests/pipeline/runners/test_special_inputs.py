"""A FIFO named like a video in the input folder: both runners finish (it is never opened; a
run once sat in ``fifo_open`` for good) and it is a source row with reason ``not_a_file``; the
names the folder listing skips are counted, printed and listed in summary.json."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.pipeline.runners.test_runners import spine_config

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("runner", ["local", pytest.param("ray", marks=[pytest.mark.ray, pytest.mark.slow])])
def test_fifo_in_the_input_folder_does_not_hang(runner, tmp_path):
    from lipforge.testing import make_talking_head

    d = tmp_path / "in"
    d.mkdir()
    make_talking_head(d / "a.mp4", seconds=3.0, size=(64, 64), face_px=40, seed=0)
    os.mkfifo(d / "pipe.mp4")
    (d / "notes.txt").write_text("not a video")
    (d / ".DS_Store").write_bytes(b"\0")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lipforge.cli", "curate", "--input", str(d), "--output", str(out),
           "--config", str(spine_config(tmp_path / "run.yaml")), "--runner", runner]
    if runner == "ray":
        cmd += ["--num-cpus", "1"]
    t0 = time.time()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)  # a hang fails here
    print(f"{runner} runner with a FIFO in the input: exit {r.returncode} in {time.time() - t0:.1f} s")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {Path(s["path"]).name: s for s in pq.read_table(out / "manifests" / "sources.parquet").to_pylist()}
    assert (rows["pipe.mp4"]["status"], rows["pipe.mp4"]["reason"]) == ("dropped", "not_a_file")
    assert rows["a.mp4"]["status"] == "ok"
    assert "skipped 2 names" in r.stderr and "1 hidden, 1 other_extension" in r.stderr
    skipped = json.loads((out / "summary.json").read_text())["inputs_skipped"]
    assert skipped["by_reason"] == {"hidden": 1, "other_extension": 1}
    assert sorted(Path(f["path"]).name for f in skipped["files"]) == [".DS_Store", "notes.txt"]
