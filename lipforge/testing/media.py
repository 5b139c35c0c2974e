"""Test and benchmark media with a known keyframe structure (what a time range seeks in).

>>> import numpy as np, tempfile, os
>>> p = write_gop(os.path.join(tempfile.mkdtemp(), "a.mp4"), np.zeros((10, 32, 32, 3), np.uint8), 25,
...               np.zeros(6400, np.float32), gop=5)  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np


def write_gop(path: str | Path, frames: Iterable[np.ndarray], fps: int, audio: np.ndarray, sr: int = 16000,
              gop: int = 25, crf: int = 18) -> str:
    """H.264 with a keyframe every ``gop`` frames (B-frames on) + mono AAC. ``frames`` is any
    iterable of (H, W, 3) uint8 frames (a generator keeps a long file out of memory)."""
    import av

    with av.open(str(path), "w") as out:
        vs = ast = None
        for i, frame in enumerate(frames):
            if vs is None:
                h, w = frame.shape[:2]
                vs = out.add_stream("libx264", rate=Fraction(fps))
                vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
                vs.options = {"crf": str(crf), "preset": "veryfast", "threads": "1",
                              "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
                ast = out.add_stream("aac", rate=sr)
                ast.layout = "mono"
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for p in vs.encode(vf):
                out.mux(p)
        if vs is None:
            raise ValueError(f"write_gop {path}: no frames")
        for p in vs.encode():
            out.mux(p)
        for s in range(0, len(audio), 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[None, s:s + 1024]), format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = sr, s, Fraction(1, sr)
            for p in ast.encode(af):
                out.mux(p)
        for p in ast.encode():
            out.mux(p)
    return str(path)


def write_multichannel_wav(path: str | Path, audio: np.ndarray, sr: int, layout: str) -> str:
    """(C, N) float audio in [-1, 1] -> a 16-bit PCM WAV tagged with ffmpeg's channel ``layout``
    (``"5.1"``: FL FR FC LFE BL BR), as a film's dialogue-on-centre track arrives."""
    import av

    a = (np.clip(np.asarray(audio, np.float32), -1, 1) * 32767).astype(np.int16)  # (C, N)
    with av.open(str(path), "w") as out:
        s = out.add_stream("pcm_s16le", rate=sr)
        s.layout = layout
        for i in range(0, a.shape[1], 1024):
            blk = np.ascontiguousarray(a[:, i:i + 1024].T.reshape(1, -1))  # packed s16
            f = av.AudioFrame.from_ndarray(blk, format="s16", layout=layout)
            f.sample_rate, f.pts, f.time_base = sr, i, Fraction(1, sr)
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return str(path)
