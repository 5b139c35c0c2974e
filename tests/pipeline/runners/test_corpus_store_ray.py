"""The corpus-store cases on the Ray runner: batches, a content change, a threshold change and
the lock (the driver holds it while Ray workers write)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lipforge.testing.corpus import curate, fresh, make_media, path_list, published, write_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.ray
@pytest.mark.slow
def test_ray_runner_batches_content_threshold_and_lock(tmp_path, capsys):
    media = make_media(tmp_path / "media")
    d = tmp_path / "in"
    d.mkdir()
    a, c = (Path(shutil.copy2(media[k], d / f"{k}.mp4")) for k in "ac")
    lists = tmp_path / "lists"
    base = write_config(tmp_path / "base.yaml", speech={"min_speech_ratio": 0.3})
    out = tmp_path / "out"
    assert curate(out, "--input", str(path_list(lists, [a])), cfg=base, runner="ray") == 0
    # the second batch runs on Ray in another process; a writer that starts meanwhile is refused
    cmd = [sys.executable, "-m", "lipforge.cli", "curate", "--output", str(out), "--config", str(base),
           "--num-cpus", "2", "--input", str(path_list(lists, [c]))]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = out / ".curate.lock"
    deadline = time.time() + 120
    while time.time() < deadline and str(proc.pid) not in (lock.read_text() if lock.exists() else ""):
        time.sleep(0.1)
    capsys.readouterr()
    assert curate(out, "--input", str(path_list(lists, [c])), cfg=base) == 2
    assert f"pid {proc.pid}" in capsys.readouterr().err
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    assert published(out) == fresh(tmp_path, [a, c], base)

    shutil.copy2(media["b"], a)  # replaced content
    tight = write_config(tmp_path / "tight.yaml", speech={"min_speech_ratio": 0.99})
    assert curate(out, "--input", str(path_list(lists, [a])), cfg=tight, runner="ray") == 0
    assert published(out) == fresh(tmp_path, [a, c], tight)
