"""Decode a source once, as a stream, into 25 fps constant-rate frames and 16 kHz mono audio.

No intermediate file is written. Video and audio are read through two demuxers of the same
file (each stream is decoded exactly once), so a badly interleaved file (all audio at the end)
never forces us to hold the whole video in memory: audio is pulled only as far as the clip
being cut needs.

Frame-rate normalization (drop or duplicate by timestamp): output frame ``i`` is at time
``i / fps``; it shows the latest source frame whose time is ``<= i / fps + 0.5 / fps`` (the
nearest frame, ties to the later), or the first source frame before the video starts. The time
origin is the first video frame; audio before it is cut, a later audio start is zero-padded.

A source that is a range of its file (``start_s`` / ``end_s``, see
:mod:`~lipforge.pipeline.source.ranges`) keeps the file's time origin and frame numbering: the
stream decodes the first frame (the origin), seeks to the keyframe before ``start_s``, yields
only frames ``frame_index(start_s) .. frame_index(end_s) - 1`` (the same pixels a whole-file
decode shows there) and stops decoding at ``end_s``; the audio seeks likewise.

>>> fs = FrameStream("talk.mp4", fps=25, work_max_side=640)     # doctest: +SKIP
>>> for i, rgb in fs: ...                                       # (H, W, 3) uint8 at 25 fps
>>> audio = AudioStream("talk.mp4", fs.t0).read(0, 16000)       # (16000,) float32
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from lipforge.pipeline.media import MediaDecodeError, display_quarter_turns


NATIVE_SCALE = ("yuv", "nv", "gray", "p010", "p016")  # pixel formats scaled before the RGB conversion


def refuse_non_file(path: str) -> None:
    """Raise :class:`MediaDecodeError` unless ``path`` is a readable regular file (checked before
    the open: a FIFO swapped in after the probe would block the decoder for good)."""
    from lipforge.pipeline.source.files import source_file_problem

    problem = source_file_problem(path)
    if problem is not None:
        raise MediaDecodeError(f"{path}: {problem}")


def work_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Size that fits ``max_side`` keeping the aspect ratio (never upscales); even not required."""
    s = min(1.0, max_side / max(width, height))
    return max(1, int(round(width * s))), max(1, int(round(height * s)))


