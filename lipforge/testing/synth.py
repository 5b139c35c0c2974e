"""Synthetic talking-head media: a real face photo whose mouth opens with espeak-ng speech.

The face is scikit-image's astronaut photo (ships in the wheel) or any photo; its 68 dlib
landmarks (face-recognition-models ships the predictor) place the mouth. Per video frame the
mouth opening follows the RMS envelope of the speech, optionally delayed by a known number of
frames, so tests know the true audio-visual offset.

>>> v = make_talking_head("/tmp/t.mp4", seconds=3.0)   # doctest: +SKIP
>>> v.mouth_open.shape  # (T,) in [0, 1]
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SENTENCES = (
    "The quick brown fox jumps over the lazy dog while people talk about the weather today.",
    "Open the window and let the morning air into the quiet room before we start the meeting.",
    "A lip sync model learns how a mouth moves when it speaks every sound of a language.",
    "Bright yellow boats sail slowly across the harbour as the sun goes down behind the hills.",
)


def tts(text: str, sample_rate: int = 16000, voice: str = "en", speed: int = 150) -> np.ndarray:
    """espeak-ng speech as float32 mono at ``sample_rate``."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng not found: install it with `apt-get install espeak-ng` "
                           "(the README's set-up commands do)")
    import librosa
    import soundfile as sf

    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "s.wav"
        subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True,
                       capture_output=True)
        audio, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if sr != sample_rate:
        audio = librosa.resample(audio, orig_sr=sr, target_sr=sample_rate)
    return audio.astype(np.float32)


