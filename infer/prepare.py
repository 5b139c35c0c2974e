"""CPU stages of one inference job: probe + face track + crops, and paste-back + encoding.

Split from the model so the batch runner can run them on CPU workers while the GPU actors only
sample. Nothing here holds a whole video: the source is streamed (a detection pass, a crop
pass, a paste-back pass), face crops and generated crops live in
:class:`~lipforge.infer.framestore.FrameStore` files under the job's work directory, and only
per-frame numbers (boxes, landmarks, positions) stay in memory. A :class:`PreparedJob` saves
to one small ``.npz`` plus its crop file; the per-source face track is cached by the content
hash of the video file, so thousands of jobs over the same source detect its face once.

Timelines: the model works at 25 fps (frame ``k`` shows native frame ``round(k * fps / 25)``);
the output has the source's own fps by default, each output frame taking the background of the
native frame at its time and the generated face of the nearest model frame.

>>> prep = prepare_job("talk.mp4", "new.wav", crop_size=64, cache_dir="cache/")   # doctest: +SKIP
>>> prep.crops.shape                                                               # doctest: +SKIP
(T, 64, 64, 3)
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import weakref
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from lipforge.infer.faceprep import FaceTrack, NoFaceError, boxes_by_shot, crop_pass, detect_pass, mask_rects_of
from lipforge.infer.framestore import FrameStore
from lipforge.infer.video import FPS, SAMPLE_RATE, composite, fit_audio, frames_for_audio, loop_positions

# ----------------------------------------------------------------------------- lazy per-frame arrays


class LoopedCrops:
    """(T, S, S, 3) uint8 crops at the output positions, read from the per-source-frame crop store.

    Whole positions are the stored crop; the fractional positions at a loop's turns blend the
    crops of the two neighbouring source frames.
    """

    def __init__(self, store: FrameStore, positions: np.ndarray) -> None:
        self.store, self.positions = store, np.asarray(positions, np.float64)
        self.dtype = np.dtype(np.uint8)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.positions), *self.store.frame_shape)

    @property
    def ndim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, key) -> np.ndarray:
        single = isinstance(key, (int, np.integer))
        pos = self.positions[np.atleast_1d(np.arange(len(self))[key])]
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, len(self.store) - 1)
        w = pos - lo
        out = self.store[lo]
        frac = np.flatnonzero(w > 1e-9)
        if len(frac):
            a = out[frac].astype(np.float32)
            b = self.store[hi[frac]].astype(np.float32)
            out[frac] = np.clip(np.rint(a * (1 - w[frac, None, None, None]) + b * w[frac, None, None, None]),
                                0, 255).astype(np.uint8)
        return out[0] if single else out

    def __array__(self, dtype=None, copy=None):
        a = self[:]
        return a.astype(dtype) if dtype is not None else a


class LazyMasks:
    """(T, S, S) float32 masks rendered from the mask rectangles on demand."""

    def __init__(self, mask_rects: np.ndarray, size: int) -> None:
        self.rects, self.size = np.asarray(mask_rects, np.float64), int(size)
        self.dtype = np.dtype(np.float32)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rects), self.size, self.size)

    def __len__(self) -> int:
        return len(self.rects)

    def __getitem__(self, key) -> np.ndarray:
        from lipforge.infer.faceprep import render_mask_images

        single = isinstance(key, (int, np.integer))
        r = self.rects[np.atleast_1d(np.arange(len(self))[key])]
        out = render_mask_images(r, self.size)
        return out[0] if single else out

    def __array__(self, dtype=None, copy=None):
        a = self[:]
        return a.astype(dtype) if dtype is not None else a


# ----------------------------------------------------------------------------- the job


@dataclass
class PreparedJob:
    """Everything the model needs for one job, plus what paste-back needs (no full frames)."""

    crop_store: str  # FrameStore spec of the (T_src, S, S, 3) crops of the 25 fps source frames
    references: np.ndarray  # (n_shots, S, S, 3) uint8 one reference crop per source shot
    audio: np.ndarray  # (T * 640,) float32 at 16 kHz
    positions: np.ndarray  # (T,) source frame position (25 fps timeline) of each model frame
    crop_boxes: np.ndarray  # (T, 4) square crop per model frame, frame px
    boxes: np.ndarray  # (T, 4) source face box per model frame, frame px
    mask_rects: np.ndarray  # (T, 4) mask rectangle per model frame, crop px (the region the model redraws)
    shots: np.ndarray  # (T,) source shot of each model frame
    has_face: np.ndarray  # (T,) bool, False in a shot without a face (left untouched)
    n_audio: int  # original audio length in samples at 16 kHz (the output's duration)
    video: str = ""  # the source video
    driving: str = ""  # the driving audio (muxed into the output at its own rate and channels)
    source_hash: str = ""  # sha256 of the source video file when prepared with a cache ("" = none)
    timings: dict = field(default_factory=dict)
    face_weight: np.ndarray | None = None  # (T,) paste-back strength: 0 in an occlusion, ramps beside it
    crop_mats: np.ndarray | None = None  # (T, 2, 3) frame -> crop matrices of aligned crops (None: box crops)

    def __post_init__(self) -> None:
        self.store = FrameStore.from_spec(str(self.crop_store))
        if self.face_weight is None:
            self.face_weight = np.asarray(self.has_face, np.float64)

    @property
    def crops(self) -> LoopedCrops:
        return LoopedCrops(self.store, self.positions)

    @property
    def masks(self) -> LazyMasks:
        return LazyMasks(self.mask_rects, self.store.frame_shape[0])

    @property
    def reference(self) -> np.ndarray:
        """The first model frame's reference crop (one per shot: :attr:`references`)."""
        return self.references[int(self.shots[0])]

    def save(self, path: str | Path) -> None:
        tmp = Path(path).with_suffix(".partial.npz")
        np.savez(tmp, **{f.name: np.asarray(getattr(self, f.name)) for f in fields(self)
                         if f.name != "timings" and getattr(self, f.name) is not None})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> "PreparedJob":
        with np.load(path, allow_pickle=False) as d:
            kw = {f.name: d[f.name] for f in fields(cls) if f.name in d.files}
        kw["n_audio"] = int(kw["n_audio"])
        for k in ("crop_store", "video", "driving", "source_hash"):
            if k in kw:
                kw[k] = str(kw[k])
        return cls(**kw)

    def cleanup(self) -> None:
        self.store.unlink()


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes: the cache key of everything derived from a source video."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def load_source(video: str | Path) -> np.ndarray:
    """Decode a short video onto the 25 fps timeline, (T, H, W, 3) uint8, colour-accurate.

    For evaluation and tests; inference itself streams (:mod:`lipforge.infer.source`).
    """
    from lipforge.infer.source import probe, read_model_frames

    return read_model_frames(probe(video))


