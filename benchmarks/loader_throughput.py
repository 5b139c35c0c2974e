"""Loader throughput: samples/s from the shards (decode + windows) vs a raw tar read of the same
bytes, and the data-wait share of a short tiny training run.

    python benchmarks/loader_throughput.py [shard.tar ...]   # synthetic shards when none given
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import torch

    torch.set_num_threads(1)
    root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(root)]
    from lipforge.testing.train_data import synthetic_clip, tiny_train_config, write_shard
    from lipforge.manifests.container import iter_tar_samples
    from lipforge.train.loader import ShardLoader, WindowSpec
    from lipforge.train.loop import train

    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-"))
    shards = argv or [str(write_shard(tmp / f"s{i}.tar", [synthetic_clip(f"b{i}-{c:08d}-00", n_frames=50, size=64, seed=c)
                                                          for c in range(8)])) for i in range(4)]
    t0 = time.perf_counter()
    n_raw = nbytes = 0
    for s in shards:
        for raw in iter_tar_samples(s):
            n_raw += 1
            nbytes += sum(len(v) for k, v in raw.items() if not k.startswith("__"))
    raw_s = time.perf_counter() - t0
    print(f"raw tar read: {n_raw} samples, {nbytes / 1e6:.1f} MB, {n_raw / raw_s:.1f} samples/s")
    for workers in (0, 2):
        ld = ShardLoader(shards, 0, 1, batch_size=1, num_workers=workers, seed=0,
                         spec=WindowSpec(num_frames=16, resolution=64, audio_k=2))
        it = iter(ld)
        t0 = time.perf_counter()
        for _ in range(n_raw):
            next(it)
        dt = time.perf_counter() - t0
        print(f"loader (16 frames, 64 px, {workers} workers): {n_raw / dt:.1f} samples/s")
    cfg = tiny_train_config(tmp / "run", shards, max_steps=10, ckpt_every=1000)
    hist = train(cfg)
    data = sum(h["data_s"] for h in hist[1:])
    comp = sum(h["compute_s"] for h in hist[1:])
    print(f"tiny training, 9 steps after the first: data wait {data:.2f} s, compute {comp:.2f} s, "
          f"data-wait share {data / (data + comp):.1%}")


if __name__ == "__main__":
    main(sys.argv[1:])
