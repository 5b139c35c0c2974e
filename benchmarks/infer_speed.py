"""Inference speed and memory: peak RSS and seconds per second of video by stage, short vs long jobs.

Usage::

    python benchmarks/infer_speed.py                        # real fixture: 6 s, 60 s and a loop case
    python benchmarks/infer_speed.py --cases 6 --steps 15   # one case
    python benchmarks/infer_speed.py --checkpoint export/   # a trained model instead of the tiny one

Each case runs in its own process (so its peak RSS is its own) through the functions
``LipSyncPipeline.__call__`` runs (prepare_job -> generate -> finish_job), timing each stage's wall
and CPU seconds. Cases (built from /work/shared/fixtures/real/talking_en_1080x1920_25fps.mp4, a
10 s 1080x1920 25 fps video, by stream copy, and its driving speech tiled):

* ``6``: a 6 s source with 6 s of audio; ``60``: a 60 s source with 60 s of audio;
* ``loop``: the 6 s source driven by 60 s of audio (forward-backward loop).

Prints one table; peak RSS of the 60 s and loop cases relative to the 6 s one. No asserts.

Measured 2026-12-01 (``--steps 1 --crop-size 32``, tiny model, CPU, 2 threads on a machine shared
with other jobs, so seconds are inflated and CPU shares low): peak RSS 1597 / 1587 / 1697 MiB for
6 s / 60 s / loop (ratios 0.99 and 1.06); prepare 3.4 / 5.8 / 0.4 s per s of video, model
5.3 / 17.3 / 3.8, composite + encode 2.6 / 4.2 / 2.0.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT.parent / "shared" / "fixtures" / "real"
if not FIXTURE.is_dir():
    FIXTURE = Path("/work/shared/fixtures/real")


def _child(a) -> None:
    """One case in this process; prints a JSON line."""
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import torch

    torch.set_num_threads(a.threads)
    from lipforge.infer.pipeline import LipSyncPipeline
    from lipforge.infer.prepare import finish_job

    pipe = LipSyncPipeline.from_pretrained(a.checkpoint, device=a.device)
    crop = a.crop_size or pipe.resolution
    scratch = Path(tempfile.mkdtemp(prefix="lipforge_bench_job_", dir=a.tmp))
    stages: dict[str, list[float]] = {}

    def clock():
        return time.perf_counter(), time.process_time()

    w0, c0 = clock()
    prep = pipe.prepare(a.video, a.audio, crop, seed=0, work_dir=scratch)  # with the model's recipe
    w1, c1 = clock()
    for k, v in prep.timings.items():
        stages[f"prepare: {k}"] = [v, float("nan")]
    stages["prepare (total)"] = [w1 - w0, c1 - c0]
    gen = pipe.generate(prep, num_inference_steps=a.steps, progress=False, out_store=scratch / "gen.u8")
    w2, c2 = clock()
    for k, v in pipe.last_timings.items():
        stages[f"model: {k}"] = [v, float("nan")]
    stages["model (total)"] = [w2 - w1, c2 - c1]
    finish_job(prep, gen, scratch / "out.mp4", work_dir=scratch)
    w3, c3 = clock()
    stages["composite + encode"] = [w3 - w2, c3 - c2]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB (Linux: KiB)
    print(json.dumps({"seconds": prep.n_audio / 16000.0, "frames": len(prep.positions), "peak_rss_mib": rss,
                      "stages": stages, "device": str(pipe.device), "crop": crop}))


def _make_inputs(tmp: Path) -> dict[str, tuple[str, str]]:
    import numpy as np
    import soundfile as sf

    video = FIXTURE / "talking_en_1080x1920_25fps.mp4"
    speech = FIXTURE / "driving_speech_16k.wav"
    if not video.is_file():
        sys.exit(f"benchmark needs the real fixture {video}")
    v6, v60 = tmp / "src6.mp4", tmp / "src60.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-t", "6", "-c", "copy", str(v6)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "5", "-i", str(video), "-c", "copy", str(v60)],
                   check=True)
    wav, sr = sf.read(str(speech), dtype="float32")
    for secs in (6, 60):
        reps = int(np.ceil(secs * sr / len(wav)))
        sf.write(str(tmp / f"a{secs}.wav"), np.tile(wav, reps)[: secs * sr], sr)
    return {"6": (str(v6), str(tmp / "a6.wav")), "60": (str(v60), str(tmp / "a60.wav")),
            "loop": (str(v6), str(tmp / "a60.wav"))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=None, help="LipSyncModel export (default: tiny random model, 64 px)")
    ap.add_argument("--cases", default="6,60,loop")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--crop-size", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--video", help=argparse.SUPPRESS)
    ap.add_argument("--audio", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return _child(a)
    tmp = Path(tempfile.mkdtemp(prefix="lipforge_bench_"))
    if a.checkpoint is None:
        from lipforge.testing.train_data import tiny_model_export

        tiny_model_export(tmp / "ckpt", resolution=64)
        a.checkpoint = str(tmp / "ckpt")
        print("model: tiny random-init LipSyncModelConfig.tiny(resolution=64) (the code path's cost, not SVD's)")
    inputs = _make_inputs(tmp)
    results = {}
    for case in a.cases.split(","):
        video, audio = inputs[case]
        cmd = [sys.executable, __file__, "--child", "--video", video, "--audio", audio, "--tmp", str(tmp),
               "--checkpoint", a.checkpoint, "--steps", str(a.steps), "--device", a.device,
               "--threads", str(a.threads)] + (["--crop-size", str(a.crop_size)] if a.crop_size else [])
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if p.returncode:
            sys.exit(f"case {case} failed:\n{p.stderr[-3000:]}")
        results[case] = json.loads(p.stdout.strip().splitlines()[-1])
        print(f"case {case}: {time.perf_counter() - t:.0f} s wall", flush=True)
    print(f"\n1080x1920 25 fps real fixture, {a.steps} steps, CFG 3.0, device {a.device}, {a.threads} threads")
    names = list(next(iter(results.values()))["stages"])
    head = "".join(f"{c:>22s}" for c in results)
    print(f"{'':32s}{head}")
    print(f"{'output seconds':32s}" + "".join(f"{r['seconds']:22.1f}" for r in results.values()))
    print(f"{'peak RSS MiB':32s}" + "".join(f"{r['peak_rss_mib']:22.0f}" for r in results.values()))
    print(f"{'stage: s per s of video (CPU%)':32s}")
    for n in names:
        cells = []
        for r in results.values():
            wall, cpu = r["stages"][n]
            share = "" if cpu != cpu else f" ({100 * cpu / max(wall, 1e-9):4.0f}%)"
            cells.append(f"{wall / r['seconds']:8.3f}{share}")
        print(f"  {n:30s}" + "".join(f"{c:>22s}" for c in cells))
    if "6" in results:
        base = results["6"]["peak_rss_mib"]
        for c in ("60", "loop"):
            if c in results:
                print(f"peak RSS {c} / 6: {results[c]['peak_rss_mib'] / base:.2f}")
    print("CPU% = process CPU seconds / wall seconds of the stage (200% = both cores busy)")


if __name__ == "__main__":
    main()
