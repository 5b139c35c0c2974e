"""Checks of a job's files that run before any model loads: a bad input fails in seconds.

Loading a checkpoint takes 17-89 s; a missing, corrupt or silent input used to be found only
after it. :func:`probe_inputs` opens both files the way the job will (the video's stream facts
and first frame, the audio's first decodable samples), and :func:`check_job_paths` refuses an
output that would replace one of the inputs (``--out`` equal to ``--video`` used to overwrite
the source silently).

>>> check_job_paths("talk.mp4", "new.wav", "talk.mp4")   # doctest: +SKIP
Traceback (most recent call last):
ValueError: --out talk.mp4 is the --video input: choose another output path (the source is never replaced)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lipforge.pipeline.media import MediaDecodeError


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def check_job_paths(video: str | Path, audio: str | Path, output: str | Path) -> None:
    """ValueError (one line) when ``output`` is the video or the audio file (same path or same file)."""
    for flag, p in (("--video", video), ("--audio", audio)):
        if p is not None and _same_file(output, p):
            raise ValueError(f"--out {output} is the {flag} input: choose another output path "
                             "(an input is never replaced)")


@dataclass(frozen=True)
class AudioInfo:
    path: str
    rate: int
    channels: int
    layout: str


def probe_audio(path: str | Path) -> AudioInfo:
    """The first audio stream's facts, after decoding its first samples (MediaDecodeError naming the
    file otherwise): a file with no audio, or audio that does not decode, fails here."""
    import av

    path = str(path)
    if not Path(path).is_file():
        raise MediaDecodeError(f"{path}: no such file")
    try:
        with av.open(path) as c:
            if not c.streams.audio:
                raise MediaDecodeError(f"{path}: no audio stream")
            s = c.streams.audio[0]
            for f in c.decode(audio=0):
                if f.samples > 0:
                    break
            else:
                raise MediaDecodeError(f"{path}: audio stream is empty")
            return AudioInfo(path, int(s.rate), int(s.channels), getattr(s.layout, "name", "") or "")
    except av.FFmpegError as e:
        raise MediaDecodeError(f"{path}: cannot decode audio ({type(e).__name__}: {e})") from e


def probe_inputs(video: str | Path, audio: str | Path, output: str | Path | None = None):
    """Everything a job can check about its files without the model: (MediaInfo, AudioInfo)."""
    from lipforge.infer.source import probe

    if output is not None:
        check_job_paths(video, audio, output)
    return probe(video), probe_audio(audio)
