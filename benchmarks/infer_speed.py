"""Inference speed: seconds per second of video by stage (decode, detect, encode, sample, decode, composite).

Usage::

    python benchmarks/infer_speed.py                       # tiny random model, synthetic 384 px talking head
    python benchmarks/infer_speed.py --checkpoint export/ --video talk.mp4 --audio new.wav --steps 15

Prints the device and one line per stage; no asserts (targets live here, not in tests).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without reinstalling


def main() -> None:
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=None, help="LipSyncModel export (default: tiny random model)")
    ap.add_argument("--video", default=None)
    ap.add_argument("--audio", default=None)
    ap.add_argument("--seconds", type=float, default=3.0, help="synthetic media length")
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--crop-size", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tmp = Path(tempfile.mkdtemp(prefix="lipforge_bench_"))
    if a.video is None or a.audio is None:
        from lipforge.testing import make_talking_head

        a.video = str(make_talking_head(tmp / "src.mp4", seconds=a.seconds).path)
        a.audio = str(make_talking_head(tmp / "aud.wav", seconds=a.seconds, seed=1, with_video=False).path)
    if a.checkpoint is None:
        from lipforge.testing.train_data import tiny_model_export

        tiny_model_export(tmp / "ckpt", resolution=64)
        a.checkpoint = str(tmp / "ckpt")
        print("model: tiny random-init LipSyncModelConfig.tiny(resolution=64) (speed of the code path, not of SVD)")

    from lipforge.infer.faceprep import prepare_faces
    from lipforge.infer.pipeline import LipSyncPipeline
    from lipforge.infer.prepare import finish_job, load_source, prepare_job

    pipe = LipSyncPipeline.from_pretrained(a.checkpoint, device=a.device)
    crop = a.crop_size or pipe.resolution
    dev = pipe.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    t = {}
    s = time.perf_counter()
    frames = load_source(a.video)
    t["decode video"] = time.perf_counter() - s
    s = time.perf_counter()
    prepare_faces(frames, crop)
    t["detect+landmarks"] = time.perf_counter() - s
    s = time.perf_counter()
    prep = prepare_job(a.video, a.audio, crop, frames=frames, detector=None)
    t["crop+mask (incl. detect)"] = time.perf_counter() - s
    gen = pipe.generate(prep, num_inference_steps=a.steps, progress=False)
    t.update({f"model {k}": v for k, v in pipe.last_timings.items()})
    s = time.perf_counter()
    finish_job(prep, gen, tmp / "out.mp4", frames=frames)
    t["composite+encode"] = time.perf_counter() - s
    secs = len(prep.crops) / 25.0
    print(f"device: {name}; {len(prep.crops)} frames ({secs:.2f} s of output video) at "
          f"{frames.shape[2]}x{frames.shape[1]}, crop {crop}, {a.steps} steps, CFG 3.0")
    for k, v in t.items():
        print(f"  {k:28s} {v:8.2f} s  {v / secs:8.2f} s per s of video")
    print(f"  {'total (excl. double detect)':28s} {sum(t.values()) - t['detect+landmarks']:8.2f} s")
    print(f"output: {tmp / 'out.mp4'}")


if __name__ == "__main__":
    main()
