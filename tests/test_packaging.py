"""Packaging: one `lipforge` namespace over the user's folders, and a CLI that reports user errors."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MAPPED = PYPROJECT["tool"]["setuptools"]["package-dir"]


def test_every_package_folder_is_declared():
    declared = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set()
    for name, folder in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == declared, f"missing from pyproject packages: {found - declared}; stale: {declared - found}"


def _run(args, cwd, **kw):
    env = {**os.environ, "PYTHONPATH": kw.pop("pythonpath", "")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:  # build from a copy, so no build/ folder appears in the checkout
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            (src / f).write_bytes((ROOT / f).read_bytes())
    r = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
             cwd=out)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("lipforge-*.whl")
    return whl


def test_wheel_installs_only_the_lipforge_namespace(wheel, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"lipforge"}
    for part in ("pipeline/run/curate.py", "train/loop.py", "infer/pipeline.py", "manifests/container.py", "py.typed"):
        assert f"lipforge/{part}" in names
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: Apache-2.0" in text and "Requires-Python: >=3.11" in text
    # installed into a new venv (its other dependencies seen through a .pth to this environment's
    # site-packages, whose editable finder is then not active) and run from a folder holding
    # train.py and pipeline.py that would break any top-level `train` / `pipeline` import
    import sysconfig

    venv = tmp_path / "venv"
    r = _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    vpy = venv / "bin" / "python"
    purelib = _run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).stdout.strip()
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = _run([sys.executable, "-m", "pip", "--python", str(vpy), "install", "-q", "--no-deps", str(wheel)], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    work = tmp_path / "work"
    work.mkdir()
    for name in ("train.py", "pipeline.py", "infer.py", "manifests.py"):
        (work / name).write_text("raise SystemExit('the user module was imported')\n")
    r = _run([str(vpy), "-c", "import lipforge.train.loop, lipforge.pipeline.run.curate, lipforge.infer.pipeline, "
              "lipforge; print(lipforge.__file__)"], cwd=work)
    assert r.returncode == 0 and r.stdout.strip().startswith(purelib), r.stdout + r.stderr
    r = _run([str(venv / "bin" / "lipforge"), "--version"], cwd=work)
    assert r.returncode == 0 and r.stdout.startswith("lipforge "), r.stdout + r.stderr


def test_torchrun_module_from_a_folder_with_train_py(tmp_path):
    for name in ("train.py", "pipeline.py"):
        (tmp_path / name).write_text("raise SystemExit('the user module was imported')\n")
    r = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "-m", "lipforge.cli",
              "train", "--help"], cwd=tmp_path)
    assert r.returncode == 0 and "--config" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]


def test_version():
    from lipforge import __version__

    r = _run([sys.executable, "-m", "lipforge.cli", "--version"], cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == f"lipforge {__version__}" and __version__ == PYPROJECT["project"]["version"]


@pytest.mark.parametrize("argv, needle", [
    (["curate", "--input", "{missing}", "--output", "{tmp}/out"], "{missing}"),
    (["curate", "--input", "{tmp}", "--output", "{tmp}/out", "--config", "{bad_key}"], "nonsense_key"),
    (["train", "--config", "{missing}"], "{missing}"),
    (["train", "--config", "{bad_key}"], "nonsense_key"),
    (["train", "--config", "{no_model}"], "svd_dir"),
    (["infer", "--video", "{missing}", "--audio", "{missing}", "--out", "{tmp}/o.mp4", "--checkpoint", "{tmp}/nockpt"],
     "{missing}"),
    (["eval", "--generated", "{missing}", "--out-dir", "{tmp}/ev"], "{missing}"),
])
def test_user_errors_are_one_line_with_exit_code_2(tmp_path, argv, needle):
    (tmp_path / "bad_key.yaml").write_text("nonsense_key: 1\n")
    (tmp_path / "no_model.yaml").write_text("max_steps: 1\n")
    subs = {"missing": str(tmp_path / "missing.mp4"), "tmp": str(tmp_path), "bad_key": str(tmp_path / "bad_key.yaml"),
            "no_model": str(tmp_path / "no_model.yaml")}
    argv = [a.format(**subs) for a in argv]
    r = _run([sys.executable, "-m", "lipforge.cli", *argv], cwd=tmp_path)
    lines = [x for x in r.stderr.splitlines() if x.strip() and "warn" not in x.lower()]
    assert r.returncode == 2, r.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(f"lipforge {argv[0]}: ") and needle.format(**subs) in lines[0], r.stderr


def test_debug_shows_the_traceback(tmp_path):
    """``--debug`` lets a user error raise (one case: the dispatcher is the same for every command)."""
    (tmp_path / "bad_key.yaml").write_text("nonsense_key: 1\n")
    r = _run([sys.executable, "-m", "lipforge.cli", "--debug", "curate", "--input", str(tmp_path), "--output",
              str(tmp_path / "out"), "--config", str(tmp_path / "bad_key.yaml")], cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr and "nonsense_key" in r.stderr, r.stderr[-3000:]


def test_argument_and_config_checks_import_no_torch(tmp_path):
    """A user error in arguments or a config answers in a fraction of a second: ``lipforge infer``'s
    parser, a batch config and ``lipforge train``'s config checks import no torch or diffusers
    (they took 3.5 and 12 s here when they did)."""
    (tmp_path / "t.yaml").write_text("max_steps: 1\n")
    code = ("import sys; from lipforge.infer.cli import _infer_parser; _infer_parser(); "
            "from lipforge.infer.jobs import BatchConfig; from lipforge.train.config import TrainConfig\n"
            f"try: TrainConfig.from_yaml({str(tmp_path / 't.yaml')!r})\nexcept ValueError: pass\n"
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    r = _run([sys.executable, "-c", code], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr[-2000:]
