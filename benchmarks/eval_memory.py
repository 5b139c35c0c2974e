"""Peak memory of ``lipforge eval`` against the videos' length: short and long portrait outputs.

Usage::

    python benchmarks/eval_memory.py --videos a5.mp4 a60.mp4            # the default evaluation
    python benchmarks/eval_memory.py --videos a5.mp4 a60.mp4 --stub-faces

Each video is evaluated against itself (``evaluate([v], [v])``, the default EvalConfig: MAR, SSIM,
PSNR, LMD, sync) in its own process, whose peak RSS is printed with its CPU seconds, and the ratio
of each peak to the first one's. ``--stub-faces`` replaces the dlib face detector and landmarker
by constant boxes and landmarks (what grows with length is the frames, the per-frame numbers and
the sync crops, not the face models; dlib over a 60 s portrait takes minutes of CPU). No asserts.

Measured 2026-12-08 (the real 1080x1920 fixture scaled to 540x960, looped to 60 s; 2 shared vCPUs):
``--stub-faces`` 629 MiB for 5 s, 680 MiB for 60 s (1.08x; 638 / 859 MiB = 1.35x while the sync
crops were still held in memory). The default command (``lipforge eval``, dlib faces, sync) on
the 5 s 1080x1920 portrait against itself peaked at 2.23 GiB (8.0 GiB before streaming).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
video, stub = sys.argv[1], sys.argv[2] == "1"
if stub:
    import lipforge.infer.faceprep as fp
    from lipforge.infer.source import probe
    info = probe(video)
    box = np.array([info.width * 0.25, info.height * 0.3, info.width * 0.75, info.height * 0.6])
    rng = np.random.default_rng(0)
    lm = box[:2] + rng.uniform(0, 1, (68, 2)) * (box[2:] - box[:2])
    fp._detector = lambda d=None: (lambda frames: np.tile(box, (len(frames), 1)))
    fp._landmarker = lambda l=None: (lambda frames, boxes: np.tile(lm, (len(frames), 1, 1)))
from lipforge.infer.eval.evaluate import EvalConfig, evaluate
t = time.process_time()
res = evaluate([video], [video], config=EvalConfig())
v = res["videos"][0]
print(json.dumps({"video": video, "frames": v["n_frames"], "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "cpu_s": time.process_time() - t, "psnr": v.get("psnr"), "sync": v.get("sync_offset")}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", nargs="+", required=True)
    ap.add_argument("--stub-faces", action="store_true")
    a = ap.parse_args()
    base = None
    for v in a.videos:
        out = subprocess.run([sys.executable, "-c", CHILD, v, "1" if a.stub_faces else "0"], capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        base = base or r["peak_mib"]
        print(f"{r['video']}: {r['frames']} frames, peak {r['peak_mib']:.0f} MiB ({r['peak_mib'] / base:.2f}x), "
              f"{r['cpu_s']:.0f} CPU-s, psnr {r['psnr']}, sync offset {r['sync']}")


if __name__ == "__main__":
    main()
