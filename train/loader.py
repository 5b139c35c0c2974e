"""The rank's batch stream: a DataLoader over :class:`ShardStream` whose position is (epoch, index).

>>> pos = DataPosition(epoch=3, index=17)   # the next batch to read is batch 17 of epoch 3
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from lipforge.manifests.container import count_samples, iter_tar_indexed, read_refs, read_sample_at, scan_tar
from lipforge.manifests.layout import decode_sample
from lipforge.train.data import (
    collate,
    epoch_plan,
    make_window,
    sample_rng,
    shuffle_order,
    split_by_ranges,
    stream_rng,
    unit_pixels,
    used_fraction,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataPosition:
    epoch: int = 0
    index: int = 0  # rank-local batches of this epoch already consumed

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}


@dataclass(frozen=True)
class WindowSpec:
    num_frames: int
    resolution: int
    audio_k: int
    mask_field: str = "mask_adaptive"
    min_ref_distance: int = 0
    shuffle_buffer: int = 0  # 0/1: tar order
    use_cached_latents: bool = False
    use_cached_audio: bool = False
    features_per_frame: int = 2
    audio_chunk: int = 480_000  # samples per Whisper encoder call (lipforge.infer.models.audio.chunk_samples)


class ShardStream(IterableDataset):
    """This rank's batches from (``epoch``, ``start_index``) on, epoch after epoch, without end.

    One stream serves the whole run, so DataLoader workers start once and stay (they used to be
    recreated every epoch). Each batch carries its ``epoch`` and rank-local ``index``. The DataLoader
    takes batch k of this stream from worker k % W; a worker finds which logical stream of each
    epoch that makes it from the batches served before the epoch began (see ``__iter__``), so
    rank batch i of an epoch still comes from logical stream i % W (see lipforge.train.data).
    Its batches carry uint8 pixels and masks (``make_window``); :class:`ShardLoader` hands the
    trainer float32 (``unit_pixels``)."""

    def __init__(self, shards: list[str], counts: list[int], epoch: int, start_index: int, rank: int,
                 world_size: int, num_workers: int, batch_size: int, seed: int, spec: WindowSpec,
                 entries: list[list[tuple[int, int]]] | None = None) -> None:
        self.shards, self.counts, self.epoch, self.start = shards, counts, epoch, start_index
        self.entries = entries  # per shard (offset, size) of its samples: read by seek, not streamed
        self.rank, self.world, self.workers = rank, world_size, max(1, num_workers)
        self.batch_size, self.seed, self.spec = batch_size, seed, spec
        self.plan = self.plan_of(epoch)  # fails here, in the caller, when the shards cannot feed the streams

    def plan_of(self, epoch: int):
        return epoch_plan(self.counts, epoch, self.seed, self.world * self.workers, self.batch_size)

    def _samples(self, plan, epoch: int, stream: int, first: int) -> Iterator[dict]:
        """Raw samples of ``stream`` from emitted position ``first`` to the end of the epoch's share.

        The emission order is precomputed (``shuffle_order``); samples are read in tar order and
        held until their turn, which bounds the held set by the buffer size. Samples emitted before
        ``first`` (or never within this epoch) are skipped by header."""
        shards = plan.streams[stream]
        n = sum(self.counts[s] for s in shards)
        order = shuffle_order(n, self.spec.shuffle_buffer, stream_rng(self.seed, epoch, stream))
        need = order[first:plan.batches_per_stream * self.batch_size]
        if len(need) == 0:
            return
        wanted = set(need.tolist())
        held: dict[int, dict] = {}
        src = self._read(shards, wanted)
        for e in need.tolist():
            while e not in held:
                i, raw = next(src)
                held[i] = raw
            yield held.pop(e)

    def _read(self, shards: list[int], wanted: set[int]) -> Iterator[tuple[int, dict]]:
        """(stream-local index, raw sample) for the wanted indices, in tar order."""
        lo, last = min(wanted), max(wanted)
        offset = 0
        for shard in shards:
            n = self.counts[shard]
            if offset + n > lo and offset <= last:
                if self.entries is not None:  # located samples (shards.parquet or a header scan): seek
                    url = self.shards[shard]
                    for j, ent in enumerate(self.entries[shard]):
                        if j + offset in wanted:
                            yield j + offset, (read_sample_at(url, *ent) if isinstance(ent, tuple)
                                               else {**next(read_refs([ent])), "__url__": url})
                else:
                    for i, raw in iter_tar_indexed(self.shards[shard], keep=lambda j, o=offset: (j + o) in wanted,
                                                   stop_after=last - offset):
                        yield i + offset, raw
            offset += n

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        phys = info.id if info is not None else 0
        w = self.workers
        epoch, start, served = self.epoch, self.start, 0  # served: batches of this stream before `epoch`
        while True:
            plan = self.plan if epoch == self.epoch else self.plan_of(epoch)
            # batch k of the stream comes from worker k % W and is rank batch i = start + (k - served)
            # of this epoch, which logical stream i % W produces: worker `phys` serves logical l
            logical = (phys - served + start) % w
            consumed = max(0, -(-(start - logical) // w))  # its batches before `start`
            yield from self._epoch(plan, epoch, logical, consumed)
            served += plan.batches_per_stream * w - start
            epoch, start = epoch + 1, 0

    def _epoch(self, plan, epoch: int, logical: int, consumed: int) -> Iterator[dict]:
        """Logical stream ``logical``'s batches of ``epoch`` from its ``consumed``-th on."""
        stream = self.rank * self.workers + logical
        todo = plan.batches_per_stream - consumed
        if todo <= 0:
            return
        index = logical + consumed * self.workers  # rank-local index of the next batch
        # A batch is ``batch_size`` consecutive samples of the stream's order; an unreadable one is
        # left out of its batch (which comes out smaller, or empty) and reported in ``batch["bad"]``,
        # so every later batch still holds the samples the plan gives it (exact resume holds).
        batch, bad, slots, sp = [], [], 0, self.spec
        for raw in self._samples(plan, epoch, stream, consumed * self.batch_size):
            try:
                s = decode_sample(raw)
                batch.append(make_window(s, sp.num_frames, sp.resolution, sp.audio_k,
                                         sample_rng(self.seed, epoch, s["__key__"]), sp.mask_field,
                                         sp.min_ref_distance, sp.use_cached_latents, sp.use_cached_audio,
                                         sp.features_per_frame, sp.audio_chunk))
            except Exception as e:  # noqa: BLE001 - any decode failure of one sample is that sample's verdict
                reason = " ".join(f"{type(e).__name__}: {e}".split())[:300]
                bad.append((str(raw.get("__key__")), f"{reason} (shard {raw.get('__url__')})"))
            slots += 1
            if slots == self.batch_size:
                out = collate(batch) if batch else {"keys": []}
                out.update(bad=bad, epoch=epoch, index=index)
                yield out
                batch, bad, slots, todo, index = [], [], 0, todo - 1, index + self.workers
                if todo == 0:
                    return


