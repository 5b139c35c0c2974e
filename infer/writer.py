"""The output video, written frame by frame: source fps, source colour, driving audio as it is.

* frames are converted RGB -> YUV with the source's matrix and range (accurate rounding, full
  chroma interpolation) and the stream is tagged with the source's range, matrix, primaries and
  transfer, so a player shows the untouched background as it showed the source;
* the driving audio is decoded at its own sample rate and channel layout (every channel: a 5.1
  track stays 5.1, its centre dialogue included) and encoded to AAC at that rate and layout (not
  16 kHz mono, which is only what the model hears), or downmixed to stereo / mono when the user
  asks for it (``mix``; ffmpeg's matrix, centre at -3 dB in both sides);
* the file appears under its name only when complete (temporary name in the same folder, renamed).

>>> with OutputVideo("out.mp4", info, fps=30.0, audio=(wav, 48000)) as out:   # doctest: +SKIP
...     for frame in frames:
...         out.write(frame)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from lipforge.infer.scratch import partial_path
from lipforge.infer.source import MediaInfo, rgb_conversion
from lipforge.pipeline.media import MediaDecodeError


AUDIO_MIXES = ("native", "stereo", "mono")


@dataclass(frozen=True)
class DrivingAudio:
    """Decoded driving audio for the mux: samples (N, C) float32, rate, and the channel layout's
    ffmpeg name (``mono``, ``stereo``, ``5.1``, ...), so every channel keeps its place."""

    samples: np.ndarray
    rate: int
    layout: str

    def __iter__(self):  # (samples, rate), as callers unpacked the older pair
        return iter((self.samples, self.rate))


def _layout_name(stream) -> str:
    ch = int(stream.channels)
    name = getattr(stream.layout, "name", "") or ""
    if ch == 1:
        return "mono"
    if ch == 2:
        return "stereo"
    return name or f"{ch} channels"


def read_audio_native(path: str | Path, mix: str = "native") -> DrivingAudio:
    """First audio stream at its own rate: every channel in its own layout (``mix="native"``) or
    downmixed to ``"stereo"`` / ``"mono"`` by ffmpeg's resampler (the user's explicit choice)."""
    import av

    if mix not in AUDIO_MIXES:
        raise ValueError(f"audio mix must be one of {AUDIO_MIXES}, got {mix!r}")
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise MediaDecodeError(f"{path}: no audio stream")
            s = c.streams.audio[0]
            rate = int(s.rate)
            layout = _layout_name(s) if mix == "native" else mix
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
    return DrivingAudio(np.concatenate(chunks, axis=1).T.astype(np.float32), rate, layout)


def _as_driving(audio) -> DrivingAudio:
    """A :class:`DrivingAudio` or a bare (samples, rate) pair (mono / stereo only: a pair has no layout)."""
    if isinstance(audio, DrivingAudio):
        return audio
    a, rate = audio
    a = np.asarray(a, np.float32)
    a = a[:, None] if a.ndim == 1 else a
    if a.shape[1] > 2:
        raise ValueError(f"{a.shape[1]}-channel audio given without its layout: pass a DrivingAudio "
                         "(read_audio_native) so every channel keeps its place")
    return DrivingAudio(a, int(rate), "mono" if a.shape[1] == 1 else "stereo")


class OutputVideo:
    """H.264 (+ AAC) mp4 written incrementally; see the module docstring."""

    def __init__(self, path: str | Path, info: MediaInfo, fps: float, audio: DrivingAudio | tuple | None = None,
                 crf: int = 18, preset: str = "veryfast") -> None:
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # named after the output (not the process), so the next run over this output removes a killed
        # run's leftover
        self.tmp = partial_path(self.path)
        self.tmp.unlink(missing_ok=True)
        self.info = info
        self.audio = _as_driving(audio) if audio is not None else None
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

        a, rate, layout = self.audio.samples, self.audio.rate, self.audio.layout
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
            import av

            self._astream = self._c.add_stream("aac", rate=self.audio.rate)
            try:
                self._astream.layout = self.audio.layout
                self._astream.codec_context.open()  # fails here, before any frame, on a layout AAC lacks
            except (av.FFmpegError, ValueError) as e:
                self._c.close()
                self.tmp.unlink(missing_ok=True)
                raise ValueError(f"driving audio layout {self.audio.layout!r} ({self.audio.samples.shape[1]} "
                                 f"channels) cannot be encoded to AAC ({e}); choose a downmix: --audio-mix "
                                 "stereo or --audio-mix mono") from e
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
