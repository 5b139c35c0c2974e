"""Small, pure media helpers on PyAV and soundfile (PyAV bundles ffmpeg's libraries).

Used by the shard writer, the trainer's loader, inference and the synthetic media generator,
so everything encodes and decodes the same way.
"""
from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np

from lipforge.errors import UserError


class MediaDecodeError(UserError, RuntimeError):
    """A media file or buffer could not be decoded; handled per item, never crashes a run (and
    reported as a user error, one line naming the file, where a command meets it)."""


def encode_wav(audio: np.ndarray, sample_rate: int = 16000) -> bytes:
    """float32 mono in [-1, 1] -> PCM16 WAV bytes."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(audio, np.float32), -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def decode_wav(data: bytes | str | Path) -> tuple[np.ndarray, int]:
    """WAV bytes or path -> (float32 (N,) mono, sample_rate)."""
    import soundfile as sf

    try:
        src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else str(data)
        audio, sr = sf.read(src, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types
        raise MediaDecodeError(f"cannot decode wav: {e}") from e
    return audio.mean(axis=1).astype(np.float32), int(sr)


X264_PARAMS = "mbtree=0"  # see encode_video: mbtree makes the output depend on heap contents
SHARD_KEYINT = 16  # frames between keyframes in shard clips (ShardConfig.video_keyint's default)


def _open_output(target, fmt: str):
    import av

    return av.open(target, mode="w", format=fmt)


def encode_video(frames: np.ndarray, fps: int = 25, crf: int = 18, audio: np.ndarray | None = None,
                 sample_rate: int = 16000, path: str | Path | None = None, audio_channels: int = 1,
                 audio_codec: str = "aac", deterministic: bool = True, keyint: int | None = None) -> bytes | None:
    """Encode (T, H, W, 3) uint8 RGB frames as H.264 MP4, optionally with audio.

    Returns the bytes when ``path`` is None, else writes the file. ``audio`` is float32,
    (N,) or (N, C). Odd sizes are padded by one pixel (yuv420p needs even sizes).
    ``deterministic`` (shards, test media) gives the same bytes for the same frames in any
    process; ``False`` (inference's final video) keeps x264's mbtree, which spends bits better
    between a repainted face and a static background, at the price of byte reproducibility.
    ``keyint``: a keyframe (IDR, closed GOP) exactly every ``keyint`` frames, so a reader seeks
    to any frame decoding at most ``keyint - 1`` frames before it (:func:`decode_frames`); None:
    x264's default (keyint 250 with scene cuts: a clip of up to 10 s is one GOP).
    """
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"encode_video wants (T, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    t, h, w, _ = frames.shape
    ph, pw = h + (h % 2), w + (w % 2)
    if (ph, pw) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    buf = io.BytesIO() if path is None else str(path)
    out = _open_output(buf, "mp4")
    try:
        vs = out.add_stream("libx264", rate=Fraction(fps))
        vs.width, vs.height, vs.pix_fmt = pw, ph, "yuv420p"
        # Byte-deterministic encoding (exactly-once reruns compare shard bytes):
        # - one encoder thread: x264's output depends on its thread count;
        # - no macroblock-tree rate control: x264's mbtree (on in every preset) reads heap
        #   memory it never wrote, so the same frames encoded in two processes, or twice in one
        #   process after other allocations, came out different from some frame on (measured
        #   with tests/pipeline/test_media_determinism.py: 18 of 300 re-encodes of 96 px clips,
        #   3 distinct outputs in 6 processes for a 320 px crop of the real fixture; 0 with
        #   mbtree=0). Cost at crf 18 on 320 px face crops: +19% bytes, +0.2 dB PSNR.
        opts = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
        params = [X264_PARAMS] if deterministic else []
        if keyint is not None:
            if keyint < 1:
                raise ValueError(f"encode_video keyint must be >= 1 or None, got {keyint}")
            params.append(f"keyint={keyint}:min-keyint={keyint}:scenecut=0")
        if params:
            opts["x264-params"] = ":".join(params)
        vs.options = opts
        vs.codec_context.thread_count = 1
        vs.codec_context.time_base = Fraction(1, fps)
        ast = None
        if audio is not None:
            a = np.asarray(audio, np.float32)
            if a.ndim == 1:
                a = a[:, None]
            if a.shape[1] != audio_channels:
                a = np.repeat(a[:, :1], audio_channels, axis=1)
            ast = out.add_stream(audio_codec, rate=sample_rate)
            ast.layout = "mono" if audio_channels == 1 else "stereo"
        for i in range(t):
            vf = av.VideoFrame.from_ndarray(rgb_to_i420(frames[i]), format="yuv420p")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if ast is not None:
            chunk = 1024
            for s in range(0, len(a), chunk):
                block = np.ascontiguousarray(a[s:s + chunk].T)  # (C, n) planar
                af = av.AudioFrame.from_ndarray(block, format="fltp", layout=ast.layout.name)
                af.sample_rate = sample_rate
                af.pts = s
                af.time_base = Fraction(1, sample_rate)
                for p in ast.encode(af):
                    out.mux(p)
            for p in ast.encode():
                out.mux(p)
    finally:
        out.close()
    return buf.getvalue() if path is None else None


def rgb_to_i420(frame: np.ndarray) -> np.ndarray:
    """RGB -> planar YUV 4:2:0 (BT.601, limited range: what libswscale makes of rgb24 for x264),
    by OpenCV: 0.13 ms for a 320 px crop against 0.65-1.06 ms in libswscale's rgb24 path, which
    was a third of the crops' encode (Y equal within 1 level, chroma within a few levels at
    edges: OpenCV averages each 2x2 block)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420)


