"""The SyncNet offset search (LSE-D / LSE-C) and the audio shift that removes an offset.

For every video position i the distance to the audio embedding at i + d is taken for
d in [-vshift, vshift] (zero-padded outside the clip, as the reference does); the mean over i
gives one distance per d. The offset is the d of minimum mean distance (LSE-D = that minimum),
the confidence is median minus minimum (LSE-C). Sign convention of lipforge manifests: a
positive offset means the audio lags the video (the sound of frame i is heard at frame i + d);
syncnet_python prints the opposite sign (``vshift - argmin``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyncResult:
    offset: int  # frames, positive = audio lags video
    conf: float  # median minus minimum of the mean distances (LSE-C)
    min_dist: float  # minimum mean distance (LSE-D)
    mean_dists: np.ndarray  # (2 * vshift + 1,) indexed by d + vshift


def offset_confidence(video_emb: np.ndarray, audio_emb: np.ndarray, vshift: int = 15) -> SyncResult:
    """(N, D) video and audio embeddings -> offset, LSE-C and LSE-D (see module doc)."""
    v = np.asarray(video_emb, np.float64)
    a = np.asarray(audio_emb, np.float64)
    n = min(len(v), len(a))
    if n < 1:
        return SyncResult(0, 0.0, float("nan"), np.zeros(2 * vshift + 1))
    v, a = v[:n], a[:n]
    ap = np.pad(a, ((vshift, vshift), (0, 0)))
    dists = np.empty((n, 2 * vshift + 1))
    for j in range(2 * vshift + 1):
        # torch pairwise_distance adds eps=1e-6 to the difference; kept for parity
        dists[:, j] = np.linalg.norm(v - ap[j:j + n] + 1e-6, axis=1)
    mean = dists.mean(axis=0)
    j = int(np.argmin(mean))
    return SyncResult(j - vshift, float(np.median(mean) - mean[j]), float(mean[j]), mean)


def shift_audio(audio: np.ndarray, offset_frames: int, samples_per_frame: int = 640) -> np.ndarray:
    """Move the audio earlier by ``offset_frames`` (later when negative), zero padded, same length."""
    a = np.asarray(audio)
    k = int(offset_frames) * samples_per_frame
    if k == 0:
        return a.copy()
    out = np.zeros_like(a)
    if k > 0:
        out[: max(len(a) - k, 0)] = a[k:]
    else:
        out[-k:] = a[: len(a) + k] if len(a) + k > 0 else out[-k:]
    return out
