"""Curation throughput: video-seconds per core-second of the pipeline vs decode-only, same files,
same run, plus the peak memory of the worker process.

    python benchmarks/curate_throughput.py [--input DIR] [--stages all|none] [--seconds 20]

Without --input it makes synthetic talking heads (and adds the real fixture video when
../shared/fixtures is present). Each measurement runs in its own subprocess so peak RSS is
per worker. Prints figures only; targets are never asserted.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _decode_only(paths: list[str]) -> dict:
    import av

    secs = 0.0
    for p in paths:
        with av.open(p) as c:
            for _ in c.decode(video=0):
                pass
            secs += float(c.duration or 0) / 1e6
        with av.open(p) as c:
            if c.streams.audio:
                for _ in c.decode(audio=0):
                    pass
    return {"video_s": secs}


def _pipeline(inp: str, out: str, stages: str) -> dict:
    import yaml

    from lipforge.pipeline.config import RunConfig
    from lipforge.pipeline.curate import list_inputs
    from lipforge.pipeline.finalize import finalize
    from lipforge.pipeline.registry import stage_classes
    from lipforge.pipeline.runners.local import LocalRunner

    d = {} if stages == "all" else {"stages": {n: {"enabled": False} for n in stage_classes()}}
    cfg = RunConfig.from_dict(d)
    srcs = list_inputs(inp)
    LocalRunner(cfg, progress=False).run(srcs, out)
    s = finalize(srcs, out, cfg)
    _ = yaml
    return {"video_s": s["sources"]["hours_in"] * 3600, "kept": s["clips"]["kept"], "stages": s["stages"]}


def child(mode: str, inp: str, out: str, stages: str) -> None:
    from lipforge.env import apply_offline_env

    apply_offline_env()
    paths = [str(p) for p in sorted(Path(inp).iterdir())]
    t0, c0 = time.perf_counter(), time.process_time()
    res = _decode_only(paths) if mode == "decode" else _pipeline(inp, out, stages)
    res.update(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("RESULT " + json.dumps(res))


def run_child(mode: str, inp: str, out: str, stages: str) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", mode, "--input", inp, "--out", out, "--stages", stages],
                       capture_output=True, text=True, cwd=REPO, check=True)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input")
    ap.add_argument("--out")
    ap.add_argument("--stages", default="all", choices=("all", "none"))
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--child")
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.input, a.out, a.stages)
    tmp = Path(tempfile.mkdtemp(prefix="lipforge-bench-"))
    inp = a.input
    if inp is None:
        from lipforge.env import apply_offline_env

        apply_offline_env()
        from lipforge.testing import make_talking_head

        inp = str(tmp / "in")
        make_talking_head(Path(inp) / "synth_a.mp4", seconds=a.seconds / 2, seed=0)
        make_talking_head(Path(inp) / "synth_b.mp4", seconds=a.seconds / 2, seed=1, size=(640, 360))
        real = REPO.parent / "shared" / "fixtures" / "real" / "talking_en_1080x1920_25fps.mp4"
        if real.exists():
            import os

            os.symlink(real, Path(inp) / "real_fixture.mp4")
    dec = run_child("decode", inp, str(tmp / "o1"), a.stages)
    pipe = run_child("pipeline", inp, str(tmp / "o2"), a.stages)
    vs = dec["video_s"]
    d_rate = vs / dec["cpu_s"]
    p_rate = vs / pipe["cpu_s"]
    print(f"input: {inp} ({vs:.1f} s of video), stages: {a.stages}")
    print(f"decode-only : {d_rate:8.2f} video-s per core-s  (cpu {dec['cpu_s']:.1f} s, peak RSS {dec['peak_rss_mb']:.0f} MB)")
    print(f"pipeline    : {p_rate:8.2f} video-s per core-s  (cpu {pipe['cpu_s']:.1f} s, peak RSS {pipe['peak_rss_mb']:.0f} MB, "
          f"{pipe['kept']} clips kept)")
    print(f"ratio pipeline/decode-only: {p_rate / d_rate:.3f}")
    for s in pipe["stages"]:
        print(f"  stage {s['stage']:10s} {s['items_in']:4d} items {s['seconds']:8.2f} s  {s['items_per_s']:7.2f} items/s")


if __name__ == "__main__":
    main()
