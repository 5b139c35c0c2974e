"""The shipped full-size training presets load, and ``--dry-run`` sizes them without any weights."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lipforge.train.config import TrainConfig

PRESETS = sorted((Path(__file__).resolve().parents[2] / "configs" / "train").glob("*.yaml"))


@pytest.mark.parametrize("path", PRESETS, ids=[p.name for p in PRESETS])
def test_preset_is_a_valid_train_config(path):
    cfg = TrainConfig.from_yaml(path)
    assert (cfg.model.num_frames, cfg.model.resolution, cfg.optim.lr) == (16, 320, 6e-5)
    assert cfg.model.svd_dir and cfg.model.whisper_dir and cfg.model.gradient_checkpointing
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_presets_differ_in_the_keysync_choices():
    by = {p.stem: TrainConfig.from_yaml(p) for p in PRESETS}
    assert by["sayanything"].data.mask_field == "mask_adaptive" and by["keysync"].data.mask_field == "mask_keysync"
    assert by["keysync"].loss.pixel_loss_weight > 0 == by["sayanything"].loss.pixel_loss_weight


def test_dry_run_builds_the_svd_model_on_meta_and_prints_sizes_and_memory(tmp_path):
    preset = next(p for p in PRESETS if p.stem == "sayanything")
    r = subprocess.run([sys.executable, "-m", "lipforge.cli", "train", "--config", str(preset), "--dry-run"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)  # the model dirs do not exist here
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    counts = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(r"^(\w[\w ()]*?)\s+([\d.]+) M$", out, re.M)}
    assert counts["unet"] == pytest.approx(1524.6, abs=0.1)  # SVD img2vid UNet, conv_in 8 channels
    assert counts["id_guider"] == pytest.approx(97.3, abs=0.1)  # the paper: about 98 M
    assert "SayAnything reports about 98 M" in out and "lr: 6.0e-05" in out
    guider = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(r"^  (\w[\w ()+,-]*?)\s+([\d.]+) M", out, re.M)}
    assert guider["mid block (ResnetBlock2D)"] == pytest.approx(29.50, abs=0.01)
    assert guider["level downsamplers (pool)"] == 0 and guider["total"] == pytest.approx(97.26, abs=0.01)
    assert "97,258,208" in out
    gib = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(r"^(\w[\w ()+-]*?)\s+([\d.]+) GiB", out, re.M)}
    assert gib["AdamW moments (fp32)"] == pytest.approx(2 * gib["trainable weights fp32"], rel=1e-3)
    # measured on the meta device; the temporal blocks are checkpointed too (they held 6.85 GiB)
    assert 0 < gib["activations saved for backward"] < 3
    assert "0.00 GiB in temporal blocks; without checkpointing" in out
    assert gib["autocast bf16 weight copies"] == pytest.approx(gib["trainable weights fp32"] / 2, rel=1e-3)
    assert "warning: LipSyncModelConfig.svd_dir: directory models/stable-video-diffusion-img2vid-xt" in out
    assert gib["estimated total"] > sum(v for k, v in gib.items() if k != "estimated total") - 0.05
    assert not (tmp_path / "runs").exists()  # nothing written