class ShardLoader:
    """Endless (epoch, index) stream of this rank's batches, resumable from a :class:`DataPosition`."""

    def __init__(self, shards: list[str], rank: int, world_size: int, batch_size: int, num_workers: int,
                 seed: int, spec: WindowSpec, counts: list[int] | None = None,
                 entries: list[list[tuple[int, int]]] | None = None) -> None:
        self.shards = list(shards)
        n_streams = world_size * max(1, num_workers)
        if entries is not None:
            counts = [len(e) for e in entries]
        elif counts is None:
            counts = [_count(s) for s in self.shards]
        if used_fraction(counts, n_streams, batch_size, seed) < 0.95:
            # few shards per stream: deal sample ranges instead of whole shards, so every sample is used
            if entries is None and all(_local(s) for s in self.shards):
                entries = [list(scan_tar(s)) for s in self.shards]  # headers only, as counting did
            if entries is not None:
                self.shards, entries = split_by_ranges(self.shards, entries, n_streams)
                counts = [len(e) for e in entries]
                log.info("%d shards split into %d sample ranges for %d streams", len(shards), len(entries), n_streams)
        self.entries = entries  # None: shards are streamed in tar order
        self.counts = counts
        self.rank, self.world, self.batch_size, self.workers = rank, world_size, batch_size, num_workers
        self.seed, self.spec = seed, spec
        self.position = DataPosition()

    @classmethod
    def from_config(cls, data, rank: int, world_size: int, seed: int, spec: WindowSpec) -> "ShardLoader":
        """The loader a :class:`lipforge.train.config.DataConfig` describes: a shard list (counted by
        header scan), or a corpus whose manifests give the selected samples' locations (no scan)."""
        if data.corpus:
            from lipforge.train.corpus_data import corpus_index

            idx = corpus_index(data.corpus, data.where)
            log.info("corpus %s: %d of %d kept clips selected (where: %s) in %d shards", data.corpus,
                     sum(idx.counts), idx.n_kept, data.where, len(idx.urls))
            return cls(idx.urls, rank, world_size, data.batch_size, data.num_workers, seed, spec, entries=idx.entries)
        return cls(list(data.shards), rank, world_size, data.batch_size, data.num_workers, seed, spec)

    def batches_per_epoch(self, epoch: int = 0) -> int:
        return epoch_plan(self.counts, epoch, self.seed, self.world * max(1, self.workers),
                          self.batch_size).batches_per_stream * max(1, self.workers)

    def __iter__(self) -> Iterator[dict]:
        """Yields batches; ``self.position`` is the position *after* the batch just yielded.

        One DataLoader for the whole iteration: its workers live as long as the iterator."""
        pos = self.position
        ds = ShardStream(self.shards, self.counts, pos.epoch, pos.index, self.rank, self.world, self.workers,
                         self.batch_size, self.seed, self.spec, self.entries)
        # workers hand over uint8 pixels (unit_pixels makes them float32 here, a quarter of the bytes
        # to move); pinned host memory so the trainer's .to(device, non_blocking=True) copies overlap compute
        pin = torch.cuda.is_available()
        dl = DataLoader(ds, batch_size=None, num_workers=self.workers, prefetch_factor=2 if self.workers else None)
        totals: dict[int, int] = {}
        for batch in dl:
            batch = unit_pixels(batch)
            if pin:
                batch = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            e, i = int(batch["epoch"]), int(batch.pop("index")) + 1
            if e not in totals:
                totals[e] = self.batches_per_epoch(e)
            self.position = DataPosition(e, i) if i < totals[e] else DataPosition(e + 1, 0)
            yield batch


def _local(url: str) -> bool:
    return not str(url).startswith(("http://", "https://", "file://"))


def _count(url: str) -> int:
    """Samples of one shard; an unreadable or empty shard is named (a user error)."""
    import tarfile

    from lipforge.errors import UserError

    try:
        n = count_samples(url)
    except (OSError, tarfile.TarError) as e:
        raise UserError(f"shard {url}: cannot be read as a tar ({type(e).__name__}: {e})") from e
    if n == 0:
        raise UserError(f"shard {url}: holds no samples")
    return n


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
