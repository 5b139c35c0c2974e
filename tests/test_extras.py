"""The core install (no extras) is enough for the default `lipforge curate`: run it with every
extra's packages made unimportable and check that it curates."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# import names of the packages that only the extras bring (pyproject [project.optional-dependencies])
EXTRA_MODULES = ["ultralytics", "pyiqa", "timm", "face_alignment", "diffusers", "transformers", "tensorboard",
                 "pandas", "lpips", "torchvision", "skimage", "librosa", "duckdb", "importlinter", "pytest"]

BLOCK = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{name} belongs to an extra, not the core install')
sys.meta_path.insert(0, Block())
from lipforge.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_extra_modules_list_matches_pyproject():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    dists = {r.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
             for reqs in extras.values() for r in reqs if not r.startswith("lipforge")}
    to_module = {"face-alignment": "face_alignment", "scikit-image": "skimage", "import-linter": "importlinter"}
    assert {to_module.get(d, d) for d in dists} == set(EXTRA_MODULES)


def test_default_curate_runs_on_the_core_install(tmp_path):
    from lipforge.testing import make_talking_head

    make_talking_head(tmp_path / "in" / "a.mp4", seconds=2.5, size=(256, 256), face_px=200)
    code = f"BLOCKED = {set(EXTRA_MODULES)!r}\n" + BLOCK
    r = subprocess.run([sys.executable, "-c", code, "curate", "--runner", "local", "--input", str(tmp_path / "in"),
                        "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["sources"]["in"] == 1 and summary["clips"]["rows"] >= 1
