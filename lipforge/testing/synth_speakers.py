"""Many synthetic speakers: faces taken from real videos, mouths driven by espeak-ng speech.

:mod:`lipforge.testing.synth` animates one photo; a sync expert trained on two faces cannot
generalize to a third. This module takes one face per real video (the first frame in which dlib
finds one), writes it as a PNG into a caller's temp dir (never into the repository), and renders
face crops of it talking (:func:`lipforge.testing.synth.render_frames`) with a varied voice, speed
and sentence order, a per-clip crop jitter (scale, shift) and a colour jitter, so the held-out
people of a split are new faces with new voices.

>>> faces = faces_from_videos(sorted(Path("fixtures/talking").glob("*.mp4")), tmp)  # doctest: +SKIP
>>> crops, speech = talking_crops(faces[0], seconds=8.0, seed=3)                    # doctest: +SKIP
>>> crops.shape, speech.shape   # (200, 96, 96, 3) uint8, (128000,) float32 16 kHz
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

VOICES = ("en", "en-us", "en-gb-scotland", "en-029", "en-gb-x-rp", "en+f3", "en-us+f2", "en+m3", "en+f5")
SPF = 640  # audio samples per video frame (16 kHz, 25 fps)


def _first_face_frame(video: Path, max_frames: int = 50, side: int = 480) -> np.ndarray | None:
    """The first of the video's first ``max_frames`` frames (downscaled to ``side`` px at most)
    in which dlib's HOG detector finds a face, or None."""
    import av
    import cv2
    import dlib

    det = dlib.get_frontal_face_detector()
    with av.open(str(video)) as f:
        for k, fr in enumerate(f.decode(video=0)):
            if k >= max_frames:
                break
            if k % 5:
                continue
            img = fr.to_ndarray(format="rgb24")
            s = side / max(img.shape[:2])
            if s < 1:
                img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            if det(img, 1):
                return np.ascontiguousarray(img)
    return None


def faces_from_videos(videos: list[Path], out_dir: str | Path) -> list[str]:
    """One face image per video (``out_dir/<stem>.png``) where dlib finds a face; the paths."""
    import cv2

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for v in videos:
        p = out_dir / f"{Path(v).stem}.png"
        if not p.is_file():
            img = _first_face_frame(Path(v))
            if img is None:
                continue
            cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        paths.append(str(p))
    return paths


def varied_speech(seconds: float, seed: int, sample_rate: int = 16000) -> np.ndarray:
    """``seconds`` of espeak-ng speech: seeded voice, speed and sentence order."""
    from lipforge.testing.synth import SENTENCES, tts

    rng = np.random.default_rng(seed)
    voice = VOICES[int(rng.integers(len(VOICES)))]
    need, parts, n = int(seconds * sample_rate), [], 0
    while n < need:
        s = tts(SENTENCES[int(rng.integers(len(SENTENCES)))], sample_rate, voice, int(rng.integers(130, 185)))
        s = s * float(rng.uniform(0.3, 1.0)) / (np.abs(s).max() + 1e-6)  # loudness varies too
        parts.append(s)
        n += len(s)
    return np.concatenate(parts)[:need].astype(np.float32)


def talking_crops(photo: str, seconds: float = 8.0, seed: int = 0, size: int = 96,
                  jitter: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(T, size, size, 3) uint8 face crops of ``photo`` talking, and the (T * 640,) speech at 16 kHz
    that drives the mouth (in sync: frame t opens with the speech of frame t)."""
    import cv2

    from lipforge.testing.synth import envelope_per_frame, render_frames

    rng = np.random.default_rng(seed + 7919)
    n = int(seconds * 25)
    speech = np.pad(varied_speech(seconds, seed), (0, n * SPF))[: n * SPF]
    frames, (x0, y0, x1, y1) = render_frames(envelope_per_frame(speech, n), (160, 160), 110, photo,
                                             sway_px=float(rng.uniform(0.0, 3.0)) if jitter else 2.0)
    scale = float(rng.uniform(0.52, 0.68)) if jitter else 0.6
    c = int(max(x1 - x0, y1 - y0) * scale)
    cx = int((x0 + x1) / 2 + (rng.uniform(-0.06, 0.06) * c if jitter else 0))
    cy = int((y0 + y1) / 2 + (rng.uniform(-0.06, 0.06) * c if jitter else 0))
    crops = np.stack([cv2.resize(np.pad(f, ((c, c), (c, c), (0, 0)), mode="edge")[cy:cy + 2 * c, cx:cx + 2 * c],
                                 (size, size), interpolation=cv2.INTER_AREA) for f in frames])
    if jitter:  # per-channel gain and an offset
        gain = rng.uniform(0.8, 1.2, 3) * rng.uniform(0.8, 1.2)
        crops = np.clip(crops.astype(np.float32) * gain + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
    return crops, speech
