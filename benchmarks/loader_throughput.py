"""Loader throughput on 16-frame windows of 320 px shards: samples/s with 0, 1 and 2 DataLoader
workers side by side, a raw tar read of the same bytes, and the data-wait share of a short tiny
training run fed by the same loader (the path ``lipforge train`` runs).

    python benchmarks/loader_throughput.py                 # shards cut from the real fixture video
    python benchmarks/loader_throughput.py --synthetic     # synthetic 320 px clips instead
    python benchmarks/loader_throughput.py shard.tar ...   # your own shards

The real-fixture shards are 2 s clips of ``talking_en_1080x1920_25fps.mp4`` (its own audio),
centre-cropped to a square and resized to 320 px: real video content at the curated crop size,
but not face-aligned (no detector runs), with a fixed mask rectangle.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

FIXTURE = Path("/work/shared/fixtures/real/talking_en_1080x1920_25fps.mp4")
SIZE, CLIP = 320, 50  # px, frames per clip


def real_fixture_clips(path: Path, n_clips: int) -> list[dict]:
    """n_clips 2 s clips of the fixture, 320 px centre crops, in the shard sample layout."""
    import av
    import cv2
    import numpy as np

    from lipforge.manifests.layout import encode_sample
    from lipforge.pipeline.media import decode_audio, encode_video, encode_wav

    frames = []
    with av.open(str(path)) as c:
        for fr in c.decode(video=0):
            img = fr.to_ndarray(format="rgb24")  # (H, W, 3)
            h, w = img.shape[:2]
            s = min(h, w)
            y0 = (h - s) // 3  # the head sits in the upper part of a portrait frame
            x0 = (w - s) // 2
            frames.append(cv2.resize(img[y0:y0 + s, x0:x0 + s], (SIZE, SIZE), interpolation=cv2.INTER_AREA))
            if len(frames) == n_clips * CLIP:
                break
    audio = decode_audio(path)
    rect = np.tile(np.array([[90, 170, 230, 300]], np.float32), (CLIP, 1))
    out = []
    for i in range(len(frames) // CLIP):
        v = np.stack(frames[i * CLIP:(i + 1) * CLIP])
        a = audio[i * CLIP * 640:(i + 1) * CLIP * 640]
        key = f"real-{i * 2000:08d}-00"
        meta = {"clip_id": key, "source_id": "real", "fps": 25, "sample_rate": 16000, "n_frames": CLIP,
                "crop_size": SIZE}
        out.append(encode_sample(key, {"mp4": encode_video(v, fps=25, deterministic=True), "wav": encode_wav(a),
                                       "json": meta, "mask_adaptive.npy": rect, "mask_keysync.npy": rect}))
    return out


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shards", nargs="*")
    p.add_argument("--synthetic", action="store_true", help="synthetic 320 px clips instead of the real fixture")
    p.add_argument("--samples", type=int, default=20, help="windows read per loader configuration")
    a = p.parse_args(argv)
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import torch

    torch.set_num_threads(1)
    from lipforge.infer.models import LipSyncModelConfig
    from lipforge.manifests.container import iter_tar_samples
    from lipforge.testing.train_data import synthetic_clip, tiny_train_config, write_shard
    from lipforge.train.loader import ShardLoader, WindowSpec
    from lipforge.train.loop import train

    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-"))
    shards = a.shards
    if not shards:
        if a.synthetic or not FIXTURE.is_file():
            if not a.synthetic:
                print(f"{FIXTURE} not found: synthetic clips instead")
            clips = [synthetic_clip(f"b{c}-{c:08d}-00", n_frames=CLIP, size=SIZE, seed=c) for c in range(5)]
            what = "synthetic 320 px clips"
        else:
            clips = real_fixture_clips(FIXTURE, 5)
            what = f"real fixture {FIXTURE.name}, 2 s clips, 320 px centre crops"
        shards = [str(write_shard(tmp / f"s{i}.tar", [c])) for i, c in enumerate(clips)]
        print(f"shards: {len(shards)} x 1 clip of {CLIP} frames ({what})")
    t0 = time.perf_counter()
    n_raw = nbytes = 0
    for s in shards:
        for raw in iter_tar_samples(s):
            n_raw += 1
            nbytes += sum(len(v) for k, v in raw.items() if not k.startswith("__"))
    raw_s = time.perf_counter() - t0
    print(f"raw tar read: {n_raw} samples, {nbytes / 1e6:.1f} MB, {n_raw / raw_s:.1f} samples/s")
    spec = WindowSpec(num_frames=16, resolution=SIZE, audio_k=2)
    rates = {}
    for workers in (0, 1, 2):
        ld = ShardLoader(shards, 0, 1, batch_size=1, num_workers=workers, seed=0, spec=spec)
        it = iter(ld)
        next(it)  # worker start-up outside the timing
        t0 = time.perf_counter()
        for _ in range(a.samples):
            next(it)
        rates[workers] = a.samples / (time.perf_counter() - t0)
    print("loader, 16-frame windows at 320 px, samples/s: "
          + "   ".join(f"{w} workers {r:.2f}" for w, r in rates.items())
          + f"   (per worker with 2: {rates[2] / 2:.2f})")
    model = LipSyncModelConfig.tiny(num_frames=16, resolution=64)  # the loader resizes the 320 px crops
    cfg = tiny_train_config(tmp / "run", shards, max_steps=8, ckpt_every=1000, log_every=1000)
    import dataclasses

    cfg = dataclasses.replace(cfg, model=model)
    hist = train(cfg)
    data = sum(h["data_s"] for h in hist[1:])
    comp = sum(h["compute_s"] for h in hist[1:])
    print(f"tiny training (16 frames, 64 px model, 0 workers), {len(hist) - 1} steps after the first: data wait "
          f"{data:.2f} s, compute {comp:.2f} s, data-wait share {data / (data + comp):.1%}")
    print(f"machine: {torch.get_num_threads()} torch thread; shared with other jobs: treat the figures as rough")


if __name__ == "__main__":
    main(sys.argv[1:])
