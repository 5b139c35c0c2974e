"""Probe one input file: what it holds, and whether the pipeline can use it.

A broken input is a verdict, not a crash: :func:`probe_source` never raises for media problems
and never writes to, moves or deletes the file (it is opened read-only through PyAV). It
returns a :class:`~lipforge.manifests.schema.SourceRecord` with ``status="dropped"`` and one reason code:

========================  ==================================================================
``not_found``             the path does not exist
``not_a_file``            a FIFO, socket, device or directory: never opened
                          (:mod:`~lipforge.pipeline.source.files`)
``permission_denied``     a file this process may not read
``empty_file``            zero bytes
``decode_error``          not a media file, or its first video frame does not decode
``truncated``             the header promises N s but the data stops far earlier (cut-off
                          download or recording; also an MP4 whose ``moov`` index is missing)
``no_video_stream``       audio only (cover art in an audio file does not count as video)
``no_audio_stream``       video only
``too_short_source``      shorter than ``ProbeConfig.min_duration_s``
========================  ==================================================================

The truncation check is cheap: seek near the end of the video stream and decode the packets
there; if nothing decodes within a tolerance of the announced duration the file is truncated.

>>> rec = probe_source("talk.mp4", "talk_1a2b3c4d", ProbeConfig())   # doctest: +SKIP
>>> rec.status, rec.reason, rec.width                                 # doctest: +SKIP
('ok', None, 1920)
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from lipforge.manifests.schema import STATUS_DROPPED, SourceRecord
from lipforge.pipeline.source.files import PERMISSION_DENIED, source_file_problem
from lipforge.pipeline.media import display_quarter_turns


@dataclass(frozen=True)
class ProbeConfig:
    """The probe's settings (a field of the run config; it lives here, below the stages, because
    the probe reads it)."""

    min_duration_s: float = 0.5  # shorter files are dropped as too_short_source
    num_cpus: float = 1.0

    def __post_init__(self) -> None:
        if self.min_duration_s < 0:
            raise ValueError(f"ProbeConfig.min_duration_s must be >= 0, got {self.min_duration_s}")


# How far before the announced end the last decodable frame may lie before we call it truncated.
TRUNCATION_TOL_S = 1.0
TRUNCATION_TOL_FRAC = 0.05
_MAX_TAIL_PACKETS = 600  # bounds the tail decode (a long GOP) of the truncation check


def _drop(rec: SourceRecord, reason: str) -> SourceRecord:
    rec.status, rec.reason = STATUS_DROPPED, reason
    return rec


def mp4_cut_off(path: str) -> bool:
    """True when an ISO-BMFF (mp4/mov/m4a) file's top-level boxes run past the end of the file.

    Walks the box headers only (a few bytes per box): a file that starts with ``ftyp`` and whose
    last box (usually ``mdat``, with the ``moov`` index written after it) is longer than what is
    on disk was cut off, e.g. an interrupted download or recording.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            pos, first = 0, True
            while pos + 8 <= size:
                f.seek(pos)
                head = f.read(16)
                box_size, box_type = int.from_bytes(head[:4], "big"), head[4:8]
                if first and box_type != b"ftyp":
                    return False
                first = False
                if box_size == 1 and len(head) >= 16:  # 64-bit size
                    box_size = int.from_bytes(head[8:16], "big")
                elif box_size == 0:  # box extends to the end of the file
                    return False
                if box_size < 8:
                    return False
                if pos + box_size > size:
                    return True
                pos += box_size
            return pos != size and not first
    except OSError:
        return False


def real_video_streams(container) -> list:
    """Video streams that are moving pictures (not the cover art of an audio file)."""
    from av.stream import Disposition

    return [s for s in container.streams.video if not (s.disposition & Disposition.attached_pic)]


