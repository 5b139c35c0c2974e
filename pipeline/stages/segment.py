"""Cut a source into candidate clips in one streaming pass: decode, normalize, split scenes, segment.

Memory does not grow with video length: the segmenter holds the frames of the current scene
since the last emitted piece, and emits a piece of ``max_clip_s`` as soon as that buffer
exceeds ``max_clip_s + min_clip_s`` (so the scene's remainder can still make a piece of at
least ``min_clip_s``). When a scene closes (a cut, or the end of the video) its remainder
becomes one piece, or two equal pieces if it is longer than ``max_clip_s``. A scene shorter
than ``min_clip_s`` yields a candidate dropped as ``too_short`` so it still lands in the
manifest. The peak buffer is at most ``(max_clip_s + min_clip_s) * fps + 1`` frames
(``peak_buffer_frames`` reports it), held in blocks a piece is cut from without a copy
(:class:`FrameBlocks`).

Candidates whose id is in ``skip`` (already done in an earlier run) are listed in
``candidate_ids`` but not materialized or yielded.

A source that is a range of its file (``SourceRecord.start_s`` / ``end_s``) is segmented like
a file that holds only that range; frame indices, and so clip ids and times, stay those of the
whole file (:mod:`~lipforge.pipeline.source.ranges`).

>>> seg = Segmenter(SegmentConfig(max_clip_s=8.0))                 # doctest: +SKIP
>>> for item in seg.run("talk.mp4", source_record): ...            # ClipItem per candidate
>>> seg.n_frames, seg.n_scenes, seg.candidate_ids                  # after exhaustion
"""
from __future__ import annotations

import math
import sys
import threading
from collections.abc import Iterator

import numpy as np

from lipforge.manifests.ids import clip_id
from lipforge.manifests.schema import SourceRecord
from lipforge.pipeline.stages.config import SegmentConfig
from lipforge.pipeline.source.normalize import AudioStream, FrameStream
from lipforge.pipeline.source.ranges import source_measurements
from lipforge.pipeline.source.scenes import SceneCuts
from lipforge.pipeline.stages.base import ClipItem

STAGE_NAME = "segment"  # dropped_by of too_short candidates


def split_remainder(n: int, min_f: int, max_f: int) -> list[int]:
    """Lengths of the pieces a closed scene remainder of ``n`` frames becomes.

    Pieces are as equal as possible, none longer than ``max_f``; when that would make them
    shorter than ``min_f`` (only possible when max < 2 * min), full ``max_f`` pieces are cut
    and the short tail is returned last (the caller drops it as too_short).
    """
    if n <= max_f:
        return [n]
    k = math.ceil(n / max_f)
    if n // k >= min_f:
        base, extra = divmod(n, k)
        return [base + 1] * extra + [base] * (k - extra)
    full, tail = divmod(n, max_f)
    return [max_f] * full + ([tail] if tail else [])


POOL_BLOCKS = 3  # blocks a process keeps for reuse (a worker's peak: the clip it holds plus two buffering)
_pool: list[np.ndarray] = []
_pool_lock = threading.Lock()


