"""A weight-free audio-visual sync measure, for runs without sync weights: lower-lip dynamics
against the change of 1-3 kHz speech energy.

Visual side, from the 68 crop landmarks: three lower-lip signals per frame, the height of the
lower lip's points 56, 57 and 58 below the nose tip 33 (crop y, divided by the clip's median
eye-corner distance 36-45), and their change around each frame (x[t+1] - x[t-1]). Audio side:
the log energy of 1-3 kHz per video frame (one 40 ms Hann window per frame) and its change the
same way. For each lag d in [-vshift, vshift] the Pearson correlation of lip change
at frame i with energy change at frame i + d is taken over the whole window (every frame pair
that exists at that lag); the three lag curves are averaged. offset = the lag of the peak,
confidence = the peak correlation, ``min_dist`` = 1 - peak. Positive offset = audio lags video.
Without landmarks, the three signals are the first principal components of a grey mouth patch
(lower centre of the crop) and their curves are taken in absolute value (a component's sign is
arbitrary): weaker, and only a fallback.

The 1-3 kHz band is what makes it work (mouth opening shapes the formants there; 300-3000 Hz fails).
What it is worth, measured by ``benchmarks/sync_fallback.py`` on the real fixtures
(``../shared/fixtures/real/talking``; the table is in the README, section "Sync"): it finds own
speech within +-1 frame far more often than the stand-in it replaces (mouth-patch PCA vs six band
energies, canonical correlation over the central frames) and separates another person's speech
from the face's own speech well on 6 s windows, less on short ones. It is a *measure* and, on
clips >= 6 s, an opt-in loose gate (``sync.offline_gate``); it is not an offset corrector: offsets
are recorded, never used to shift audio.
"""
from __future__ import annotations

import numpy as np

from lipforge.pipeline.av.lse import SyncResult

BAND_HZ = (1000.0, 3000.0)
MEASURE = "lowerlip"  # the name rows carry in sync_backend (the stand-in before it wrote "offline")
LOWER_LIP, NOSE_TIP = (56, 57, 58), 33  # 68-point landmark indices


