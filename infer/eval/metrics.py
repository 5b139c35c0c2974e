"""Lip-sync evaluation metrics on plain arrays: MAR, LipLeak, LipLeak-lite, SSIM and PSNR.

Pure numpy (scikit-image for SSIM), so a test can check them against a hand computation and the
report can recompute them from saved landmarks without a model.

MAR (mouth aspect ratio) is the inner-lip opening over the mouth width on the 68-point scheme
(0-based): (|p61 - p67| + |p62 - p66| + |p63 - p65|) / (3 |p60 - p64|). It is about 0 for a closed
mouth and 0.3-0.6 for an open one, which is what KeySync's 0.25 threshold for LipLeak-lite assumes.

>>> import numpy as np
>>> round(lip_leak(np.array([0.1, 0.1, 0.1]), np.array([0.0, 0.4, 0.2])), 6)  # a still mouth: no leak
0.0
>>> lip_leak_lite(np.array([0.1, 0.3, 0.5, 0.2]))
0.5
"""
from __future__ import annotations

import numpy as np

LIPLEAK_EPS = 1e-5
LIPLEAK_LITE_THRESHOLD = 0.25


def mouth_aspect_ratio(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) landmarks -> (...,) inner-lip MAR."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape[-2:] != (68, 2):
        raise ValueError(f"mouth_aspect_ratio wants (..., 68, 2) landmarks, got {lm.shape}")
    d = lambda i, j: np.linalg.norm(lm[..., i, :] - lm[..., j, :], axis=-1)  # noqa: E731
    width = d(60, 64)
    return (d(61, 67) + d(62, 66) + d(63, 65)) / (3.0 * np.maximum(width, 1e-6))


def lip_leak(mar_silent: np.ndarray, mar_speech: np.ndarray) -> float:
    """KeySync LipLeak: std(MAR | silent audio) / (std(MAR | speech audio) + 1e-5).

    Near 0 when the mouth stays still under silence (no leakage of the source lip motion
    through the mask), near 1 when it moves as much as under speech.
    """
    s, p = np.asarray(mar_silent, np.float64), np.asarray(mar_speech, np.float64)
    if s.size == 0 or p.size == 0:
        raise ValueError(f"lip_leak needs non-empty MAR sequences, got {s.size} silent and {p.size} speech frames")
    return float(np.std(s) / (np.std(p) + LIPLEAK_EPS))


def lip_leak_lite(mar_silent: np.ndarray, threshold: float = LIPLEAK_LITE_THRESHOLD) -> float:
    """KeySync LipLeak-lite: share of frames whose MAR exceeds ``threshold`` under silent audio."""
    s = np.asarray(mar_silent, np.float64)
    if s.size == 0:
        raise ValueError("lip_leak_lite needs a non-empty MAR sequence")
    return float(np.mean(s > threshold))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-frame PSNR (dB) of two uint8 videos (T, H, W, 3); identical frames count as 100 dB."""
    a, b = _pair(a, b)
    vals = []
    for x, y in zip(a, b):
        mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
        vals.append(100.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse))
    return float(np.mean(vals))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-frame SSIM of two uint8 videos (T, H, W, 3) (scikit-image, colour channels averaged)."""
    from skimage.metrics import structural_similarity

    a, b = _pair(a, b)
    return float(np.mean([structural_similarity(x, y, channel_axis=-1, data_range=255) for x, y in zip(a, b)]))


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 3:
        a, b = a[None], b[None]
    if a.shape != b.shape:
        raise ValueError(f"videos to compare differ in shape: {a.shape} vs {b.shape}")
    return a, b


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), the FID formula."""
    from scipy import linalg

    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1 @ sigma2, disp=False)
    if not np.all(np.isfinite(covmean)):
        off = np.eye(sigma1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((sigma1 + off) @ (sigma2 + off))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
