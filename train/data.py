"""Deterministic, resumable streaming of curated shards into training windows.

Why not webdataset's pipeline: exact resume needs the data position to be a pure function of
(epoch, batch index), and every rank must see the same number of batches per epoch. WebDataset's
shuffle buffers, node/worker splitters and ``with_epoch`` resampling make both hard to state, so
this module streams the tar members through the shard container
(:func:`lipforge.manifests.container.iter_tar_indexed`, local paths or URLs) and decodes each sample through ``lipforge.manifests.layout.decode_sample`` - the shard writer's layout.

The plan of an epoch (:func:`epoch_plan`): shards permuted by (seed, epoch) and dealt to the
``G = world_size * num_workers`` streams so their sample totals are balanced (largest shard
first onto the emptiest stream); a stream reads its shards in permutation order; every stream
yields the same number of batches ``min_g floor(samples_g / batch_size)`` (the tail is left for
later epochs, whose permutation differs), so no rank waits at an epoch end. Rank-local batch ``i``
comes from that rank's worker ``i % W`` (the DataLoader's round-robin), so resuming at ``i``
rotates the workers and skips already-consumed samples by reading tar headers only.

Within a stream, samples pass a shuffle buffer whose emission order (:func:`shuffle_order`) is
computed from (seed, epoch, stream) and the sample counts alone, so the data position stays
(epoch, index): a resumed stream knows which samples it already emitted and which sat in the
buffer, and reads only the payloads it still needs.

Per-sample randomness (window start, reference frame) comes from (seed, epoch, key) alone.
"""
from __future__ import annotations

import heapq
import zlib
from dataclasses import dataclass

import numpy as np

from lipforge.manifests.layout import SAMPLES_PER_FRAME

# ---- the epoch plan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochPlan:
    streams: list[list[int]]  # per global stream: shard indices in reading order
    batches_per_stream: int


def epoch_plan(counts: list[int], epoch: int, seed: int, n_streams: int, batch_size: int) -> EpochPlan:
    if len(counts) < n_streams:
        raise ValueError(f"{len(counts)} shards cannot feed {n_streams} streams (world_size x num_workers): "
                         "write more, smaller shards or use fewer workers")
    perm = np.random.default_rng([seed, epoch, 0x5A4D]).permutation(len(counts)).tolist()
    rank = {shard: r for r, shard in enumerate(perm)}
    # Balance the streams (largest shard first onto the stream holding the fewest samples, ties
    # by the epoch's permutation): every stream stops at the smallest stream's length, so equal
    # totals waste no samples per epoch even when shard sizes vary (content-defined shard
    # boundaries). Each stream reads its shards in permutation order.
    heap = [(0, g) for g in range(n_streams)]
    streams: list[list[int]] = [[] for _ in range(n_streams)]
    for shard in sorted(range(len(counts)), key=lambda i: (-counts[i], rank[i])):
        total, g = heapq.heappop(heap)
        streams[g].append(shard)
        heapq.heappush(heap, (total + counts[shard], g))
    streams = [sorted(st, key=rank.__getitem__) for st in streams]
    per = min(sum(counts[s] for s in st) for st in streams) // batch_size
    if per < 1:
        raise ValueError(f"a data stream has fewer than batch_size={batch_size} samples; use fewer streams or more data")
    return EpochPlan(streams, per)


def used_fraction(counts: list[int], n_streams: int, batch_size: int, seed: int) -> float:
    """Share of the samples epoch 0's plan uses (0 when the shards cannot feed the streams)."""
    try:
        plan = epoch_plan(counts, 0, seed, n_streams, batch_size)
    except ValueError:
        return 0.0
    return plan.batches_per_stream * batch_size * n_streams / max(1, sum(counts))