def video_duration_s(container, stream) -> float | None:
    """Duration of the video stream, falling back to the container's."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000.0
    return None


def _fill_streams(rec: SourceRecord, container) -> tuple[object | None, object | None]:
    vids = real_video_streams(container)
    v = vids[0] if vids else None
    a = container.streams.audio[0] if container.streams.audio else None
    if v is not None:
        cc = v.codec_context
        rec.width, rec.height = int(cc.width or 0) or None, int(cc.height or 0) or None
        rate = v.average_rate or v.guessed_rate or v.base_rate
        rec.src_fps = float(rate) if rate else None
        rec.video_codec = cc.name
        rec.duration_s = video_duration_s(container, v)
    if a is not None:
        rec.audio_codec = a.codec_context.name
        rec.audio_sample_rate = int(a.codec_context.sample_rate or a.rate or 0) or None
        rec.audio_channels = int(a.codec_context.channels or 0) or None
    if rec.duration_s is None and container.duration is not None:
        rec.duration_s = container.duration / 1_000_000.0
    return v, a


def _first_frame(container, stream):
    """The first decoded video frame, or None."""
    for packet in container.demux(stream):
        for frame in packet.decode():
            return frame
    try:  # flush: a one-frame file only yields its frame on the final empty packet
        for frame in stream.codec_context.decode(None):
            return frame
    except Exception:
        return None
    return None


def _last_frame_time(container, stream, duration_s: float) -> float | None:
    """Seek to shortly before the announced end; the latest packet time whose data is there.

    Packets are only demuxed, not decoded (a long GOP of 4K HEVC would cost seconds); the first
    packet after the seek (a keyframe) is decoded to make sure the tail is real data.
    """
    tb = stream.time_base
    target = max(0.0, duration_s - 2.0 * TRUNCATION_TOL_S)
    container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
    last = None
    decoded = False
    for n, packet in enumerate(container.demux(stream)):
        if n >= _MAX_TAIL_PACKETS:
            break
        if packet.pts is None or packet.size == 0:  # the flush packet at the end
            continue
        if not decoded:
            packet.decode()  # raises av.FFmpegError on garbage
            decoded = True
        t = float(packet.pts * tb)
        last = t if last is None else max(last, t)
    return last


def probe_source(path: str, source_id: str, cfg: ProbeConfig | None = None) -> SourceRecord:
    """Probe ``path`` with PyAV; always returns a record (dropped with a reason when unusable)."""
    import av

    cfg = cfg or ProbeConfig()
    rec = SourceRecord(source_id=source_id, path=str(path))
    problem = source_file_problem(path)  # before any open: a FIFO would block it for good
    if problem is not None:
        return _drop(rec, problem)
    rec.size_bytes = os.path.getsize(path)
    if rec.size_bytes == 0:
        return _drop(rec, "empty_file")
    try:
        container = av.open(str(path), mode="r")
    except PermissionError:  # os.access said yes, the open says no (root squash, an ACL)
        return _drop(rec, PERMISSION_DENIED)
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        # An mp4 whose boxes run past the end of the file lost its tail (often the moov index).
        return _drop(rec, "truncated" if mp4_cut_off(str(path)) else "decode_error")
    try:
        with container:
            v, a = _fill_streams(rec, container)
            if v is None and a is None:
                return _drop(rec, "decode_error")
            if v is None:
                return _drop(rec, "no_video_stream")
            if a is None:
                return _drop(rec, "no_audio_stream")
            first = _first_frame(container, v)
            if first is None:
                return _drop(rec, "decode_error")
            if display_quarter_turns(first) % 2:  # report the upright size, as the clips have it
                rec.width, rec.height = rec.height, rec.width
            if rec.duration_s is not None:
                if rec.duration_s < cfg.min_duration_s:
                    return _drop(rec, "too_short_source")
                last = _last_frame_time(container, v, rec.duration_s)
                tol = max(TRUNCATION_TOL_S, TRUNCATION_TOL_FRAC * rec.duration_s)
                if last is None or last < rec.duration_s - tol:
                    return _drop(rec, "truncated")
    except av.FFmpegError:
        # Header read fine (streams known) but the data fails: partial or damaged file.
        return _drop(rec, "truncated" if rec.width else "decode_error")
    return rec
