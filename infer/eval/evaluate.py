"""Evaluate lip-sync outputs: MAR, LipLeak(-lite), SSIM / PSNR / LPIPS, FID and sync.

Landmarks come from the same face functions as curation (:func:`lipforge.infer.faceprep.prepare_faces`);
the sync offset and confidence come from curation's sync functions (``lipforge.pipeline.av``: SyncNet
LSE-C / LSE-D with local weights, else the weight-free offline measure), so a generated video
is judged by the rule that selected the training data.
Weights for LPIPS and FID are local files only (:mod:`lipforge.infer.eval.networks`).

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


@dataclass(frozen=True)
class EvalConfig:
    lpips_alexnet: str | None = None  # LPIPS skipped when None
    fid_inception: str | None = None  # FID skipped when None
    sync: bool = True
    syncnet: str | None = None  # local SyncNet v2 weights; None: curation's weight-free offline measure
    device: str = "cpu"
    landmark_crop: int = 64  # crop size used only to run the face functions

    def __post_init__(self) -> None:
        for name in ("lpips_alexnet", "fid_inception", "syncnet"):
            p = getattr(self, name)
            if p is not None:
                require_model_file(p, None, f"EvalConfig.{name}", "see infer/eval/networks.py for where to get it")


def video_mar(frames: np.ndarray, crop: int = 64) -> np.ndarray:
    """(T, H, W, 3) -> (T,) inner-lip MAR from the curation landmarks."""
    from lipforge.infer.faceprep import prepare_faces

    return mouth_aspect_ratio(prepare_faces(frames, crop).landmarks)


def measure_sync(frames: np.ndarray, audio: np.ndarray, crop: int = 160, syncnet: str | None = None,
                 device: str = "cpu") -> dict[str, float]:
    """Sync offset (frames, + = audio lags) and confidence with curation's check (lipforge.pipeline.av).

    Face crops and crop landmarks come from the curation face functions; ``syncnet`` (a local
    SyncNet v2 state dict) selects the LSE-C / LSE-D search on SyncNet embeddings, otherwise the
    weight-free offline measure curation uses without SyncNet weights.
    """
    from lipforge.pipeline.av.offline_sync import offline_sync
    from lipforge.pipeline.faces.crop import crop_frames, points_to_crop

    from lipforge.infer.faceprep import prepare_faces

    track = prepare_faces(frames, crop)
    crops = crop_frames(frames, track.crop_boxes, crop)
    lm = points_to_crop(track.landmarks, track.crop_boxes, crop).astype(np.float32)
    spf = 640
    a = np.zeros(len(frames) * spf, np.float32)
    a[:min(len(audio), len(a))] = audio[:len(a)]
    if syncnet is None:
        r = offline_sync(crops, a, lm)
        backend = "offline"
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
    from lipforge.infer.prepare import load_audio, load_source

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
        fr = load_source(g)
        entry: dict[str, Any] = {"path": str(g), "n_frames": int(len(fr))}
        try:
            mar = video_mar(fr, cfg.landmark_crop)
            entry.update(mar=mar.round(4).tolist(), mar_mean=float(mar.mean()), mar_std=float(mar.std()))
        except RuntimeError as e:  # no face
            entry["mar_error"] = str(e)
        if reference:
            rf = load_source(reference[i])
            n = min(len(rf), len(fr))
            if rf.shape[1:] != fr.shape[1:]:
                raise ValueError(f"{g} is {fr.shape[1:3]} but its reference {reference[i]} is {rf.shape[1:3]}")
            entry.update(reference=str(reference[i]), ssim=ssim(fr[:n], rf[:n]), psnr=psnr(fr[:n], rf[:n]))
            if lp is not None:
                entry["lpips"] = lp(fr[:n], rf[:n])
            real_all.append(rf[:n])
            fake_all.append(fr[:n])
        if cfg.sync:
            try:
                s = measure_sync(fr, load_audio(g), syncnet=cfg.syncnet, device=cfg.device)
                entry.update(sync_offset=s["offset"], sync_conf=s["conf"], sync_backend=s["backend"])
            except Exception as e:  # a video without a usable face or audio gets a note, not a crash
                entry["sync_error"] = f"{type(e).__name__}: {e}"
        videos.append(entry)
    summary: dict[str, Any] = {"n_videos": len(videos)}
    for k in ("ssim", "psnr", "lpips", "mar_mean", "sync_offset", "sync_conf"):
        vals = [v[k] for v in videos if k in v]
        if vals:
            summary[k] = float(np.mean(vals))
    if cfg.fid_inception and real_all:
        from lipforge.infer.eval.networks import InceptionFeatures, fid

        summary["fid"] = fid(np.concatenate(real_all), np.concatenate(fake_all),
                             InceptionFeatures(cfg.fid_inception, cfg.device))
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
