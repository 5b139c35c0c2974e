"""Tiny synthetic media for the source tests (no espeak, no fixtures: each file takes < 0.5 s)."""
from __future__ import annotations

import numpy as np

from lipforge.pipeline.media import encode_video

BITS = 7


def counter_frames(n: int, h: int = 48, w: int = 64) -> np.ndarray:
    """(n, h, w, 3) frames whose index k is drawn in binary as 7 black/white stripes."""
    fr = np.zeros((n, h, w, 3), np.uint8)
    for k in range(n):
        for b in range(BITS):
            if k >> b & 1:
                fr[k, :, b * 9:(b + 1) * 9] = 255
    return fr


def read_counter(frames: np.ndarray) -> np.ndarray:
    return np.array([sum(1 << b for b in range(BITS) if f[:, b * 9 + 2:(b + 1) * 9 - 2].mean() > 128)
                     for f in frames])


def astronaut(size: int = 96) -> np.ndarray:
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)


def panning(img: np.ndarray, n: int, step: float = 0.5) -> np.ndarray:
    """n frames of ``img`` sliding slowly sideways (motion, but no cut)."""
    return np.stack([np.roll(img, int(round(k * step)), axis=1) for k in range(n)])


def two_shots(n_a: int, n_b: int, size: int = 96) -> np.ndarray:
    a = astronaut(size)
    b = 255 - a[:, ::-1, ::-1]  # mirrored, colour-inverted: a different shot
    return np.concatenate([panning(a, n_a), panning(np.ascontiguousarray(b), n_b)])


def tone(seconds: float, sr: int = 16000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path, frames: np.ndarray, fps: int = 25, audio: np.ndarray | None = None, sr: int = 16000,
          channels: int = 1) -> str:
    encode_video(frames, fps=fps, audio=audio, sample_rate=sr, path=path, audio_channels=channels)
    return str(path)
