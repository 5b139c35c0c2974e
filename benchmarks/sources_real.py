"""``lipforge sources`` on a dataset's real annotation files, without its videos.

Reads the annotations once to learn the video names, links one tiny synthetic 16:9 video
(64 x 36, 1 s) under each name (in the row's preferred folder, as the download tools do), then
runs the command itself over those links and prints its summary, wall and CPU time and peak
memory. Box warnings assume each video is 16:9 (most of HDTF's and MultiTalk's are); hours,
skipped rows, duplicates and second speakers do not depend on the stand-ins.

    python benchmarks/sources_real.py hdtf HDTF_dataset/
    python benchmarks/sources_real.py multitalk MultiTalk_dataset/annotations/ [--merge-gap 0.5]
    python benchmarks/sources_real.py celebv-text celebvtext_info.json
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("annotations")
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="more options for lipforge sources (--merge-gap S ...)")
    args = ap.parse_args()
    from lipforge.pipeline.datasets import adapter
    from lipforge.testing import make_talking_head

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        one = make_talking_head(d / "one.mp4", seconds=1.0, size=(64, 36), face_px=30).path
        names = {(r.videos[-1], r.subdir) for r in adapter(args.dataset)(args.annotations) if r.videos[-1]}
        for name, sub in names:
            link = d / "videos" / (sub or "") / f"{name}.mp4"
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                os.symlink(one, link)
        print(f"{len(names)} video names linked")
        # the command's own entry point, in a fresh process that reports its CPU time and peak memory (VmHWM:
        # ru_maxrss would count this parent's memory at the fork)
        probe = ("import resource, sys, time; from lipforge.cli import main; t0 = time.perf_counter(); "
                 "rc = main(sys.argv[1:]); r = resource.getrusage(resource.RUSAGE_SELF); "
                 "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM')][0].split()[1]; "
                 "print(f'the command: {time.perf_counter() - t0:.1f} s wall, {r.ru_utime + r.ru_stime:.1f} s CPU "
                 "(with imports), peak {int(hwm) / 1024:.0f} MB'); sys.exit(rc)")
        subprocess.run([sys.executable, "-c", probe, "sources", args.dataset, "--annotations", args.annotations,
                        "--videos", str(d / "videos"), "--out", str(d / "out.parquet"), *args.rest], check=True)

if __name__ == "__main__":
    main()