def speech_wav(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """``seconds`` of continuous speech (sentences concatenated from a seeded order)."""
    rng = np.random.default_rng(seed)
    need = int(seconds * sample_rate)
    parts, n = [], 0
    while n < need:
        s = tts(SENTENCES[int(rng.integers(len(SENTENCES)))], sample_rate, speed=int(rng.integers(140, 175)))
        parts.append(s)
        n += len(s)
    return np.concatenate(parts)[:need]


@functools.lru_cache(maxsize=4)
def _face_and_landmarks(photo: str) -> tuple[np.ndarray, np.ndarray]:
    import dlib
    import face_recognition_models as frm
    from skimage import data, io

    img = data.astronaut() if photo == "astronaut" else io.imread(photo)[..., :3]
    img = np.ascontiguousarray(img.astype(np.uint8))
    det = dlib.get_frontal_face_detector()
    boxes = det(img, 1)
    if not boxes:
        raise RuntimeError(f"no face found in {photo}")
    box = max(boxes, key=lambda r: r.area())
    pred = dlib.shape_predictor(frm.pose_predictor_model_location())
    shape = pred(img, box)
    pts = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
    return img, pts


def envelope_per_frame(audio: np.ndarray, n_frames: int, fps: int = 25, sample_rate: int = 16000) -> np.ndarray:
    """Mouth opening in [0, 1] per frame from the speech RMS envelope."""
    spf = sample_rate // fps
    a = np.zeros(n_frames * spf, np.float32)
    a[: min(len(audio), len(a))] = audio[: len(a)]
    rms = np.sqrt((a.reshape(n_frames, spf) ** 2).mean(axis=1) + 1e-12)
    db = 20 * np.log10(rms + 1e-6)
    o = np.clip((db + 40.0) / 30.0, 0.0, 1.0)  # -40 dBFS closed .. -10 dBFS fully open
    return o.astype(np.float32)


@dataclass
class SynthVideo:
    path: Path
    fps: int
    n_frames: int
    sample_rate: int
    mouth_open: np.ndarray  # (T,) opening that drove each frame
    audio: np.ndarray  # (N,) float32 mono track muxed into the file (at sample_rate)
    face_box: tuple[float, float, float, float]  # x0 y0 x1 y1 in frame pixels (dlib-landmark extent)
    delay_frames: int


def render_frames(mouth_open: np.ndarray, size: tuple[int, int] = (384, 384), face_px: int = 260,
                  photo: str = "astronaut", sway_px: float = 2.0) -> tuple[np.ndarray, tuple]:
    """(T, H, W, 3) frames of the photo with the mouth opened by ``mouth_open``."""
    import cv2

    img, pts = _face_and_landmarks(photo)
    scale = face_px / max(float(np.ptp(pts[:, 1])), 1.0)
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    pts = pts * scale
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    w, h = size
    cx, cy = pts[:, 0].mean(), pts[:, 1].mean()
    ox, oy = int(round(cx - w / 2)), int(round(cy - h / 2))
    pad = max(w, h)
    big = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    mouth = pts[48:68]
    mcx, mcy = mouth[:, 0].mean(), mouth[:, 1].mean()
    mw = mouth[:, 0].max() - mouth[:, 0].min()
    frames = np.empty((len(mouth_open), h, w, 3), np.uint8)
    for t, o in enumerate(mouth_open):
        dx = int(round(sway_px * np.sin(2 * np.pi * t / 50.0)))
        fr = big[pad + oy: pad + oy + h, pad + ox + dx: pad + ox + dx + w].copy()
        # jaw drop: shift the region under the mouth down by the opening, then draw the mouth
        drop = int(round(o * mw * 0.35))
        mx, my = int(round(mcx - ox - dx)), int(round(mcy - oy))
        if drop > 0:
            x_a, x_b = max(mx - int(mw), 0), min(mx + int(mw), w)
            y_a, y_b = my, min(my + int(mw * 1.1), h)
            region = fr[y_a:y_b - drop, x_a:x_b].copy()
            fr[y_a + drop:y_b, x_a:x_b] = region
        axes = (max(int(mw * 0.42), 1), max(int(1 + o * mw * 0.32), 1))
        cv2.ellipse(fr, (mx, my + drop // 2), axes, 0, 0, 360, (60, 20, 25), -1, lineType=cv2.LINE_AA)
        if o > 0.25:  # teeth
            cv2.ellipse(fr, (mx, my + drop // 2 - axes[1] // 2), (axes[0] - 3, max(axes[1] // 4, 1)),
                        0, 0, 360, (235, 235, 225), -1, lineType=cv2.LINE_AA)
        frames[t] = fr
    box = (float(x0 - ox), float(y0 - oy), float(x1 - ox), float(y1 - oy))
    return frames, box


def make_talking_head(path: str | Path, seconds: float = 4.0, fps: int = 25, size: tuple[int, int] = (384, 384),
                      face_px: int = 260, audio: np.ndarray | None = None, delay_frames: int = 0,
                      photo: str = "astronaut", seed: int = 0, out_sample_rate: int = 16000,
                      out_channels: int = 1, out_fps: int | None = None, with_audio: bool = True,
                      with_video: bool = True, no_face: tuple[int, int] | None = None,
                      occluder: tuple[int, int] | None = None) -> SynthVideo:
    """Write a talking-head MP4 (H.264 + AAC) and return what drove it.

    ``delay_frames`` > 0 makes the audio lag the mouth by that many frames (the muxed track is
    the speech shifted later), i.e. the true sync offset a checker should find. ``out_fps`` /
    ``out_sample_rate`` / ``out_channels`` let tests make sources that need normalizing.
    ``no_face=(a, b)`` shows a plain grey frame instead of the face on frames [a, b);
    ``occluder=(a, b)`` draws a skin-toned block (a hand) over the face's centre on frames [a, b),
    the rest of the frame unchanged (no scene cut).
    """
    import librosa

    from lipforge.pipeline.media import encode_video

    sr = 16000
    n = int(round(seconds * fps))
    speech = speech_wav(seconds, sr, seed) if audio is None else np.asarray(audio, np.float32)
    speech = np.pad(speech, (0, max(0, n * sr // fps - len(speech))))[: n * sr // fps]
    mouth = envelope_per_frame(speech, n, fps, sr)
    frames, box = render_frames(mouth, size, face_px, photo)
    if no_face is not None:
        frames[no_face[0]:no_face[1]] = 128
    if occluder is not None:
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        ys = slice(max(0, int(y0 + 0.2 * h)), int(y1 + 0.1 * h))
        xs = slice(max(0, int(x0 - 0.1 * w)), int(x1 + 0.1 * w))
        frames[occluder[0]:occluder[1], ys, xs] = (196, 150, 120)
    shift = delay_frames * sr // fps
    track = np.concatenate([np.zeros(max(shift, 0), np.float32), speech])[: len(speech)] if shift >= 0 \
        else np.concatenate([speech[-shift:], np.zeros(-shift, np.float32)])
    if out_fps and out_fps != fps:  # resample frames by nearest time
        m = int(round(seconds * out_fps))
        idx = np.minimum((np.arange(m) * fps / out_fps).round().astype(int), n - 1)
        frames = frames[idx]
    out_track = track if out_sample_rate == sr else librosa.resample(track, orig_sr=sr, target_sr=out_sample_rate)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if with_video:
        encode_video(frames, fps=out_fps or fps, audio=out_track if with_audio else None,
                     sample_rate=out_sample_rate, path=path, audio_channels=out_channels)
    else:
        import soundfile as sf

        sf.write(str(path), out_track, out_sample_rate)
    return SynthVideo(path, fps, n, sr, mouth, track, box, delay_frames)
