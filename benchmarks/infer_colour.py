"""Colour fidelity of ``lipforge infer`` outside the pasted face vs a plain ffmpeg re-encode.

Usage::

    python benchmarks/infer_colour.py                 # first 2 s of the real 1080x1920 fixture
    python benchmarks/infer_colour.py --seconds 10

Runs the path users run (``LipSyncPipeline.__call__``, tiny random model) on the real fixture
with its own first seconds of audio, then compares, outside the composite region (dilated 9 px
for H.264's bleed), every output frame with the source frame it shows; and the same for
``ffmpeg -c:v libx264 -crf 18 -preset veryfast`` of the same seconds. All videos are decoded the
same way (the source's matrix and range, accurate rounding). Prints mean abs and mean signed
differences side by side, and the colour tags of each file. No asserts.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

FIXTURE = Path("/work/shared/fixtures/real/talking_en_1080x1920_25fps.mp4")


def main() -> None:
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import cv2
    import torch

    from lipforge.infer.models import LipSyncModel, LipSyncModelConfig
    from lipforge.infer.pipeline import LipSyncPipeline
    from lipforge.infer.prepare import prepare_job
    from lipforge.infer.source import iter_native, probe
    from lipforge.infer.video import box_from_crop, composite_mask

    ap = argparse.ArgumentParser()
    ap.add_argument("--video", default=str(FIXTURE))
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if not Path(a.video).is_file():
        sys.exit(f"needs {a.video}")
    torch.set_num_threads(a.threads)
    tmp = Path(tempfile.mkdtemp(prefix="lipforge_colour_"))
    src = tmp / "src.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", a.video, "-t", str(a.seconds), "-c", "copy", str(src)],
                   check=True)
    plain = tmp / "plain.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:v", "libx264", "-crf", "18", "-preset",
                    "veryfast", "-c:a", "copy", str(plain)], check=True)
    torch.manual_seed(0)
    LipSyncModel.from_config(LipSyncModelConfig.tiny(resolution=64)).save_pretrained(tmp / "ckpt")
    pipe = LipSyncPipeline.from_pretrained(tmp / "ckpt", device="cpu")
    out = tmp / "out.mp4"
    cache = tmp / "cache"
    pipe(src, src, out, num_inference_steps=1, crop_size=64, cache_dir=cache, progress=False)
    prep = prepare_job(src, src, 64, cache_dir=cache)  # the same track (cached), for the region
    info = probe(src)
    ref = list(iter_native(info))
    rows = {}
    for name, path in (("lipforge infer", out), ("ffmpeg crf 18", plain)):
        pi = probe(path)
        d_abs, d_sig, n = 0.0, 0.0, 0
        for t, frame in enumerate(iter_native(pi)):
            if t >= len(ref) or t >= len(prep.positions):
                break
            gen_box = box_from_crop(prep.crop_boxes[t], prep.mask_rects[t], 64)
            alpha = composite_mask(info.height, info.width, [prep.boxes[t], gen_box], prep.crop_boxes[t])
            near = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
            d = frame[:info.height, :info.width].astype(np.int16) - ref[t].astype(np.int16)
            d = d[~near]
            d_abs += float(np.abs(d).sum())
            d_sig += float(d.sum())
            n += d.size
        rows[name] = (d_abs / n, d_sig / n, pi.color_range, pi.colorspace, pi.color_primaries, pi.color_trc)
    print(f"{a.video}, first {a.seconds:g} s; source tags range/matrix/primaries/trc = "
          f"{info.color_range}/{info.colorspace}/{info.color_primaries}/{info.color_trc}")
    print(f"{'':18s}{'mean abs':>10s}{'mean signed':>13s}   tags")
    for k, (m, s, *tags) in rows.items():
        print(f"{k:18s}{m:10.3f}{s:+13.3f}   {'/'.join(map(str, tags))}")
    print("(outside the composite region dilated by 9 px; source decoded with its own matrix and range)")


if __name__ == "__main__":
    main()
