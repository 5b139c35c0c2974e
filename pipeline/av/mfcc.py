"""MFCCs computed exactly as python_speech_features.mfcc does (defaults), in numpy.

Light-ASD and SyncNet were both trained on ``python_speech_features.mfcc(audio_int16, 16000)``:
25 ms windows every 10 ms (100 frames/s, 4 per 25 fps video frame), 26 mel filters, a 512-point
FFT, pre-emphasis 0.97, cepstral lifter 22 and coefficient 0 replaced by the log frame energy.
That package is not a dependency, so the recipe is reimplemented here; inputs are float audio
in [-1, 1] and are scaled to int16 range first, because the log energy depends on the scale.
"""
from __future__ import annotations

import math

import numpy as np

MFCC_PER_SECOND = 100


def _hz2mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel2hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(nfilt: int = 26, nfft: int = 512, sample_rate: int = 16000) -> np.ndarray:
    """(nfilt, nfft // 2 + 1) triangular filters on python_speech_features' bin grid."""
    mels = np.linspace(_hz2mel(0.0), _hz2mel(sample_rate / 2), nfilt + 2)
    bins = np.floor((nfft + 1) * _mel2hz(mels) / sample_rate).astype(int)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        a, b, c = bins[j], bins[j + 1], bins[j + 2]
        for i in range(a, b):
            fb[j, i] = (i - a) / (b - a)
        for i in range(b, c):
            fb[j, i] = (c - i) / (c - b)
    return fb


def _dct2_ortho(x: np.ndarray) -> np.ndarray:
    """DCT-II with orthonormal scaling along the last axis (scipy.fft.dct(norm='ortho'))."""
    n = x.shape[-1]
    k = np.arange(n)[:, None]
    basis = np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n))  # (n, n)
    out = x @ basis.T
    out[..., 0] *= math.sqrt(1.0 / (4 * n))
    out[..., 1:] *= math.sqrt(1.0 / (2 * n))
    return out * 2.0


def _power_frames(audio: np.ndarray, sample_rate: int, winlen: float, winstep: float, nfft: int,
                  preemph: float, int16_scale: bool) -> np.ndarray:
    """(N,) float audio -> (F, nfft // 2 + 1) power spectra of python_speech_features' frames."""
    x = np.asarray(audio, np.float64).reshape(-1)
    if int16_scale:
        x = x * 32768.0
    if len(x) == 0:
        x = np.zeros(1)
    x = np.append(x[0], x[1:] - preemph * x[:-1])
    flen, fstep = int(round(winlen * sample_rate)), int(round(winstep * sample_rate))
    nframes = 1 if len(x) <= flen else 1 + int(math.ceil((len(x) - flen) / fstep))
    padlen = (nframes - 1) * fstep + flen
    x = np.concatenate([x, np.zeros(padlen - len(x))])
    idx = np.arange(flen)[None, :] + fstep * np.arange(nframes)[:, None]
    frames = x[idx]  # (F, flen), rectangular window as in the reference
    return np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft  # (F, nfft//2+1)


def log_mel(audio: np.ndarray, sample_rate: int = 16000, nfilt: int = 26, winlen: float = 0.025,
            winstep: float = 0.01, nfft: int = 512, preemph: float = 0.97) -> np.ndarray:
    """(N,) float audio in [-1, 1] -> (F, nfilt) float32 log mel filterbank energies (the MFCC's
    frames and filters before the DCT; python_speech_features' ``logfbank``), 100 frames/s."""
    pspec = _power_frames(audio, sample_rate, winlen, winstep, nfft, preemph, True)
    feat = pspec @ mel_filterbank(nfilt, nfft, sample_rate).T
    return np.log(np.where(feat == 0, np.finfo(float).eps, feat)).astype(np.float32)


def mfcc(audio: np.ndarray, sample_rate: int = 16000, numcep: int = 13, winlen: float = 0.025,
         winstep: float = 0.01, nfilt: int = 26, nfft: int = 512, preemph: float = 0.97,
         ceplifter: int = 22, int16_scale: bool = True) -> np.ndarray:
    """(N,) float audio in [-1, 1] -> (F, numcep) float32 MFCCs, F = 1 + ceil((N - win) / step)."""
    pspec = _power_frames(audio, sample_rate, winlen, winstep, nfft, preemph, int16_scale)
    eps = np.finfo(float).eps
    energy = pspec.sum(axis=1)
    energy = np.where(energy == 0, eps, energy)
    feat = pspec @ mel_filterbank(nfilt, nfft, sample_rate).T
    feat = np.where(feat == 0, eps, feat)
    cep = _dct2_ortho(np.log(feat))[:, :numcep]
    if ceplifter > 0:
        n = np.arange(numcep)
        cep = cep * (1 + (ceplifter / 2.0) * np.sin(np.pi * n / ceplifter))
    cep[:, 0] = np.log(energy)
    return cep.astype(np.float32)