class FrameStream:
    """Iterate ``(index, frame)`` at a constant ``fps``; frames (H, W, 3) uint8 RGB, downscaled
    to fit ``work_max_side``. After iteration ``n_frames`` holds the count.

    Attributes set on the first frame: ``source_width``, ``source_height``, ``width``,
    ``height``, ``work_scale`` (work width / source width), ``t0`` (source time of frame 0).
    """

    def __init__(self, path: str, fps: int = 25, work_max_side: int = 1280, start_s: float | None = None,
                 end_s: float | None = None) -> None:
        from lipforge.pipeline.source.ranges import frame_index

        self.path, self.fps, self.work_max_side = str(path), fps, work_max_side
        # A range of the file: output frames [first_index, end_index) of the file's 25 fps grid.
        self.first_index = 0 if start_s is None else frame_index(start_s, fps)
        self.end_index = None if end_s is None else frame_index(end_s, fps)
        self.seeked = False  # True when decoding started at a keyframe inside the file
        self.source_width = self.source_height = self.width = self.height = 0
        self.work_scale = 1.0
        self.quarter_turns = 0
        self.t0: float | None = None
        self.n_frames = 0
        self.n_source_frames = 0

    def _convert(self, frame) -> np.ndarray:
        if not self.source_width:
            # Phones store portrait video as landscape plus a display rotation; every later
            # stage (and the face detector) must see the upright picture, as players show it.
            self.quarter_turns = display_quarter_turns(frame)
            w, h = (frame.height, frame.width) if self.quarter_turns % 2 else (frame.width, frame.height)
            self.source_width, self.source_height = w, h
            self.width, self.height = work_size(w, h, self.work_max_side)
            self.work_scale = self.width / self.source_width
        cw, ch = (self.height, self.width) if self.quarter_turns % 2 else (self.width, self.height)
        # Scale in the decoder's own format (4:2:0: a quarter of the chroma samples), then convert
        # to RGB at the working size: 2.3 instead of 6.1 ms per 1080x1920 frame (one pass of
        # swscale that scales in RGB); pixels differ from that pass by about 1 level on average.
        # Formats swscale reads but cannot write (palette, Bayer) take the one RGB pass.
        if (cw, ch) != (frame.width, frame.height) and frame.format.name.startswith(NATIVE_SCALE):
            frame = frame.reformat(width=cw, height=ch, threads=1)
        rgb = frame.reformat(width=cw, height=ch, format="rgb24", threads=1).to_ndarray()  # (ch, cw, 3) coded orientation
        if self.quarter_turns:
            rgb = np.ascontiguousarray(np.rot90(rgb, self.quarter_turns))  # (H, W, 3) upright
        return rgb

    def _source_frames(self) -> Iterator[tuple[float, object]]:
        import av

        from lipforge.pipeline.source.probe import real_video_streams

        refuse_non_file(self.path)
        try:
            with av.open(self.path, mode="r") as c:
                vids = real_video_streams(c)
                if not vids:
                    raise MediaDecodeError(f"{self.path}: no video stream")
                vs = vids[0]
                # Single-threaded decode and conversion: shard bytes must not depend on how busy
                # the machine was (exactly-once reruns compare bytes); workers are 1 CPU anyway.
                vs.thread_type = "SLICE"
                vs.thread_count = 1
                rate = vs.average_rate or vs.guessed_rate
                dt = 1.0 / float(rate) if rate else 1.0 / self.fps
                last_t = None
                if self.first_index > 0:
                    self._seek_to_range(c, vs)
                for frame in c.decode(vs):
                    t = frame.time
                    if t is None:  # no timestamps: assume the nominal rate
                        t = 0.0 if last_t is None else last_t + dt
                    if last_t is not None and t <= last_t:
                        t = last_t + 1e-6  # keep order for the odd non-monotonic stamp
                    last_t = t
                    self.n_source_frames += 1
                    yield t, frame
                self._end_t = (last_t + dt) if last_t is not None else None
        except av.FFmpegError as e:
            raise MediaDecodeError(f"cannot decode video of {self.path}: {e}") from e

    def _seek_to_range(self, c, vs) -> None:
        """Set ``t0`` from the file's first frame, then seek to the keyframe before the range.

        The seek target is one frame before the first output frame's time: the latest source
        frame at or before that slot is then decoded. A container whose seek lands after the
        target (a broken index) is decoded from the start instead (``seeked`` is then False).
        """
        for frame in c.decode(vs):
            if frame.time is not None:
                self.t0 = frame.time
            break
        if self.t0 is None:
            self.t0 = 0.0
            return
        target = self.t0 + (self.first_index - 1) / self.fps
        c.seek(int(target / vs.time_base), stream=vs, backward=True, any_frame=False)
        self.seeked = True

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return self._frames(None)

    def select(self, want: set[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Only the output frames in ``want`` (each converted to RGB only if wanted), in order;
        decoding stops after the last of them (``n_frames`` then counts up to it). The pixels are
        those ``iter`` shows there."""
        return self._frames(frozenset(want)) if want else iter(())

    def _frames(self, want: frozenset[int] | None) -> Iterator[tuple[int, np.ndarray]]:
        half = 0.5 / self.fps
        first, end = self.first_index, self.end_index
        if want is not None:  # stop after the last wanted frame, as a range stops at its end
            end = max(want) + 1 if end is None else min(end, max(want) + 1)
        i = first
        prev = None  # the latest source frame, converted only when it is shown
        prev_rgb: np.ndarray | None = None
        self._end_t = None
        frames = self._source_frames()
        try:
            for t, frame in frames:
                if self.t0 is None:
                    self.t0 = t
                rel = t - self.t0
                if prev is None and first and rel > first / self.fps + half + 1e-6:
                    # The seek landed past the range start: decode this file from the start.
                    frames.close()
                    self.seeked, self.t0 = False, None
                    yield from self._iter_unseeked(want)
                    return
                # Output frames whose slot ends before this source frame show the previous one.
                while prev is not None and i / self.fps + half < rel - 1e-6 and (end is None or i < end):
                    if want is None or i in want:
                        if prev_rgb is None:
                            prev_rgb = self._convert(prev)
                        yield i, prev_rgb
                    i += 1
                if end is not None and i >= end:
                    break
                prev, prev_rgb = frame, None
        finally:
            frames.close()
        if prev is None:
            raise MediaDecodeError(f"{self.path}: no decodable video frame")
        if end is None or i < end:
            n_total = int(round((self._end_t - self.t0) * self.fps)) if self._end_t is not None else i + 1
            n_total = max(i + 1, n_total) if end is None else min(end, max(i + 1, n_total))
            while i < n_total:
                if want is None or i in want:
                    if prev_rgb is None:
                        prev_rgb = self._convert(prev)
                    yield i, prev_rgb
                i += 1
        self.n_frames = i - first

    def _iter_unseeked(self, want: frozenset[int] | None) -> Iterator[tuple[int, np.ndarray]]:
        first = self.first_index
        self.first_index = 0
        try:
            for i, rgb in self._frames(want):
                if i >= first:
                    yield i, rgb
        finally:
            self.first_index = first
        self.n_frames -= first


class AudioStream:
    """Pull 16 kHz mono float32 samples by absolute index, decoding the audio stream once.

    Requests must not go backwards past the last ``read`` start (samples before it are freed),
    which matches clips being cut in time order. Missing audio reads as zeros.

    ``start_s`` (a range source) seeks the audio to shortly before that time (seconds after
    ``t0``): samples are still indexed from ``t0``, and nothing before the seek is buffered.
    """

    SEEK_PREROLL_S = 0.5  # decode this much before the range: the decoder and resampler settle

    def __init__(self, path: str, t0: float, sample_rate: int = 16000, start_s: float | None = None) -> None:
        self.path, self.t0, self.sample_rate = str(path), float(t0), sample_rate
        self.start_s = start_s
        self._chunks: list[np.ndarray] = []
        self._base = 0  # absolute sample index of self._chunks[0][0]
        self._have = 0  # absolute index one past the last buffered sample
        self.peak_buffered = 0  # most samples held at once (tests: bounded by clip length)
        self._gen: Iterator[np.ndarray] | None = None
        self._done = False

    def _decoded(self) -> Iterator[np.ndarray]:
        import av

        refuse_non_file(self.path)
        try:
            with av.open(self.path, mode="r") as c:
                if not c.streams.audio:
                    return
                a = c.streams.audio[0]
                res = av.AudioResampler(format="flt", layout="mono", rate=self.sample_rate)
                skip: int | None = None
                seek = self.start_s is not None and self.start_s > self.SEEK_PREROLL_S
                if seek:
                    target = self.t0 + self.start_s - self.SEEK_PREROLL_S
                    c.seek(int(target / a.time_base), stream=a, backward=True, any_frame=False)
                for frame in c.decode(a):
                    if skip is None:  # align the first sample with video frame 0
                        start = frame.time if frame.time is not None else self.t0
                        skip = int(round((self.t0 - start) * self.sample_rate))
                        if skip < 0 and seek and not self._chunks:
                            self._base = self._have = -skip  # the buffer starts where the seek landed
                        elif skip < 0:
                            yield np.zeros(-skip, np.float32)
                    for g in res.resample(frame):
                        x = g.to_ndarray().reshape(-1)
                        if skip > 0:
                            cut = min(skip, len(x))
                            x, skip = x[cut:], skip - cut
                        if len(x):
                            yield x.astype(np.float32, copy=False)
                for g in res.resample(None):
                    x = g.to_ndarray().reshape(-1)
                    if skip and skip > 0:
                        cut = min(skip, len(x))
                        x, skip = x[cut:], skip - cut
                    if len(x):
                        yield x.astype(np.float32, copy=False)
        except av.FFmpegError as e:
            raise MediaDecodeError(f"cannot decode audio of {self.path}: {e}") from e

    def _pull_until(self, end: int, start: int = 0) -> None:
        """Decode up to sample ``end``, freeing what lies before ``start`` as it goes, so a jump
        ahead (a resumed run skipping finished clips) never buffers the audio in between."""
        if self._gen is None:
            self._gen = self._decoded()
        while self._have < end and not self._done:
            try:
                x = next(self._gen)
            except StopIteration:
                self._done = True
                break
            self._chunks.append(x)
            self._have += len(x)
            self._free_before(start)
            self.peak_buffered = max(self.peak_buffered, self.buffered)

    def _free_before(self, start: int) -> None:
        while self._chunks and self._base + len(self._chunks[0]) <= start:
            self._base += len(self._chunks[0])
            self._chunks.pop(0)

    def read(self, start: int, end: int) -> np.ndarray:
        """Samples ``[start, end)`` as (end - start,) float32, zero-padded past the audio's end."""
        self._pull_until(end, start)
        self._free_before(start)
        out = np.zeros(end - start, np.float32)
        pos = self._base
        for ch in self._chunks:
            a, b = max(pos, start), min(pos + len(ch), end)
            if a < b:
                out[a - start:b - start] = ch[a - pos:b - pos]
            pos += len(ch)
            if pos >= end:
                break
        return out

    @property
    def buffered(self) -> int:
        return self._have - self._base
