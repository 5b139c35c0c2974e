"""Loader throughput on 16-frame windows of 320 px shards: samples/s with 0, 1 and 2 DataLoader
workers, for the same clips written as one GOP (shards before ``ShardConfig.video_keyint``, whose
windows decode from the clip start) and with a keyframe every ``--keyint`` frames (the writer's
default now: a window seeks to the keyframe before it), side by side with their ratio; a raw tar
read of the same bytes, the frames each window decodes, and the data-wait share of a short tiny
training run fed by the same loader (the path ``lipforge train`` runs).

    python benchmarks/loader_throughput.py                 # shards cut from the real fixture video
    python benchmarks/loader_throughput.py --clip-s 10     # the longest curated clips (max_clip_s)
    python benchmarks/loader_throughput.py --synthetic     # synthetic 320 px clips instead
    python benchmarks/loader_throughput.py --profile       # where one window's time goes (0 workers)
    python benchmarks/loader_throughput.py shard.tar ...   # your own shards (one column)

The real-fixture shards are clips of ``talking_en_1080x1920_25fps.mp4`` (its own audio),
centre-cropped to a square and resized to 320 px: real video content at the curated crop size,
but not face-aligned (no detector runs), with a fixed mask rectangle.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

FIXTURE = Path("/work/shared/fixtures/real/talking_en_1080x1920_25fps.mp4")
SIZE = 320  # px


def fixture_frames(path: Path, n: int):
    """The fixture's first ``n`` frames as 320 px centre crops ((n, 320, 320, 3) uint8) and its audio;
    past its 10 s it plays back and forth (no cut), so five 10 s clips exist."""
    import av
    import cv2
    import numpy as np

    from lipforge.pipeline.media import decode_audio

    frames = []
    with av.open(str(path)) as c:
        for fr in c.decode(video=0):
            img = fr.to_ndarray(format="rgb24")  # (H, W, 3)
            h, w = img.shape[:2]
            s = min(h, w)
            y0 = (h - s) // 3  # the head sits in the upper part of a portrait frame
            x0 = (w - s) // 2
            frames.append(cv2.resize(img[y0:y0 + s, x0:x0 + s], (SIZE, SIZE), interpolation=cv2.INTER_AREA))
            if len(frames) == n:
                break
    audio = decode_audio(path)
    k = -(-n // len(frames))
    frames = np.concatenate([frames if i % 2 == 0 else frames[::-1] for i in range(k)])[:n]
    audio = np.concatenate([audio if i % 2 == 0 else audio[::-1] for i in range(k)])
    return frames, audio


def real_fixture_clips(frames, audio, clip: int, keyint: int) -> list[dict]:
    """Clips of ``clip`` frames in the shard sample layout, encoded as the shard writer does
    (:func:`lipforge.pipeline.store.shards.sample_from_item`: crf 18, a keyframe every ``keyint``
    frames and json ``video_keyint``; 0: one GOP, no ``video_keyint``)."""
    import numpy as np

    from lipforge.manifests.layout import encode_sample
    from lipforge.pipeline.media import encode_video, encode_wav

    rect = np.tile(np.array([[90, 170, 230, 300]], np.float32), (clip, 1))
    out = []
    for i in range(len(frames) // clip):
        v = frames[i * clip:(i + 1) * clip]
        a = audio[i * clip * 640:(i + 1) * clip * 640]
        key = f"real-{i * clip * 40:08d}-00"
        meta = {"clip_id": key, "source_id": "real", "fps": 25, "sample_rate": 16000, "n_frames": clip,
                "crop_size": SIZE, **({"video_keyint": keyint} if keyint else {})}
        out.append(encode_sample(key, {"mp4": encode_video(v, fps=25, crf=18, keyint=keyint or None),
                                       "wav": encode_wav(a), "json": meta,
                                       "mask_adaptive.npy": rect, "mask_keysync.npy": rect}))
    return out


def loader_rates(shards: list[str], spec, samples: int) -> tuple[dict[int, float], float]:
    """samples/s with 0, 1 and 2 workers, and the CPU ms one sample costs with 0 workers (the
    figure a shared machine's load disturbs least)."""
    from lipforge.train.loader import ShardLoader

    rates, cpu_ms = {}, 0.0
    for workers in (0, 1, 2):
        it = iter(ShardLoader(shards, 0, 1, batch_size=1, num_workers=workers, seed=0, spec=spec))
        next(it)  # worker start-up outside the timing
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(samples):
            next(it)
        rates[workers] = samples / (time.perf_counter() - t0)
        if workers == 0:
            cpu_ms = (time.process_time() - c0) / samples * 1e3
        del it  # stops this configuration's workers before the next one starts
    return rates, cpu_ms


def frames_decoded(shards: list[str], spec, n: int = 40) -> float:
    """Mean frames the decoder returns per window (epoch 0's windows of the first samples)."""
    from lipforge.manifests.container import iter_tar_samples
    from lipforge.manifests.layout import decode_sample
    from lipforge.pipeline.media import decode_frames
    from lipforge.train.data import sample_rng

    counts = []
    for s in shards:
        for raw in iter_tar_samples(s):
            smp = decode_sample(raw)
            rng = sample_rng(0, 0, smp["__key__"])
            clip = int(smp["json"]["n_frames"])
            start = int(rng.integers(0, max(1, clip - spec.num_frames + 1)))  # as make_window draws them
            outside = [i for i in range(clip) if i < start or i >= start + spec.num_frames]
            ref = int(rng.choice(outside)) if outside else int(rng.integers(0, clip))
            st: dict = {}
            decode_frames(smp["mp4"], [*range(start, start + spec.num_frames), ref],
                          keyint=smp["json"].get("video_keyint"), stats=st)
            counts.append(st["decoded"])
            if len(counts) == n:
                return sum(counts) / len(counts)
    return sum(counts) / max(1, len(counts))


def profile_window(shards: list[str], spec, n: int = 20) -> None:
    import cProfile
    import pstats

    from lipforge.manifests.container import iter_tar_samples
    from lipforge.manifests.layout import decode_sample
    from lipforge.train.data import make_window, sample_rng

    raws = [raw for s in shards for raw in iter_tar_samples(s)][:n]
    prof = cProfile.Profile()
    prof.enable()
    for raw in raws:
        smp = decode_sample(raw)
        make_window(smp, spec.num_frames, spec.resolution, spec.audio_k, sample_rng(0, 0, smp["__key__"]))
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(14)


def data_wait(tmp: Path, shards: list[str], name: str) -> str:
    from lipforge.infer.models import LipSyncModelConfig
    from lipforge.testing.train_data import tiny_train_config
    from lipforge.train.loop import train

    model = LipSyncModelConfig.tiny(num_frames=16, resolution=64)  # the loader resizes the 320 px crops
    cfg = tiny_train_config(tmp / f"run-{name}", shards, max_steps=8, ckpt_every=1000, log_every=1000)
    hist = train(dataclasses.replace(cfg, model=model))
    data = sum(h["data_s"] for h in hist[1:])
    comp = sum(h["compute_s"] for h in hist[1:])
    return f"data wait {data:.2f} s, compute {comp:.2f} s, data-wait share {data / (data + comp):.1%}"


def main(argv: list[str]) -> None:
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="lf-bench-"))
    try:
        run(argv, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # shards and training runs: nothing left behind


def run(argv: list[str], tmp: Path) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shards", nargs="*")
    p.add_argument("--synthetic", action="store_true", help="synthetic 320 px clips instead of the real fixture")
    p.add_argument("--samples", type=int, default=20, help="windows read per loader configuration")
    p.add_argument("--clip-s", type=float, default=2.0, help="clip length in seconds (2: min_clip_s; 10: max_clip_s)")
    p.add_argument("--clips", type=int, default=5, help="clips (one per shard)")
    p.add_argument("--keyint", type=int, default=None, help="keyframe interval of the new shards (default: the writer's)")
    p.add_argument("--profile", action="store_true", help="also profile make_window on the new shards")
    p.add_argument("--no-train", action="store_true", help="skip the tiny training runs")
    a = p.parse_args(argv)
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import torch

    torch.set_num_threads(1)
    from lipforge.manifests.container import iter_tar_samples
    from lipforge.pipeline.media import SHARD_KEYINT
    from lipforge.testing.train_data import synthetic_clip, write_shard
    from lipforge.train.loader import WindowSpec

    keyint = SHARD_KEYINT if a.keyint is None else a.keyint
    clip = int(round(a.clip_s * 25))
    variants: dict[str, list[str]] = {}
    if a.shards:
        variants["given"] = list(a.shards)
    else:
        if a.synthetic or not FIXTURE.is_file():
            if not a.synthetic:
                print(f"{FIXTURE} not found: synthetic clips instead")
            make = {k: [synthetic_clip(f"b{c}-{c:08d}-00", n_frames=clip, size=SIZE, seed=c, keyint=k)
                        for c in range(a.clips)] for k in (0, keyint)}
            what = "synthetic 320 px clips"
        else:
            frames, audio = fixture_frames(FIXTURE, a.clips * clip)
            make = {k: real_fixture_clips(frames, audio, clip, k) for k in (0, keyint)}
            what = f"real fixture {FIXTURE.name}, 320 px centre crops"
        for k, clips in make.items():
            name = "one GOP" if k == 0 else f"keyint {k}"
            variants[name] = [str(write_shard(tmp / f"k{k}-s{i}.tar", [c])) for i, c in enumerate(clips)]
        print(f"shards: {a.clips} x 1 clip of {clip} frames ({what}), as one GOP and with a keyframe every {keyint}")
    spec = WindowSpec(num_frames=16, resolution=SIZE, audio_k=2)
    rates, cpu = {}, {}
    for name, shards in variants.items():
        t0 = time.perf_counter()
        n_raw = nbytes = mp4 = 0
        for s in shards:
            for raw in iter_tar_samples(s):
                n_raw += 1
                nbytes += sum(len(v) for k, v in raw.items() if not k.startswith("__"))
                mp4 += len(raw.get("mp4", b""))
        raw_s = time.perf_counter() - t0
        print(f"[{name}] raw tar read: {n_raw} samples, {nbytes / 1e6:.2f} MB (mp4 {mp4 / 1e6:.2f} MB), "
              f"{n_raw / raw_s:.1f} samples/s; frames decoded per window: {frames_decoded(shards, spec):.1f}")
        rates[name], cpu[name] = loader_rates(shards, spec, a.samples)
    names = list(rates)
    print("loader, 16-frame windows at 320 px, samples/s (per worker in brackets):")
    for w in (0, 1, 2):
        cells = "   ".join(f"{n}: {rates[n][w]:6.2f} ({rates[n][w] / max(1, w):5.2f})" for n in names)
        ratio = f"   ratio {rates[names[1]][w] / rates[names[0]][w]:.2f}x" if len(names) == 2 else ""
        print(f"  {w} workers   {cells}{ratio}")
    print("  CPU per sample, 0 workers: " + "   ".join(f"{n}: {cpu[n]:.1f} ms" for n in names))
    if a.profile:
        profile_window(variants[names[-1]], spec)
    if not a.no_train:
        for name, shards in variants.items():
            print(f"[{name}] tiny training (16 frames, 64 px model, 0 workers), 7 steps after the first: "
                  + data_wait(tmp, shards, name.replace(" ", "")))
    print(f"machine: {torch.get_num_threads()} torch thread; shared with other jobs: treat the figures as rough")


if __name__ == "__main__":
    main(sys.argv[1:])
