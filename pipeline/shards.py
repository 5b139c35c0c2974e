"""Shard samples and deterministic tar writing.

A kept clip becomes one WebDataset sample encoded through ``manifests.encode_sample`` (the one
layout the trainer's loader decodes). Tars are written byte-deterministically (fixed mtime,
owner and member order), so a resumed run produces the same bytes as an uninterrupted one.
"""
from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from manifests.layout import SAMPLE_LAYOUT, encode_sample
from manifests.schema import MEASUREMENTS, ShardRecord
from pipeline.media import encode_video, encode_wav
from pipeline.stage import ClipItem

_EXT_ORDER = {ext: i for i, ext in enumerate(SAMPLE_LAYOUT)}


def item_metadata(item: ClipItem) -> dict:
    meta = {
        "clip_id": item.clip_id, "source_id": item.source_id, "parent_id": item.parent_id,
        "fps": item.fps, "sample_rate": item.sample_rate, "n_frames": item.n_frames,
        "start_frame": item.start_frame, "end_frame": item.end_frame,
        "start_s": item.start_frame / item.fps, "end_s": item.end_frame / item.fps,
        "work_scale": item.work_scale, "source_width": item.source_width,
        "source_height": item.source_height, "frames_are_crop": item.frames_are_crop,
        "crop_size": int(item.frames.shape[1]) if item.frames_are_crop and item.frames is not None else None,
    }
    meta["measurements"] = {k: v for k, v in sorted(item.measurements.items()) if k in MEASUREMENTS}
    return meta


def sample_from_item(item: ClipItem, crf: int = 18) -> dict[str, bytes | str]:
    """Encode a kept clip as shard members (video, audio, json and its per-frame arrays)."""
    if item.frames is None or item.audio is None:
        raise ValueError(f"clip {item.clip_id}: a kept clip must carry frames and audio")
    spf = item.sample_rate // int(item.fps)
    if len(item.frames) != item.n_frames or len(item.audio) != item.n_frames * spf:
        raise ValueError(f"clip {item.clip_id}: {len(item.frames)} frames / {len(item.audio)} samples do not "
                         f"match {item.n_frames} frames x {spf} samples")
    fields = {"mp4": encode_video(item.frames, fps=int(item.fps), crf=crf),
              "wav": encode_wav(item.audio, item.sample_rate), "json": item_metadata(item)}
    fields.update(item.arrays)
    return encode_sample(item.clip_id, fields)


def _member_order(name: str) -> tuple:
    key, _, ext = name.partition(".")
    return key, _EXT_ORDER.get(ext, len(_EXT_ORDER)), ext


def write_tar(path: str | Path, samples: Iterable[dict[str, bytes | str]]) -> list[ShardRecord]:
    """Write samples to ``path`` atomically (temp name, fsync, rename); returns member offsets."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    records = []
    with open(tmp, "wb") as fh:
        with tarfile.open(fileobj=fh, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for sample in samples:
                key = sample["__key__"]
                start = fh.tell()
                n_frames = 0
                for ext in sorted((e for e in sample if not e.startswith("__")), key=lambda e: _EXT_ORDER.get(e, 99)):
                    data = sample[ext]
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size, info.mtime, info.mode = len(data), 0, 0o644
                    info.uname = info.gname = ""
                    tar.addfile(info, io.BytesIO(data))
                if "json" in sample:
                    import json

                    n_frames = int(json.loads(sample["json"]).get("n_frames", 0))
                records.append(ShardRecord(shard=path.name, key=key, offset=start, size=fh.tell() - start,
                                           n_frames=n_frames))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return records


def read_tar_samples(path: str | Path) -> Iterator[dict[str, bytes]]:
    """Samples of a tar written by :func:`write_tar`, grouped by key, in file order."""
    with tarfile.open(path, "r") as tar:
        current: dict[str, bytes] | None = None
        for m in tar:
            if not m.isfile():
                continue
            key, _, ext = m.name.partition(".")
            if current is None or current["__key__"] != key:
                if current is not None:
                    yield current
                current = {"__key__": key}
            current[ext] = tar.extractfile(m).read()
        if current is not None:
            yield current


@dataclass(frozen=True)
class ShardPlan:
    max_samples: int
    max_bytes: int


def pack_shards(samples: Iterable[dict[str, bytes]], out_dir: Path, plan: ShardPlan,
                pattern: str = "shard-{:06d}.tar") -> list[ShardRecord]:
    """Pack samples (already in their final order) into bounded shards."""
    out_dir.mkdir(parents=True, exist_ok=True)
    records: list[ShardRecord] = []
    batch: list[dict[str, bytes]] = []
    size = 0
    idx = 0

    def flush():
        nonlocal batch, size, idx
        if batch:
            recs = write_tar(out_dir / pattern.format(idx), batch)
            records.extend(recs)
            idx += 1
        batch, size = [], 0

    for s in samples:
        n = sum(len(v) + 512 for k, v in s.items() if not k.startswith("__"))
        if batch and (len(batch) >= plan.max_samples or size + n > plan.max_bytes):
            flush()
        batch.append(s)
        size += n
    flush()
    return records
