"""A range source vs cutting the same range out of a whole-file decode (the segmenter's path).

Writes a synthetic 1080p-like long video (default 120 s at 25 fps, 480 x 270, a keyframe every
2 s as YouTube encodes), then segments a 10 s range from its middle two ways in one run:

* ``range``: the source is the range (``SourceRecord.start_s/end_s``): seek to the keyframe
  before it, decode to its end;
* ``whole``: the same Segmenter over the whole file, keeping only the candidates inside the
  range (what a user would have had to do before ranges existed).

Prints wall time, source frames decoded and the ratio. Shares the machine with whatever runs;
run it twice if the numbers look odd.

    python benchmarks/range_decode.py [--seconds 120] [--range-s 10]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def write_long(path: Path, seconds: float, w: int = 480, h: int = 270, fps: int = 25, gop: int = 50) -> None:
    from lipforge.testing.media import write_gop

    base = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    n, sr = int(seconds * fps), 16000
    t = np.arange(int(seconds * sr)) / sr
    write_gop(path, (np.roll(base, i, axis=1) for i in range(n)), fps, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
              sr=sr, gop=gop, crf=23)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--range-s", type=float, default=10.0)
    args = ap.parse_args()
    from lipforge.env import apply_offline_env

    apply_offline_env()
    from lipforge.manifests.schema import SourceRecord
    from lipforge.pipeline.stages.config import SegmentConfig
    from lipforge.pipeline.stages.segment import Segmenter

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "long.mp4"
        t0 = time.perf_counter()
        write_long(path, args.seconds)
        print(f"wrote {args.seconds:.0f} s synthetic video in {time.perf_counter() - t0:.1f} s")
        start = round(args.seconds / 2, 2)
        end = start + args.range_s
        cfg = SegmentConfig(min_clip_s=2.0, max_clip_s=10.0, scene_detector="none", work_max_side=640)
        for _ in Segmenter(cfg).run(str(path), SourceRecord("warm", str(path), start_s=0.0, end_s=2.0)):
            pass  # imports and first-call costs (cv2, scenedetect) out of the timed runs
        results = {}
        for name, rec in (("range", SourceRecord("r", str(path), start_s=start, end_s=end)),
                          ("whole", SourceRecord("w", str(path)))):
            seg = Segmenter(cfg)
            t0 = time.perf_counter()
            frames = 0
            for it in seg.run(str(path), rec):
                if start * 25 - 1e-6 <= it.start_frame and it.end_frame <= end * 25 + 1e-6:
                    frames += it.n_frames
            results[name] = (time.perf_counter() - t0, seg.n_frames, frames)
        for name, (secs, decoded, inside) in results.items():
            print(f"{name:6s} {secs:7.2f} s wall, {decoded:6d} frames normalized, {inside} frames of clips inside the range")
        print(f"whole / range wall time: {results['whole'][0] / results['range'][0]:.1f}x "
              f"(range of {args.range_s:.0f} s in a {args.seconds:.0f} s file)")


if __name__ == "__main__":
    main()