def load_audio(audio: str | Path) -> np.ndarray:
    """Any audio or video file -> float32 mono at 16 kHz (what the model hears)."""
    from lipforge.pipeline.media import MediaDecodeError, decode_audio

    if not Path(audio).is_file():
        raise MediaDecodeError(f"{audio}: no such file")
    a = decode_audio(audio, SAMPLE_RATE)
    if len(a) == 0:
        raise MediaDecodeError(f"{audio}: audio stream is empty")
    return a


def face_track_cached(info, crop_size: int, cache_dir: str | Path | None, source_hash: str | None,
                      store: FrameStore, detector=None, landmarker=None, split_shots: bool = True,
                      recipe=None, limit: int | None = None, max_gap: int | None = None) -> FaceTrack:
    """The source's face track (cached under ``cache_dir/<sha256>-<S>[...].faces.npz``) and its crops in ``store``.

    Two streaming passes on a miss (detect + shots, then landmarks + crops), one on a hit (crops);
    ``limit``: the first ``limit`` frames of the 25 fps timeline only (a separate cache entry).
    """
    from lipforge.infer.faceprep import MAX_FACE_GAP, align_of
    from lipforge.pipeline.faces.align import align_matrices

    tag = f"-{recipe.face_tag()}" if recipe is not None else ""  # another crop/mask recipe is another track
    gap = MAX_FACE_GAP if max_gap is None else int(max_gap)
    tag += f"-g{gap}" + (f"-n{limit}" if limit is not None else "")  # the gap rule shapes has_face
    path = Path(cache_dir) / f"{source_hash}-{crop_size}{tag}.faces.npz" if cache_dir is not None else None
    margin = align_of(recipe)  # None: box crops; else similarity-aligned crops at this margin
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as d:
            track = FaceTrack.from_npz(d)
        crop_pass(info, track.crop_boxes, crop_size, store, landmarks=track.landmarks, align_margin=margin)
        return track
    raw, shots = detect_pass(info, detector, split_shots, limit)
    boxes, crop_boxes, has_face = boxes_by_shot(raw, shots, recipe, max_gap)
    lm = crop_pass(info, crop_boxes, crop_size, store, boxes=boxes, landmarker=landmarker, align_margin=margin)
    mats = None if margin is None else align_matrices(lm, crop_size, margin)
    track = FaceTrack(boxes, lm, crop_boxes, mask_rects_of(lm, crop_boxes, crop_size, recipe, mats), crop_size,
                      shots, has_face, mats)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **track.to_npz())
        os.replace(tmp, path)
    return track


