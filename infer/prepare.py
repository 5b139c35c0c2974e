"""CPU stages of one inference job: decode + normalize + length rules + face crops, and paste-back.

Split from the model so the batch runner can run them on CPU workers while the GPU actors only
sample. A job's preparation is a :class:`PreparedJob` that saves to one ``.npz``; the per-source
face track is cached by the content hash of the video file, so thousands of jobs over the same
source detect its face once.

>>> prep = prepare_job("talk.mp4", "new.wav", crop_size=64, cache_dir="cache/")   # doctest: +SKIP
>>> prep.crops.shape                                                               # doctest: +SKIP
(T, 64, 64, 3)
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from lipforge.infer.faceprep import FaceTrack, prepare_faces, render_mask_images
from lipforge.infer.video import (FPS, SAMPLE_RATE, composite, fit_audio, frames_for_audio, loop_positions,
                         sample_frames, write_output)
from lipforge.pipeline.faces.crop import crop_frames


@dataclass
class PreparedJob:
    """Everything the model needs for one job, plus what paste-back needs (no full frames)."""

    crops: np.ndarray  # (T, S, S, 3) uint8 face crops after the length rules
    masks: np.ndarray  # (T, S, S) float32, 1 = generate
    reference: np.ndarray  # (S, S, 3) uint8 reference crop (a source frame)
    audio: np.ndarray  # (T * 640,) float32 at 16 kHz
    positions: np.ndarray  # (T,) source frame position of each output frame (fractional at joins)
    crop_boxes: np.ndarray  # (T, 4) square crop per output frame, frame px
    boxes: np.ndarray  # (T, 4) source face box per output frame, frame px
    mask_rects: np.ndarray  # (T, 4) mask rectangle per output frame, crop px (the region the model redraws)
    n_audio: int  # original audio length in samples (the output's duration)
    source_hash: str = ""  # sha256 of the source video file when prepared with a cache ("" = none)

    def save(self, path: str | Path) -> None:
        tmp = Path(path).with_suffix(".partial.npz")
        np.savez(tmp, **{f.name: np.asarray(getattr(self, f.name)) for f in fields(self)})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> "PreparedJob":
        with np.load(path, allow_pickle=False) as d:
            kw = {f.name: d[f.name] for f in fields(cls) if f.name in d.files}
        kw["n_audio"] = int(kw["n_audio"])
        if "source_hash" in kw:
            kw["source_hash"] = str(kw["source_hash"])
        return cls(**kw)


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes: the cache key of everything derived from a source video."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def video_fps(path: str | Path) -> float:
    import av

    from lipforge.pipeline.media import MediaDecodeError

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise MediaDecodeError(f"{path}: no video stream")
            rate = c.streams.video[0].average_rate or c.streams.video[0].guessed_rate
    except av.FFmpegError as e:
        raise MediaDecodeError(f"cannot open video {path}: {e}") from e
    return float(rate) if rate else float(FPS)


def load_source(video: str | Path) -> np.ndarray:
    """Decode and normalize a source video to 25 fps (nearest frame in time): (T, H, W, 3) uint8."""
    from lipforge.pipeline.media import decode_video

    frames = decode_video(video)
    fps = video_fps(video)
    if abs(fps - FPS) > 1e-3:
        n = max(1, int(round(len(frames) * FPS / fps)))
        idx = np.minimum(np.round(np.arange(n) * fps / FPS).astype(int), len(frames) - 1)
        frames = frames[idx]
    return frames


def load_audio(audio: str | Path) -> np.ndarray:
    """Any audio or video file -> float32 mono at 16 kHz."""
    from lipforge.pipeline.media import decode_audio

    a = decode_audio(audio, SAMPLE_RATE)
    if len(a) == 0:
        from lipforge.pipeline.media import MediaDecodeError

        raise MediaDecodeError(f"{audio}: audio stream is empty")
    return a


def face_track_cached(video: str | Path, frames: np.ndarray, crop_size: int, cache_dir: str | Path | None,
                      source_hash: str | None = None, **face_kw) -> FaceTrack:
    """:func:`prepare_faces` over the source frames, cached under ``cache_dir/<sha256>-<S>.npz``.

    ``source_hash``: the video's :func:`file_hash` when the caller has it already.
    """
    if cache_dir is None:
        return prepare_faces(frames, crop_size, **face_kw)
    recipe = face_kw.get("recipe")  # another crop/mask recipe is another track
    tag = f"-{recipe.face_tag()}" if recipe is not None else ""
    path = Path(cache_dir) / f"{source_hash or file_hash(video)}-{crop_size}{tag}.faces.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as d:
            return FaceTrack.from_npz(d)
    track = prepare_faces(frames, crop_size, **face_kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **track.to_npz())
    os.replace(tmp, path)
    return track


def prepare_job(video: str | Path, audio: str | Path, crop_size: int, cache_dir: str | Path | None = None,
                seed: int = 0, loop_smooth: int = 2, frames: np.ndarray | None = None, **face_kw) -> PreparedJob:
    """Decode, apply the length rules, crop and mask: the CPU half before sampling."""
    src = load_source(video) if frames is None else frames
    wav = load_audio(audio)
    n_out = frames_for_audio(len(wav))
    digest = file_hash(video) if cache_dir is not None else ""  # keys the face track and the latents
    track = face_track_cached(video, src, crop_size, cache_dir, source_hash=digest, **face_kw)
    pos = np.arange(n_out, dtype=np.float64) if n_out <= len(src) else loop_positions(len(src), n_out, loop_smooth)
    near = np.clip(np.rint(pos).astype(int), 0, len(src) - 1)
    t = track.take(near)
    # crop boxes follow the fractional positions too, so the crop glides with the blended frames
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(src) - 1)
    w = (pos - lo)[:, None]
    crop_boxes = track.crop_boxes[lo] * (1 - w) + track.crop_boxes[hi] * w
    boxes = track.boxes[lo] * (1 - w) + track.boxes[hi] * w
    out_frames = sample_frames(src, pos)
    crops = crop_frames(out_frames, crop_boxes, crop_size)
    masks = render_mask_images(t.mask_rects, crop_size)
    ref_idx = int(np.random.default_rng(seed).integers(len(src)))
    reference = crop_frames(src[ref_idx:ref_idx + 1], track.crop_boxes[ref_idx:ref_idx + 1], crop_size)[0]
    return PreparedJob(crops, masks, reference, fit_audio(wav, n_out), pos, crop_boxes, boxes, t.mask_rects, len(wav),
                       digest)


def finish_job(prep: PreparedJob, generated: np.ndarray, out: str | Path, video: str | Path | None = None,
               frames: np.ndarray | None = None, dilate: float = 0.08, feather: int = 6,
               generated_boxes: np.ndarray | None = None) -> Path:
    """Composite the generated crops into the full frames and write ``out`` (atomically) with the audio.

    ``generated_boxes`` (T, 4) are the face boxes of the generated frames in frame px; by default
    the region the model redrew (the mask rectangle mapped back to the frame). The paste-back
    region is the union of those and the source boxes, each slightly dilated.
    """
    from lipforge.infer.video import box_from_crop

    src = load_source(video) if frames is None else frames
    full = sample_frames(src, prep.positions)
    outf = np.empty_like(full)
    size = prep.crops.shape[1]
    if generated_boxes is None:
        generated_boxes = np.stack([box_from_crop(cb, r, size) for cb, r in zip(prep.crop_boxes, prep.mask_rects)])
    for t in range(len(full)):
        boxes = [prep.boxes[t], generated_boxes[t]]
        outf[t] = composite(full[t], generated[t], prep.crop_boxes[t], boxes, dilate, feather)
    return write_output(out, outf, prep.audio[:prep.n_audio])
