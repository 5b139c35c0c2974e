"""The output video, written frame by frame: source fps, source colour, driving audio as it is.

* frames are converted RGB -> YUV with the source's matrix and range (accurate rounding, full
  chroma interpolation) and the stream is tagged with the source's range, matrix, primaries and
  transfer, so a player shows the untouched background as it showed the source;
* the driving audio is decoded at its own sample rate and channel count and encoded to AAC at
  that rate and layout (not 16 kHz mono, which is only what the model hears);
* the file appears under its name only when complete (temporary name in the same folder, renamed).

>>> with OutputVideo("out.mp4", info, fps=30.0, audio=(wav, 48000)) as out:   # doctest: +SKIP
...     for frame in frames:
...         out.write(frame)
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from lipforge.infer.source import MediaInfo, rgb_conversion
from lipforge.pipeline.media import MediaDecodeError


def read_audio_native(path: str | Path) -> tuple[np.ndarray, int]:
    """First audio stream at its own rate and channels: ((N, C) float32, sample rate)."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise MediaDecodeError(f"{path}: no audio stream")
            s = c.streams.audio[0]
            rate, ch = int(s.rate), int(s.channels)
            layout = "mono" if ch == 1 else "stereo" if ch == 2 else s.layout.name
            res = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            chunks = []
            for f in c.decode(audio=0):
                for g in res.resample(f):
                    chunks.append(g.to_ndarray())  # (C, n)
            for g in res.resample(None):
                chunks.append(g.to_ndarray())
    except av.FFmpegError as e:
        raise MediaDecodeError(f"{path}: cannot decode audio ({type(e).__name__}: {e})") from e
    if not chunks:
        raise MediaDecodeError(f"{path}: audio stream is empty")
    return np.concatenate(chunks, axis=1).T.astype(np.float32), rate


class OutputVideo:
    """H.264 (+ AAC) mp4 written incrementally; see the module docstring."""

    def __init__(self, path: str | Path, info: MediaInfo, fps: float, audio: tuple[np.ndarray, int] | None = None,
                 crf: int = 18, preset: str = "veryfast") -> None:
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.partial{self.path.suffix or '.mp4'}")
        self.info = info
        self.audio = audio
        self.n = 0
        self._kw = rgb_conversion(info, to_rgb=False)
        self._fps = Fraction(fps).limit_denominator(1001)
        w, h = info.width + info.width % 2, info.height + info.height % 2
        self._size = (w, h)
        self._c = av.open(str(self.tmp), mode="w", format="mp4")
        vs = self._c.add_stream("libx264", rate=self._fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        # mbtree kept: with it the background around a repainted face keeps its quality (the
        # output is not compared by bytes; shards are, and use pipeline.media's deterministic mode)
        vs.options = {"crf": str(crf), "preset": preset}
        cc = vs.codec_context
        cc.time_base = 1 / self._fps
        cc.color_range = 2 if info.full_range else 1
        cc.colorspace = info.colorspace if info.colorspace != 2 else {"ITU709": 1, "ITU601": 5}.get(info.matrix, 1)
        cc.color_primaries = info.color_primaries
        cc.color_trc = info.color_trc
        self._vs = vs

    def write(self, frame: np.ndarray) -> None:
        """One (H, W, 3) uint8 RGB frame at the source's size."""
        import av

        h, w = frame.shape[:2]
        if (w, h) != self._size:
            frame = np.pad(frame, ((0, self._size[1] - h), (0, self._size[0] - w), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(
            format="yuv420p", **self._kw)
        vf.pts = self.n
        vf.time_base = 1 / self._fps
        for p in self._vs.encode(vf):
            self._c.mux(p)
        self.n += 1

    def _write_audio(self) -> None:
        import av

        a, rate = self.audio
        a = np.asarray(a, np.float32)
        if a.ndim == 1:
            a = a[:, None]
        layout = "mono" if a.shape[1] == 1 else "stereo"
        if a.shape[1] > 2:
            a = a[:, :2]  # AAC in mp4 via PyAV: keep the first two channels of a multichannel track
        s = self._astream  # added in __enter__: every stream must exist before the first packet
        for i in range(0, len(a), 1024):
            block = np.ascontiguousarray(a[i:i + 1024].T)  # (C, n) planar
            af = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            af.sample_rate = rate
            af.pts = i
            af.time_base = Fraction(1, rate)
            for p in s.encode(af):
                self._c.mux(p)
        for p in s.encode():
            self._c.mux(p)

    def __enter__(self) -> "OutputVideo":
        if self.audio is not None:
            a, rate = self.audio
            ch = 1 if np.ndim(a) == 1 else min(2, np.shape(a)[1])
            self._astream = self._c.add_stream("aac", rate=int(rate))
            self._astream.layout = "mono" if ch == 1 else "stereo"
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                for p in self._vs.encode():
                    self._c.mux(p)
                if self.audio is not None:
                    self._write_audio()
            self._c.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            if self.tmp.exists():
                self.tmp.unlink()
