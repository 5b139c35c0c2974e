"""scripts/gpu-check.sh: its command line, and the skip on a machine without CUDA."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu-check.sh"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LIPFORGE_VENV": sys.prefix}  # this interpreter, as set-up's venv would be
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env)


def test_lists_checks_and_refuses_unknown_ones():
    r = _run("--list")
    assert r.returncode == 0 and r.stdout.split() == ["train-bf16", "train-fp16", "resume", "full-preset", "infer",
                                                      "curation"]
    r = _run("--only", "warp-drive")
    assert r.returncode == 2 and "invalid choice: 'warp-drive'" in r.stderr
    r = _run("--help")
    assert r.returncode == 0 and "full-preset" in r.stdout and "--work" in r.stdout


def test_without_cuda_it_skips_with_exit_0():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the script would run its checks")
    r = _run()
    assert r.returncode == 0, r.stderr[-2000:]
    assert "needs a CUDA GPU" in r.stdout and "skipped" in r.stdout