def split_by_ranges(urls: list[str], entries: list[list], n_streams: int,
                    per_stream: int = 4) -> tuple[list[str], list[list]]:
    """Shards whose samples are located (offsets) split into contiguous sample ranges, so that
    there are at least ``per_stream * n_streams`` units to deal: with few shards per stream the
    balanced plan still leaves data out (40 shards over 32 streams used 61 % of the samples); with
    many small units every stream gets about the same count. A pure function of the counts:
    resume stays exact. The loader splits only when the whole-shard plan would use < 95 %.

    >>> split_by_ranges(["a"], [[(0, 1), (1, 1), (2, 1)]], n_streams=1, per_stream=2)[1]
    [[(0, 1), (1, 1)], [(2, 1)]]
    """
    if len(urls) >= per_stream * n_streams:
        return urls, entries
    k = -(-per_stream * n_streams // len(urls))  # pieces per shard
    out_u, out_e = [], []
    for url, ent in zip(urls, entries):
        step = max(1, -(-len(ent) // k))
        for i in range(0, len(ent), step):
            out_u.append(url)
            out_e.append(ent[i:i + step])
    return out_u, out_e


def shuffle_order(n: int, buffer: int, rng: np.random.Generator) -> np.ndarray:
    """Emission order (stream-local indices) of a shuffle buffer of ``buffer`` slots fed ``n``
    samples in tar order: fill the buffer, then each new sample replaces a random slot whose
    sample is emitted; the rest drains in random order. A pure function of (n, buffer, rng), so
    the loader can restart a stream at any emitted position holding only a buffer's worth of
    samples (see ``ShardStream``)."""
    if buffer <= 1 or n <= 1:
        return np.arange(n)
    k = min(buffer, n)
    slots = np.arange(k)
    picks = rng.integers(0, k, size=n - k)
    out = np.empty(n, np.int64)
    for i, j in enumerate(picks):
        out[i] = slots[j]
        slots[j] = k + i
    out[n - k:] = slots[rng.permutation(k)]
    return out


def stream_rng(seed: int, epoch: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, stream, 0x5B0F])


# ---- sample -> training window ----------------------------------------------------------------


def sample_rng(seed: int, epoch: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, zlib.crc32(key.encode())])


def resize_frame(fr: np.ndarray, resolution: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, R, R) uint8: the one resize the loader and lipforge.train.cache share."""
    import cv2

    return cv2.resize(fr, (resolution, resolution), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)


def prep_frame(fr: np.ndarray, resolution: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, R, R) float32 in [-1, 1] (:func:`resize_frame`, then as :func:`unit_pixels`)."""
    return resize_frame(fr, resolution).astype(np.float32) / 127.5 - 1.0


def make_window(sample: dict, num_frames: int, resolution: int, audio_k: int, rng: np.random.Generator,
                mask_field: str = "mask_adaptive", min_ref_distance: int = 0, use_cached_latents: bool = False,
                use_cached_audio: bool = False, features_per_frame: int = 2,
                audio_chunk: int = 480_000) -> dict[str, np.ndarray | str | int]:
    """Decoded shard sample -> one training window (numpy, channels first, pixels as uint8).

    frames (T, 3, R, R) uint8; masks (T, 1, R, R) uint8 1 inside the lip mask; ref (4, R, R) uint8
    = reference RGB + the union of the window's masks (the region to generate). uint8 is the
    wire format from a DataLoader worker (a quarter of float32's bytes: at 320 px the float32
    window was 26 MB, and moving it cost more than decoding it); :func:`unit_pixels` turns a
    collated batch into the model's float32 (pixels in [-1, 1], masks in {0, 1}). The window needs
    the features of audio frames [a, b) = [s - k, s + T + k) cut to the clip; audio (n * audio_chunk,)
    is the clip's audio from the start of the Whisper chunk holding frame a to the end of the one
    holding frame b - 1 (:func:`lipforge.infer.models.audio.chunk_span`: the chunks inference
    encodes, zero past the clip's end), audio_offset = a - (first audio frame of that audio).
    audio_centers (T,) and audio_valid count from a: window frame t sits at frame audio_centers[t]
    of the features cut at audio_offset, frames >= audio_valid are outside the clip (zero features).
    With ``use_cached_*`` and the sample carrying the cache: latents (T, 4, h, w) float32 = rows of
    ``latents.npy`` for the window's frames; whisper ((T + 2k) * features_per_frame, C) float32 =
    the rows of ``whisper.npy`` for audio frames [a, b), zero after (like the audio buffer).
    """
    from lipforge.infer.models.audio import chunk_span
    from lipforge.pipeline.faces.masks import render_masks
    from lipforge.pipeline.media import decode_frames, decode_wav

    meta = sample["json"]
    key = sample["__key__"]
    rects_all = sample.get(f"{mask_field}.npy")
    if rects_all is None:
        raise ValueError(f"sample {key} has no {mask_field}.npy: train on shards written with the face stages")
    n = int(meta.get("n_frames") or len(rects_all))
    n = min(n, len(rects_all))
    s = int(rng.integers(0, max(1, n - num_frames + 1)))
    outside = [i for i in range(n) if i < s - min_ref_distance or i >= s + num_frames + min_ref_distance]
    ref_i = int(rng.choice(outside)) if outside else int(rng.integers(0, n))
    # only the window's frames and the reference, each run from the keyframe before it (shards
    # written as one GOP, without json video_keyint, decode from the start); an index past the
    # video's end gives its last frame (short clips repeat it) and comes back clamped in `real`
    video, real = decode_frames(sample["mp4"], [*range(s, s + num_frames), ref_i], keyint=meta.get("video_keyint"))
    idx = real[:num_frames]
    crop = int(meta.get("crop_size") or video.shape[1])

    frames = np.stack([resize_frame(fr, resolution) for fr in video[:num_frames]])  # (T, 3, R, R) uint8
    rects = np.asarray(rects_all, np.float32)[np.minimum(idx, len(rects_all) - 1)] * (resolution / crop)
    masks = render_masks(rects, resolution).astype(np.uint8)[:, None]  # (T, 1, R, R)
    union = np.concatenate([rects[:, :2].min(0), rects[:, 2:].max(0)])[None]
    ref = np.concatenate([resize_frame(video[num_frames], resolution),
                          render_masks(union, resolution).astype(np.uint8)])  # (4, R, R) uint8

    audio, _sr = decode_wav(sample["wav"])
    n_audio = -(-len(audio) // SAMPLES_PER_FRAME)
    a, b = max(0, s - audio_k), min(n_audio, s + num_frames + audio_k)
    lo, hi = chunk_span(a, b, audio_chunk)
    buf = np.zeros(hi - lo, np.float32)
    seg = audio[lo:hi]
    buf[:len(seg)] = seg
    out = {"key": key, "frames": frames, "masks": masks, "ref": ref, "audio": buf,
           "audio_offset": a - lo // SAMPLES_PER_FRAME,
           "audio_centers": np.arange(s - a, s - a + num_frames), "audio_valid": max(0, b - a),
           "start": s, "ref_index": ref_i}
    lat = sample.get("latents.npy") if use_cached_latents else None
    if lat is not None:
        out["latents"] = np.asarray(lat, np.float32)[np.minimum(idx, len(lat) - 1)]  # (T, 4, h, w)
    wf = sample.get("whisper.npy") if use_cached_audio else None
    if wf is not None:
        fpf = features_per_frame
        feats = np.zeros(((num_frames + 2 * audio_k) * fpf, wf.shape[1]), np.float32)
        rows = np.asarray(wf[a * fpf:b * fpf], np.float32)
        feats[:len(rows)] = rows
        out["whisper"] = feats
    return out


def collate(items: list[dict]) -> dict:
    import torch

    out: dict = {"keys": [it["key"] for it in items]}
    for k in ("frames", "masks", "ref", "audio_centers"):
        out[k] = torch.from_numpy(np.stack([it[k] for it in items]))
    n = max(len(it["audio"]) for it in items)  # whole encoder chunks; a sample needing fewer gets zero chunks
    out["audio"] = torch.from_numpy(np.stack([np.pad(it["audio"], (0, n - len(it["audio"]))) for it in items]))
    for k in ("latents", "whisper"):  # caches are used for a batch only when every sample has one
        if all(k in it for it in items):
            out[k] = torch.from_numpy(np.stack([it[k] for it in items]))
    for k in ("audio_offset", "audio_valid", "start", "ref_index"):
        out[k] = torch.tensor([it[k] for it in items])
    return out


def unit_pixels(batch: dict) -> dict:
    """A collated batch's uint8 pixels -> the model's float32, in place: frames (B, T, 3, R, R) and
    the reference RGB ref[:, :3] to [-1, 1] (x / 127.5 - 1, bit for bit :func:`prep_frame`),
    masks (B, T, 1, R, R) and the reference's mask channel ref[:, 3:] to {0, 1}. Runs in the
    trainer's process, after the worker handed over the 4x smaller uint8 batch."""
    import torch

    def unit(x: np.ndarray) -> np.ndarray:  # numpy: about half torch's CPU time for this here
        y = x.astype(np.float32)
        y /= np.float32(127.5)
        y -= np.float32(1.0)
        return y

    if "frames" in batch and batch["frames"].dtype == torch.uint8:
        batch["frames"] = torch.from_numpy(unit(batch["frames"].numpy()))
        batch["masks"] = batch["masks"].float()
        ref = batch["ref"].numpy()  # (B, 4, R, R)
        batch["ref"] = torch.from_numpy(np.concatenate([unit(ref[:, :3]), ref[:, 3:].astype(np.float32)], axis=1))
    return batch