def display_quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns (0-3) that make a decoded frame upright.

    PyAV's ``frame.rotation`` is the display matrix's counter-clockwise angle; ffmpeg's own
    autorotation shows such a frame as ``np.rot90(pixels, angle // 90)``. Angles that are not a
    multiple of 90 degrees are rounded to the nearest quarter turn.
    """
    angle = getattr(frame, "rotation", 0) or 0
    return int(round(float(angle) / 90.0)) % 4


def decode_video(data: bytes | str | Path, max_frames: int | None = None) -> np.ndarray:
    """MP4 bytes or path -> (T, H, W, 3) uint8 RGB (every frame, in order)."""
    import av

    try:
        src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else str(data)
        with av.open(src) as c:
            frames = []
            for f in c.decode(video=0):
                turns = display_quarter_turns(f)  # phone video: show it upright, as players do
                rgb = f.to_ndarray(format="rgb24")
                frames.append(np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb)
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.FFmpegError as e:
        raise MediaDecodeError(f"cannot decode video: {e}") from e
    if not frames:
        raise MediaDecodeError("video has no frames")
    return np.stack(frames)


def decode_runs(indices: list[int], keyint: int | None) -> list[list[int]]:
    """Sorted distinct frame indices grouped into decode runs: a run starts with a seek, so a new
    one starts only where the keyframe before its first frame lies past the frame after the
    previous run (seeking then skips frames); ``keyint`` None (GOP layout unknown, e.g. a shard
    written as one GOP): one run.

    >>> decode_runs([40, 3, 4, 5, 20], keyint=16)
    [[3, 4, 5], [20], [40]]
    >>> decode_runs([3, 17, 40], keyint=None)
    [[3, 17, 40]]
    """
    runs: list[list[int]] = []
    for i in sorted(set(indices)):
        if runs and (keyint is None or (i // keyint) * keyint <= runs[-1][-1] + 1):
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def decode_frames(data: bytes | str | Path, indices, keyint: int | None = None,
                  stats: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The frames at ``indices`` (clip frame numbers, any order, repeats allowed) of MP4 bytes or a
    path, decoding only what they need: ((N, H, W, 3) uint8 RGB, (N,) the frame each really is).

    Each run of :func:`decode_runs` seeks to the keyframe at or before its first frame and decodes
    forward to its last; frames on the way are decoded (they are references) but never converted
    to RGB. Frames are identified by their timestamps, so the result equals ``decode_video(data)``
    at the same indices, pixel for pixel. An index past the last frame gives the last frame (its
    real index is returned), as ``decode_video(...)[min(i, T - 1)]`` would. ``keyint`` is the
    writer's keyframe interval (shard json ``video_keyint``); a wrong one only costs speed.
    ``stats``, when given, is filled with the ``seeks`` made and the frames ``decoded``.
    """
    import av

    want = [int(i) for i in indices]
    if not want or min(want) < 0:
        raise ValueError(f"decode_frames wants frame indices >= 0, got {want}")
    got: dict[int, np.ndarray] = {}
    last: tuple[int, object] | None = None  # the last frame of the video, once a run reaches the end
    seeks = decoded = 0
    try:
        src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else str(data)
        with av.open(src) as c:
            if not c.streams.video:
                raise MediaDecodeError("video has no video stream")
            vs = c.streams.video[0]
            # one thread: a DataLoader worker is one core's worth of work, and a short run from a
            # keyframe gains nothing from slice threads (measured on 320 px shards: about a quarter
            # less CPU per window than ffmpeg's automatic threads); the pixels are the same
            vs.thread_type, vs.thread_count = "SLICE", 1
            tb, rate = vs.time_base, vs.average_rate or vs.guessed_rate or Fraction(25)
            t0 = vs.start_time or 0

            def index_of(f) -> int:
                return int(round((f.pts - t0) * tb * rate))

            for run in decode_runs(want, keyint):
                first, target, todo = run[0], run[0], set(run)
                while True:  # a guard: should a demuxer land on a keyframe after `first`, step back
                    c.seek(t0 + int(round(target / rate / tb)), stream=vs, backward=True, any_frame=False)
                    frames = c.decode(vs)
                    f = next(frames, None)
                    seeks, decoded = seeks + 1, decoded + (f is not None)
                    if f is None or index_of(f) <= first or target <= 0:
                        break
                    target = min(target, index_of(f)) - 1
                prev = None
                while f is not None and todo:
                    i = index_of(f)
                    if i in todo:
                        got[i] = _upright_rgb(f)
                        todo.discard(i)
                    prev = f
                    f = next(frames, None) if todo else None
                    decoded += f is not None
                if todo:  # the run ran past the end: its last decoded frame is the video's last
                    if prev is None:
                        raise MediaDecodeError("video has no frames")
                    last = (index_of(prev), prev)
                    if last[0] not in got:
                        got[last[0]] = _upright_rgb(prev)
    except av.FFmpegError as e:
        raise MediaDecodeError(f"cannot decode video: {e}") from e
    if stats is not None:
        stats.update(seeks=seeks, decoded=decoded)
    real = np.array([i if i in got or last is None else min(i, last[0]) for i in want])
    missing = [i for i in real.tolist() if i not in got]
    if missing:  # before the first frame's timestamp, or a gap in the timestamps
        raise MediaDecodeError(f"video has no frame {missing[0]} (frames are numbered by timestamp)")
    return np.stack([got[i] for i in real.tolist()]), real


def _upright_rgb(f) -> np.ndarray:
    turns = display_quarter_turns(f)  # phone video: show it upright, as decode_video does
    rgb = f.to_ndarray(format="rgb24", threads=1)  # one swscale thread, as the decoder (see decode_frames)
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def decode_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Any container's first audio stream -> float32 (N,) mono at ``sample_rate`` (PyAV resampler)."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise MediaDecodeError(f"{path}: no audio stream")
            res = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks = []
            for f in c.decode(audio=0):
                for g in res.resample(f):
                    chunks.append(g.to_ndarray().reshape(-1))
            for g in res.resample(None):
                chunks.append(g.to_ndarray().reshape(-1))
    except av.FFmpegError as e:
        raise MediaDecodeError(f"cannot decode audio of {path}: {e}") from e
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
