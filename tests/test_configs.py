"""The shipped run configs load into the typed dataclasses (every field exists, every value valid)."""
from pathlib import Path

import pytest

from lipforge.pipeline.stages.config import RunConfig

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_config_loads(path):
    cfg = RunConfig.load(path)
    assert cfg.stage_config("faces").min_face_px == 228.0


def test_missing_weights_named_when_stages_are_built(tmp_path):
    from lipforge.pipeline.stages.build import build_stages

    cfg = RunConfig.load(CONFIGS[0])
    import dataclasses

    cfg = dataclasses.replace(cfg, models_dir=str(tmp_path))
    with pytest.raises(Exception) as e:
        build_stages(cfg)
    assert str(tmp_path) in str(e.value)


def test_cli_reports_a_missing_model_file_without_a_traceback(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "lipforge.cli", "curate", "--input", str(tmp_path), "--output",
                        str(tmp_path / "out"), "--config", str(CONFIGS[0]), "--models-dir", str(tmp_path / "models")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "yolov8n-face.pt" in r.stderr and str(tmp_path / "models") in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()