def frame_block(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialized uint8 block of ``shape``: one this process allocated before and nothing
    holds any more (no item, no view: only the pool references it), else a new one. A reused block
    is already in memory; a new one is faulted in page by page as frames are written (on a
    2-core VM the kernel zeroing fresh huge pages cost a third of the copy's CPU in a spine run)."""
    with _pool_lock:
        for i in range(len(_pool)):
            if sys.getrefcount(_pool[i]) == 2 and _pool[i].shape == shape:  # the list's ref + the argument's
                return _pool[i]
        for i in reversed(range(len(_pool))):  # free blocks of another size are let go
            if sys.getrefcount(_pool[i]) == 2:
                del _pool[i]
        block = np.empty(shape, np.uint8)
        if len(_pool) < POOL_BLOCKS:
            _pool.append(block)
        return block


class FrameBlocks:
    """The buffered frames, written into blocks of ``cap`` (``max_f``) frames as they are decoded, so
    a piece is cut without copying: a full-length piece (``max_f`` frames from the buffer's start)
    is a whole block, a shorter one that fills at least half its block is a view of it. Other
    pieces (the second of a split scene remainder, short ones) are copied out. Each frame is
    written once, while still in cache, from the decoder's buffer, which is freed at once (a deque
    of decoded frames then one copy per piece held the clip twice at the cut: 2.2 GB at the peak
    for 10 s clips of 1280x720 against 1.4 GB). An item's frames may thus be a view of a block up
    to twice its length, never shared with another item (a piece's frames are its own); a block
    returns to :func:`frame_block`'s pool when its item is gone."""

    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self.blocks: list[np.ndarray] = []
        self.off = 0  # index of the first buffered frame in blocks[0]
        self.n = 0  # frames buffered

    def append(self, rgb: np.ndarray) -> None:
        b, k = divmod(self.off + self.n, self.cap)
        if b == len(self.blocks):
            self.blocks.append(frame_block((self.cap,) + rgb.shape))
        self.blocks[b][k] = rgb
        self.n += 1

    def take(self, length: int, keep: bool = True) -> np.ndarray | None:
        """The first ``length`` frames, removed from the buffer ((length, H, W, 3) uint8), or None
        when ``keep`` is False (a skipped or too short piece: nothing is copied)."""
        assert 0 < length <= self.n
        out = None
        if keep and self.off == 0 and 2 * length >= self.cap:
            out = self.blocks[0] if length == self.cap else self.blocks[0][:length]
        elif keep:
            out = np.empty((length,) + self.blocks[0].shape[1:], np.uint8)
            pos = 0
            while pos < length:
                b, k = divmod(self.off + pos, self.cap)
                m = min(self.cap - k, length - pos)
                out[pos:pos + m] = self.blocks[b][k:k + m]
                pos += m
        self.off, self.n = self.off + length, self.n - length
        while self.blocks and (self.off >= self.cap or self.n == 0):
            del self.blocks[0]
            self.off = max(0, self.off - self.cap) if self.n else 0
        return out


class Segmenter:
    """Stream one source into candidate :class:`~lipforge.pipeline.stages.base.ClipItem` s (see module doc)."""

    def __init__(self, cfg: SegmentConfig | None = None) -> None:
        self.cfg = cfg or SegmentConfig()
        self.min_f = math.ceil(self.cfg.min_clip_s * self.cfg.fps - 1e-9)
        self.max_f = math.floor(self.cfg.max_clip_s * self.cfg.fps + 1e-9)
        SceneCuts(self.cfg.scene_detector, self.cfg.scene_threshold, self.cfg.fps)  # validate the detector settings now, not mid-run
        self.spf = self.cfg.sample_rate // self.cfg.fps  # audio samples per frame (640)
        self._reset()

    def _reset(self) -> None:
        self.n_frames = 0
        self.n_scenes = 0
        self.candidate_ids: list[str] = []
        self.peak_buffer_frames = 0
        self.work_scale = 1.0

    def run(self, path: str, source: SourceRecord, skip: frozenset[str] = frozenset(),
            scene_base: int = 0) -> Iterator[ClipItem]:
        """Yield candidates in time order; raises MediaDecodeError when the source fails to decode.
        ``scene_base``: the first scene's index (a part of a source, :mod:`~lipforge.pipeline.source.parts`)."""
        self._reset()
        fs = FrameStream(path, self.cfg.fps, self.cfg.work_max_side, source.start_s, source.end_s)
        cuts = SceneCuts(self.cfg.scene_detector, self.cfg.scene_threshold, self.cfg.fps)
        audio: AudioStream | None = None
        buf = FrameBlocks(self.max_f)
        buf_start = fs.first_index  # frame index of buf[0] (0 unless the source is a range)
        scene_start = fs.first_index
        per_source = source_measurements(source)
        scene = 0
        pieces_in_scene = 0

        def emit(start: int, length: int, too_short: bool) -> ClipItem | None:
            nonlocal audio, buf_start
            end = start + length
            cid = clip_id(source.source_id, start / self.cfg.fps)
            self.candidate_ids.append(cid)
            buf_start = end
            if cid in skip:
                buf.take(length, keep=False)
                return None
            frames = buf.take(length, keep=not too_short)  # (T, H, W, 3), or None
            item = ClipItem(clip_id=cid, source_id=source.source_id, parent_id=cid, start_frame=start,
                            end_frame=end, fps=float(self.cfg.fps), sample_rate=self.cfg.sample_rate,
                            scene_index=scene_base + scene, work_scale=fs.work_scale, source_width=fs.source_width,
                            source_height=fs.source_height)
            item.measurements.update(width=fs.source_width, height=fs.source_height, work_scale=fs.work_scale)
            item.measurements.update(per_source)
            if too_short:
                return item.drop("too_short", by=STAGE_NAME)
            if audio is None:
                # A range seeks to its start (never to a later clip: a resumed run must decode
                # the same samples as an uninterrupted one).
                audio = AudioStream(path, fs.t0 or 0.0, self.cfg.sample_rate,
                                    start_s=fs.first_index / self.cfg.fps if fs.first_index else None)
            item.frames = frames
            item.audio = audio.read(start * self.spf, end * self.spf)  # (T * 640,) float32
            return item

        def close_scene(end: int) -> Iterator[ClipItem]:
            nonlocal pieces_in_scene
            n = end - buf_start
            if n <= 0:
                return
            lengths = [n] if (n < self.min_f and pieces_in_scene == 0) else split_remainder(n, self.min_f, self.max_f)
            for ln in lengths:
                it = emit(buf_start, ln, too_short=ln < self.min_f)
                pieces_in_scene += 1
                if it is not None:
                    yield it
                it = None  # not held while the next piece is cut (one clip's frames at a time)

        for i, rgb in fs:
            if cuts.feed(i, rgb) and i > scene_start:
                yield from close_scene(i)
                scene += 1
                scene_start, pieces_in_scene = i, 0
            buf.append(rgb)
            self.peak_buffer_frames = max(self.peak_buffer_frames, buf.n)
            if buf.n > self.max_f + self.min_f:
                it = emit(buf_start, self.max_f, too_short=False)
                pieces_in_scene += 1
                if it is not None:
                    yield it
                it = None  # not held while the next clip's frames are decoded
        self.n_frames = fs.n_frames
        yield from close_scene(fs.first_index + self.n_frames)
        self.n_scenes = scene + 1
        self.work_scale = fs.work_scale


def iter_candidates(path: str, source: SourceRecord, cfg: SegmentConfig,
                    skip: frozenset[str] = frozenset()) -> Iterator[ClipItem]:
    """Functional form of :meth:`Segmenter.run` (no access to the counts afterwards)."""
    return Segmenter(cfg).run(path, source, skip)
