"""Evaluation metrics: LipLeak / LipLeak-lite by hand, MAR geometry, SSIM/PSNR, LPIPS/FID from local files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lipforge.infer.eval.metrics import frechet_distance, lip_leak, lip_leak_lite, mouth_aspect_ratio, psnr, ssim


def test_lipleak_matches_hand_computation():
    silent = np.array([0.10, 0.12, 0.08, 0.30, 0.10, 0.26])
    speech = np.array([0.05, 0.45, 0.10, 0.60, 0.20, 0.50])
    # population std, as numpy's default and KeySync's definition
    mean_s = sum(silent) / 6
    std_s = (sum((x - mean_s) ** 2 for x in silent) / 6) ** 0.5
    mean_p = sum(speech) / 6
    std_p = (sum((x - mean_p) ** 2 for x in speech) / 6) ** 0.5
    assert lip_leak(silent, speech) == pytest.approx(std_s / (std_p + 1e-5), rel=1e-12)
    assert lip_leak_lite(silent) == pytest.approx(2 / 6)  # 0.30 and 0.26 exceed 0.25
    assert lip_leak(np.full(5, 0.2), speech) == 0.0  # a still mouth leaks nothing
    assert lip_leak(speech, np.full(5, 0.2)) == pytest.approx(np.std(speech) / 1e-5)  # eps guards the division
    with pytest.raises(ValueError, match="non-empty"):
        lip_leak(np.array([]), speech)


def test_mouth_aspect_ratio_geometry():
    lm = np.zeros((2, 68, 2))
    lm[:, 60], lm[:, 64] = (0, 0), (10, 0)  # mouth corners, width 10
    for top, bot, x in ((61, 67, 3), (62, 66, 5), (63, 65, 7)):
        lm[:, top] = (x, -1)
        lm[0, bot] = (x, 1)  # opening 2
        lm[1, bot] = (x, -1)  # closed
    mar = mouth_aspect_ratio(lm)
    np.testing.assert_allclose(mar, [2 * 3 / (3 * 10), 0.0])
    with pytest.raises(ValueError, match="68, 2"):
        mouth_aspect_ratio(np.zeros((3, 5, 2)))


def test_ssim_psnr():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    assert psnr(a, a) == 100.0 and ssim(a, a) == pytest.approx(1.0)
    b = np.clip(a.astype(int) + 5, 0, 255).astype(np.uint8)
    mse = np.mean((a.astype(float) - b) ** 2)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / mse))
    assert ssim(a, rng.integers(0, 255, a.shape, dtype=np.uint8)) < 0.2
    np.testing.assert_allclose(frechet_distance(np.zeros(3), np.eye(3), np.ones(3), np.eye(3)), 3.0, atol=1e-6)


def test_lpips_and_fid_load_local_weights(tmp_path):
    import torch
    import torchvision

    from lipforge.infer.eval.networks import InceptionFeatures, LPIPSMetric, fid

    with pytest.raises(FileNotFoundError, match="alexnet"):
        LPIPSMetric(tmp_path / "missing.pth")
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), tmp_path / "alex.pth")
    m = LPIPSMetric(tmp_path / "alex.pth")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    assert m(a, a) == pytest.approx(0.0, abs=1e-6)
    assert m(a, 255 - a) > 0
    torch.save(torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(),
               tmp_path / "inc.pth")
    feats = InceptionFeatures(tmp_path / "inc.pth")
    f = feats(a[:1])
    assert f.shape == (1, 2048)
    # the Frechet part on cheap 3-d features (a 2048-d sqrtm is slow for a unit test)
    cheap = lambda x: x.reshape(len(x), -1, 3).mean(1).astype(np.float64)  # noqa: E731
    b = rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    assert fid(b, b, cheap) == pytest.approx(0.0, abs=1e-6)
    assert fid(b, np.clip(b.astype(int) + 40, 0, 255).astype(np.uint8), cheap) > 100


def test_eval_report_writes_json_and_html(tmp_path):
    from lipforge.infer.eval.report import write_report

    result = {"config": {}, "summary": {"n_videos": 1, "psnr": 30.0, "lipleak": 0.2, "lipleak_lite": 0.1},
              "videos": [{"path": "/x/out.mp4", "n_frames": 3, "psnr": 30.0, "mar": [0.1, 0.3, 0.2]}],
              "lipleak": {"mar_silent": [0.1, 0.1], "mar_speech": [0.1, 0.5], "lipleak": 0.2, "lipleak_lite": 0.1}}
    js, html = write_report(result, tmp_path / "rep")
    assert json.loads(js.read_text())["summary"]["psnr"] == 30.0
    text = html.read_text()
    assert "out.mp4" in text and text.count("data:image/png;base64") == 2 and "LipLeak" in text


def test_sync_measure_finds_known_delay(tmp_path):
    """Curation's weight-free sync check through the eval path on a talking head with audio 3 frames late."""
    from lipforge.infer.eval.evaluate import measure_sync
    from lipforge.infer.prepare import load_audio, load_source
    from lipforge.testing import make_talking_head

    v = make_talking_head(tmp_path / "d.mp4", seconds=3.0, size=(160, 160), face_px=110, delay_frames=3)
    r = measure_sync(load_source(v.path), load_audio(v.path))
    assert r["backend"] == "offline"
    assert abs(r["offset"] - 3) <= 1 and r["conf"] > 0
