"""A weight-free audio-visual sync measure, for runs without a SyncNet checkpoint.

Visual side: the mouth region (box of landmarks 48..67 with a margin, or the lower-centre of the
crop when no landmarks exist) as a 32 x 16 grayscale patch per frame, temporally high-passed, and
its first principal components over the clip, plus the inner-lip opening when landmarks exist.
Audio side: log energies of six speech bands per video frame, high-passed the same way. For each
lag d in [-vshift, vshift] the first canonical correlation rho(d) between the two feature sets is
computed over the same central frames; distance = 1 - rho, offset = arg min, confidence =
median minus minimum (the LSE-C recipe on this distance). Positive offset = audio lags video.

What it can and cannot do (measured in benchmarks/av_checks.py): it finds a known lag when the
mouth follows the speech energy, and own speech correlates better than an unrelated track there;
on real faces a hand-made feature cannot tell another speaker's voice from the face's own as a
learned sync expert does. On the real fixture its offsets for own speech spread over -8..+15
frames (benchmarks/sync_fallback.py), so the sync stage records its offset and confidence and
never drops or shifts a clip on them. Use the ``syncnet`` backend with weights for real curation.
"""
from __future__ import annotations

import numpy as np

from lipforge.pipeline.av.lse import SyncResult

BANDS_HZ = ((80, 300), (300, 700), (700, 1200), (1200, 2000), (2000, 3500), (3500, 7000))


def _highpass(x: np.ndarray, k: int = 9) -> np.ndarray:
    """Remove the slow trend (moving average over k frames) along time, axis 0."""
    from scipy.ndimage import uniform_filter1d

    return x - uniform_filter1d(x, size=k, axis=0, mode="nearest")


def audio_band_energies(audio: np.ndarray, n_frames: int, spf: int = 640, sample_rate: int = 16000) -> np.ndarray:
    """(N,) audio -> (T, 6) log band energies per video frame (one 40 ms window per frame)."""
    a = np.zeros(n_frames * spf, np.float32)
    m = min(len(audio), len(a))
    a[:m] = audio[:m]
    frames = a.reshape(n_frames, spf) * np.hanning(spf)[None]
    p = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (T, spf//2+1)
    freqs = np.fft.rfftfreq(spf, 1.0 / sample_rate)
    out = np.stack([p[:, (freqs >= lo) & (freqs < hi)].sum(axis=1) for lo, hi in BANDS_HZ], axis=1)
    return np.log(out + 1e-6).astype(np.float32)


def mouth_boxes(landmarks: np.ndarray | None, n_frames: int, size: int, margin: float = 0.35) -> np.ndarray:
    """(T, 4) mouth boxes in crop pixels: landmarks 48..67 (+ margin, median over the clip
    for a steady patch) or, without landmarks, the lower-centre of a face crop."""
    if landmarks is None:
        b = np.array([0.3 * size, 0.62 * size, 0.7 * size, 0.88 * size], np.float32)
        return np.repeat(b[None], n_frames, axis=0)
    m = np.asarray(landmarks, np.float32)[:, 48:68]
    lo, hi = np.median(m.min(axis=1), axis=0), np.median(m.max(axis=1), axis=0)
    w, h = hi - lo
    b = np.array([lo[0] - margin * w, lo[1] - margin * w, hi[0] + margin * w, hi[1] + margin * w], np.float32)
    return np.repeat(b[None], n_frames, axis=0)


def mouth_features(frames: np.ndarray, landmarks: np.ndarray | None, n_pc: int = 3) -> np.ndarray:
    """(T, H, W, 3) crops (+ landmarks) -> (T, n_pc [+1]) visual features, high-passed."""
    import cv2

    t = len(frames)
    boxes = mouth_boxes(landmarks, t, frames.shape[1])
    patches = np.empty((t, 16 * 32), np.float32)
    for i in range(t):
        x0, y0, x1, y1 = boxes[i]
        s = 32.0 / max(x1 - x0, 1.0)
        sy = 16.0 / max(y1 - y0, 1.0)
        mtx = np.array([[s, 0, -x0 * s], [0, sy, -y0 * sy]], np.float32)
        g = cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
        patches[i] = cv2.warpAffine(g, mtx, (32, 16), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE).reshape(-1)
    x = _highpass(patches)
    x -= x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    feats = [u[:, :n_pc] * s[:n_pc]]
    if landmarks is not None:
        lm = np.asarray(landmarks, np.float32)
        opening = np.linalg.norm(lm[:, 62] - lm[:, 66], axis=1) / (np.linalg.norm(lm[:, 60] - lm[:, 64], axis=1) + 1e-3)
        feats.append(_highpass(opening[:, None]))
    return np.concatenate(feats, axis=1).astype(np.float64)


def _first_canonical_corr(x: np.ndarray, y: np.ndarray, ridge: float = 1e-1) -> float:
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    y = (y - y.mean(0)) / (y.std(0) + 1e-8)
    n = len(x)
    cxx = x.T @ x / n + ridge * np.eye(x.shape[1])
    cyy = y.T @ y / n + ridge * np.eye(y.shape[1])
    cxy = x.T @ y / n
    m = np.linalg.solve(cxx, cxy) @ np.linalg.solve(cyy, cxy.T)
    return float(np.sqrt(max(np.max(np.real(np.linalg.eigvals(m))), 0.0)))


def offline_sync(frames: np.ndarray, audio: np.ndarray, landmarks: np.ndarray | None = None,
                 vshift: int = 15, spf: int = 640) -> SyncResult:
    """Offset / confidence from mouth-patch and speech-band features (see module doc)."""
    t = len(frames)
    v = mouth_features(frames, landmarks)  # (T, k)
    a = _highpass(audio_band_energies(audio, t, spf).astype(np.float64))  # (T, 6)
    lo, hi = vshift, t - vshift
    if hi - lo < 10:
        return SyncResult(0, 0.0, float("nan"), np.zeros(2 * vshift + 1))
    dist = np.array([1.0 - _first_canonical_corr(v[lo:hi], a[lo + d:hi + d]) for d in range(-vshift, vshift + 1)])
    j = int(np.argmin(dist))
    return SyncResult(j - vshift, float(np.median(dist) - dist[j]), float(dist[j]), dist)