def _interp_rows(a: np.ndarray, pos: np.ndarray) -> np.ndarray:
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(a) - 1)
    w = (pos - lo)[:, None]
    return a[lo] * (1 - w) + a[hi] * w


TRACK_BLOCK = 250  # a short output's face track covers the source up to a multiple of 10 s (cache reuse)


def track_limit(n_out: int, n_src: int, block: int | None = None) -> int | None:
    """Source frames (25 fps) a job's face track must cover: None (all) when the output loops or
    reaches the end, else ``n_out`` rounded up to ``block`` so jobs of similar length share a cache.

    >>> track_limit(125, 500), track_limit(260, 500), track_limit(600, 500)
    (250, 500, None)
    """
    block = TRACK_BLOCK if block is None else block
    if n_out >= n_src:
        return None
    lim = -(-n_out // block) * block
    return None if lim >= n_src else lim


def prepare_job(video: str | Path, audio: str | Path, crop_size: int, cache_dir: str | Path | None = None,
                seed: int = 0, loop_smooth: int = 2, work_dir: str | Path | None = None,
                split_shots: bool = True, detector=None, landmarker=None, recipe=None,
                max_face_gap: int | None = None) -> PreparedJob:
    """Probe, track the face per shot, crop and mask, apply the length rules: the CPU half before sampling.

    Only the source frames the output uses are decoded (:func:`track_limit`): a 5 s output of a
    60 s source reads its first 10 s. ``work_dir`` holds the crop file (default: a private
    temporary folder removed with the job); ``recipe`` is the checkpoint's crop / mask recipe
    (:class:`lipforge.infer.recipe.Recipe`); ``max_face_gap``: see
    :func:`lipforge.infer.faceprep.boxes_by_shot`.
    """
    from lipforge.infer.faceprep import paste_weights

    from lipforge.infer.source import probe

    t0 = time.perf_counter()
    info = probe(video)
    wav = load_audio(audio)
    n_out = frames_for_audio(len(wav))
    digest = file_hash(video) if cache_dir is not None else ""  # keys the face track and the latents
    own = work_dir is None
    wd = Path(tempfile.mkdtemp(prefix="lipforge-job-")) if own else Path(work_dir)
    wd.mkdir(parents=True, exist_ok=True)
    store = FrameStore.create(wd / "crops.u8", (crop_size, crop_size, 3))  # the job's folder: named by the job
    t1 = time.perf_counter()
    try:
        track = face_track_cached(info, crop_size, cache_dir, digest, store, detector, landmarker, split_shots,
                                  recipe, limit=track_limit(n_out, info.n_model_frames), max_gap=max_face_gap)
    except NoFaceError as e:
        store.unlink()
        raise NoFaceError(f"{video}: {e}") from None
    t2 = time.perf_counter()
    n_src = len(track.boxes)
    pos = np.arange(n_out, dtype=np.float64) if n_out <= n_src else loop_positions(n_src, n_out, loop_smooth)
    near = np.clip(np.rint(pos).astype(int), 0, n_src - 1)
    t = track.take(near)
    # crop boxes follow the fractional positions too, so the crop glides with the blended frames
    crop_boxes = _interp_rows(track.crop_boxes, pos)
    boxes = _interp_rows(track.boxes, pos)
    # one reference per shot, drawn from that shot's own frames (seeded)
    rng = np.random.default_rng(seed)
    n_shots = int(track.shots.max()) + 1
    ref_idx = [int(rng.choice(np.flatnonzero(track.shots == s))) for s in range(n_shots)]
    references = store[np.array(ref_idx)]
    weight = paste_weights(track.has_face, track.shots)[near]  # cross-fades beside occlusions
    prep = PreparedJob(store.spec(), references, fit_audio(wav, n_out), pos, crop_boxes, boxes, t.mask_rects,
                       t.shots, t.has_face, len(wav), str(video), str(audio), digest,
                       {"probe": t1 - t0, "faces+crops": t2 - t1}, weight,
                       None if track.mats is None else track.mats[near])
    prep.info = info  # finish_job reuses the probe in this process (not saved: a loaded job probes again)
    if own:
        weakref.finalize(prep, shutil.rmtree, str(wd), True)
    return prep


def output_plan(prep: PreparedJob, info, fps: float | None = None) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Output frames at ``fps`` (default: the source's): (fps, model frame, native background
    position, turn blend flag) per output frame; the output lasts as long as the driving audio."""
    fps_out = float(info.fps if fps is None else fps)
    n_model = len(prep.positions)
    n_out = max(1, int(np.ceil(prep.n_audio / SAMPLE_RATE * fps_out - 1e-9)))
    u = np.minimum(np.arange(n_out) * FPS / fps_out, n_model - 1)  # model-time of each output frame
    m = np.minimum(np.rint(u).astype(np.int64), n_model - 1)
    p = np.interp(u, np.arange(n_model), prep.positions)  # 25 fps source position
    turn = np.abs(prep.positions[m] - np.rint(prep.positions[m])) > 1e-9  # a loop's rounded-off turn
    q = np.minimum(p * info.fps / FPS, info.n_frames - 1)  # native position
    return fps_out, m, q, turn


def finish_job(prep: PreparedJob, generated, out: str | Path, fps: float | None = None, dilate: float = 0.08,
               feather: int = 6, generated_boxes: np.ndarray | None = None, work_dir: str | Path | None = None,
               audio_mix: str = "native", spool_budget: int | None = None, background_mode: str = "auto") -> Path:
    """Composite the generated crops into the source frames and write ``out`` (atomically) with the
    driving audio at its own rate and channels (``audio_mix="native"``, every channel) or the
    downmix asked for (``stereo`` / ``mono``); one frame in memory at a time. Frames whose face was
    occluded (``prep.face_weight`` 0) stay the source's, with a cross-fade into and out of them.

    ``generated``: (T, S, S, 3) uint8 per model frame (array or FrameStore). ``generated_boxes``
    (T, 4) are the face boxes of the generated frames in frame px; by default the region the model
    redrew (the mask rectangle mapped back to the frame). The paste-back region is the union of
    those and the source boxes, each slightly dilated.
    """
    from lipforge.infer.source import probe
    from lipforge.infer.video import box_from_crop
    from lipforge.infer.writer import OutputVideo, read_audio_native

    info = getattr(prep, "info", None) or probe(prep.video)
    fps_out, m, q, turn = output_plan(prep, info, fps)
    size = prep.store.frame_shape[0]
    mats = prep.crop_mats
    if generated_boxes is None and mats is None:
        generated_boxes = np.stack([box_from_crop(cb, r, size) for cb, r in zip(prep.crop_boxes, prep.mask_rects)])
    elif generated_boxes is None:  # the mask rectangle's corners back through each aligned crop's inverse
        from lipforge.pipeline.faces.align import apply_affine, invert_affine

        r = prep.mask_rects
        corners = np.stack([r[:, [0, 1]], r[:, [2, 1]], r[:, [0, 3]], r[:, [2, 3]]], axis=1)  # (T, 4, 2)
        c = apply_affine(invert_affine(mats), corners)
        generated_boxes = np.concatenate([c.min(1), c.max(1)], axis=1)
    lo = np.floor(q + 1e-9).astype(np.int64)
    near = np.minimum(np.rint(q).astype(np.int64), info.n_frames - 1)
    need = np.where(turn, lo, near)
    spool = Path(work_dir) if work_dir is not None else Path(out).parent
    audio = read_audio_native(prep.driving, audio_mix) if prep.driving else None
    from lipforge.infer.backgrounds import Backgrounds

    bg = Backgrounds(info, need, spool, spool_budget, background_mode)
    try:
        with OutputVideo(out, info, fps_out, audio) as w:
            for j in range(len(m)):
                k = int(m[j])
                if turn[j]:  # a loop's turn: blend the two native neighbours, as the crops were
                    a = bg[int(lo[j])].astype(np.float32)
                    b = bg[min(int(lo[j]) + 1, info.n_frames - 1)].astype(np.float32)
                    f = q[j] - lo[j]
                    frame = np.clip(np.rint(a * (1 - f) + b * f), 0, 255).astype(np.uint8)
                else:
                    frame = bg[int(near[j])]
                if prep.has_face[k] and prep.face_weight[k] > 0:
                    frame = composite(frame, np.asarray(generated[k]), prep.crop_boxes[k],
                                      [prep.boxes[k], generated_boxes[k]], dilate, feather,
                                      strength=float(prep.face_weight[k]),
                                      matrix=None if mats is None else mats[k])
                w.write(frame)
    finally:
        bg.close()
    return Path(out)