def band_log_energy(audio: np.ndarray, n_frames: int, spf: int = 640, sample_rate: int = 16000,
                    band: tuple[float, float] = BAND_HZ) -> np.ndarray:
    """(N,) audio -> (T,) log energy of ``band`` per video frame (one Hann window of spf samples)."""
    a = np.zeros(n_frames * spf, np.float32)
    m = min(len(audio), len(a))
    a[:m] = audio[:m]
    frames = a.reshape(n_frames, spf) * np.hanning(spf)[None]
    p = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (T, spf//2+1)
    freqs = np.fft.rfftfreq(spf, 1.0 / sample_rate)
    sel = (freqs >= band[0]) & (freqs < band[1])
    return np.log(p[:, sel].sum(axis=1) + 1e-8).astype(np.float64)


def lip_signals(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) crop landmarks -> (T, 3) lower-lip heights below the nose tip over the median
    eye-corner distance."""
    lm = np.asarray(landmarks, np.float64)
    scale = float(np.median(np.linalg.norm(lm[:, 36] - lm[:, 45], axis=1))) + 1e-6
    return (lm[:, LOWER_LIP, 1] - lm[:, [NOSE_TIP], 1]) / scale


def change(x: np.ndarray) -> np.ndarray:
    """Central difference along time: (T, ...) -> (T - 2, ...), x[t+1] - x[t-1] for t = 1..T-2."""
    return x[2:] - x[:-2]


def patch_signals(frames: np.ndarray, n_pc: int = 3) -> np.ndarray:
    """(T, H, W, 3) crops -> (T, n_pc) principal components of a grey lower-centre mouth patch."""
    import cv2

    t, h, w, _ = frames.shape
    y0, y1, x0, x1 = int(0.62 * h), int(0.88 * h), int(0.3 * w), int(0.7 * w)
    patches = np.stack([cv2.resize(cv2.cvtColor(np.ascontiguousarray(f[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY),
                                   (32, 16), interpolation=cv2.INTER_AREA) for f in frames]).reshape(t, -1)
    x = patches.astype(np.float64)
    x -= x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return u[:, :n_pc] * s[:n_pc]


def lag_correlation(v: np.ndarray, a: np.ndarray, vshift: int, min_pairs: int = 8) -> np.ndarray:
    """(T,) video and (T,) audio series -> (2 vshift + 1,) Pearson r of v[i] with a[i + d] over every
    i where both exist, indexed by d + vshift (0 where fewer than ``min_pairs`` pairs or no variance)."""
    t = min(len(v), len(a))
    out = np.zeros(2 * vshift + 1)
    for j, d in enumerate(range(-vshift, vshift + 1)):
        lo, hi = max(0, -d), min(t, t - d)
        if hi - lo < min_pairs:
            continue
        x, y = v[lo:hi] - v[lo:hi].mean(), a[lo + d:hi + d] - a[lo + d:hi + d].mean()
        den = np.sqrt((x * x).sum() * (y * y).sum())
        out[j] = float((x * y).sum() / den) if den > 1e-12 else 0.0
    return out


def visual_signals(frames: np.ndarray, landmarks: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """(T-2, 3) lower-lip changes (landmarks) or mouth-patch component changes (no landmarks),
    and whether their lag curves are taken in absolute value (the patch fallback)."""
    if landmarks is not None:
        return change(lip_signals(landmarks)), False
    return change(patch_signals(frames)), True


def score_audio(sig: np.ndarray, absolute: bool, audio: np.ndarray, vshift: int = 15, spf: int = 640,
                sample_rate: int = 16000) -> SyncResult:
    """The lag search of :func:`offline_sync` for visual signals already computed (one window,
    several audio tracks)."""
    t = len(sig) + 2
    e = change(band_log_energy(audio, t, spf, sample_rate))  # (T-2,) as the lip changes
    curves = [lag_correlation(sig[:, k], e, vshift) for k in range(sig.shape[1])]
    curve = np.mean(np.abs(curves) if absolute else curves, axis=0)
    j = int(np.argmax(curve))
    return SyncResult(j - vshift, float(curve[j]), float(1.0 - curve[j]), 1.0 - curve)


def offline_sync(frames: np.ndarray, audio: np.ndarray, landmarks: np.ndarray | None = None,
                 vshift: int = 15, spf: int = 640, sample_rate: int | None = None) -> SyncResult:
    """Offset / confidence (peak lag correlation) of lower-lip change vs 1-3 kHz energy change.

    ``mean_dists`` holds 1 - the averaged lag curve, indexed by d + vshift (as SyncNet's search).
    """
    if len(frames) < 10:
        return SyncResult(0, float("nan"), float("nan"), np.ones(2 * vshift + 1))
    sig, absolute = visual_signals(frames, landmarks)
    return score_audio(sig, absolute, audio, vshift, spf, sample_rate or spf * 25)


# The offline gate's operating point, measured by benchmarks/sync_fallback.py (27 real talking
# videos, 6 s windows; README "Sync"): at conf < 0.2, own speech dropped / another person's caught.
# On 4 s windows the same threshold drops 6 % of own speech to catch 22 %; on 2 s, 0 % / 1 %.
GATE_MEASURED = {"conf": 0.2, "min_s": 6.0, "own_dropped": "4% of 54", "replaced_caught": "46% of 54"}


def gate_rates() -> str:
    """The offline gate's measured rates, as printed and written into the rule."""
    m = GATE_MEASURED
    return (f"measured on {m['min_s']:g} s windows of 27 real videos at conf < {m['conf']:g}: own speech dropped "
            f"{m['own_dropped']}, another person's speech caught {m['replaced_caught']}")
