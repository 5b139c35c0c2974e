"""``lipforge sources`` at a dataset's scale: a CelebV-Text-sized info JSON (70,000 clips, pixel
boxes as its README shows them, so each video's size is probed; the real file's boxes are
normalized) over a folder of downloaded videos.

Writes ``--videos`` copies of one tiny synthetic video and the JSON into a temporary folder, then
times :func:`lipforge.pipeline.datasets.make_sources` (what the command runs: read, look up,
probe sizes, write). Prints rows per second; on a shared machine the figure is rough.

    python benchmarks/sources_scale.py [--clips 70000] [--videos 200]
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=70000)
    ap.add_argument("--videos", type=int, default=200)
    args = ap.parse_args()
    import numpy as np

    from lipforge.pipeline.datasets import make_sources
    from lipforge.pipeline.media import encode_video

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        raw = d / "raw"
        raw.mkdir()
        one = d / "one.mp4"
        encode_video(np.zeros((10, 64, 96, 3), np.uint8), path=one)
        for k in range(args.videos):
            shutil.copy(one, raw / f"vid{k:05d}.mp4")
        clips = {}
        for i in range(args.clips):
            v = i % (args.videos + args.videos // 10)  # about 9% of the clips name a video never downloaded
            clips[f"vid{v:05d}_{i}"] = {"ytb_id": f"vid{v:05d}", "duration": {"start_sec": i * 0.5, "end_sec": i * 0.5 + 3.5},
                                        "bbox": {"top": 0, "bottom": 60, "left": 10, "right": 80}, "version": "v0.1"}
        (d / "celebvtext_info.json").write_text(json.dumps({"clips": clips}))
        t0 = time.perf_counter()
        built, _ = make_sources("celebv-text", d / "celebvtext_info.json", raw, d / "out.parquet")
        sources, skipped = built.sources, built.skipped
        dt = time.perf_counter() - t0
        print(f"{args.clips} clips over {args.videos} videos: {len(sources)} sources, {len(skipped)} skipped "
              f"in {dt:.1f} s ({args.clips / dt:,.0f} rows/s)")


if __name__ == "__main__":
    main()
