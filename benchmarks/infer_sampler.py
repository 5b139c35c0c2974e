"""Sampling speed-up: DPM-Solver++(2M) at fewer steps vs the export's Euler, CPU time and accuracy.

Usage::

    python benchmarks/infer_sampler.py                      # tiny random model, 2 s synthetic job
    python benchmarks/infer_sampler.py --checkpoint export/ --video talk.mp4 --audio new.wav

Prepares one job once, then runs ``LipSyncPipeline.generate`` (the model half of the default
command) with each (sampler, steps), timing process CPU seconds, and reports each result's mean
absolute distance (uint8 levels of the generated crops) to a many-step Euler reference of the
same ODE (``--ref-steps``, default 60). A random tiny model's denoiser is not a face model, so the
distances say how closely each solver follows the ODE, not how good the faces are. No asserts.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--video", default=None)
    ap.add_argument("--audio", default=None)
    ap.add_argument("--crop-size", type=int, default=32)
    ap.add_argument("--ref-steps", type=int, default=60)
    ap.add_argument("--runs", default="euler:15,euler:8,dpmpp-2m:8,dpmpp-2m:6")
    a = ap.parse_args()
    import torch

    from lipforge.infer.pipeline import LipSyncPipeline

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="sampler-bench-"))
    if a.checkpoint is None:
        from lipforge.testing.train_data import tiny_model_export

        a.checkpoint = tiny_model_export(tmp / "export", resolution=a.crop_size)
    if a.video is None:
        from lipforge.testing import make_talking_head

        a.video = make_talking_head(tmp / "src.mp4", seconds=2.0, size=(160, 160), face_px=110).path
        a.audio = make_talking_head(tmp / "a.wav", seconds=2.0, seed=1, with_video=False).path
    pipe = LipSyncPipeline.from_pretrained(a.checkpoint, device="cpu")
    prep = pipe.prepare(a.video, a.audio, a.crop_size, work_dir=tmp / "job")

    def run(name: str, steps: int) -> tuple[np.ndarray, float]:
        t = time.process_time()
        out = np.asarray(pipe.generate(prep, num_inference_steps=steps, progress=False, sampler=name))
        return out, time.process_time() - t

    ref, _ = run("euler", a.ref_steps)
    print(f"{len(prep.positions)} frames at {a.crop_size} px, reference: euler {a.ref_steps} steps")
    print(f"{'sampler':10s} {'steps':>5s} {'CPU s':>7s} {'vs euler 15':>11s} {'dist to ref':>11s}")
    base = None
    for item in a.runs.split(","):
        name, steps = item.split(":")
        out, cpu = run(name, int(steps))
        base = base or cpu
        dist = float(np.abs(out.astype(np.float64) - ref).mean())
        print(f"{name:10s} {int(steps):5d} {cpu:7.2f} {cpu / base:11.2f} {dist:11.2f}")


if __name__ == "__main__":
    main()
