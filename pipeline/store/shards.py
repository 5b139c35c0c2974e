"""Kept clips as shard samples, and incremental shard publishing.

A kept clip becomes one WebDataset sample encoded through ``manifests.encode_sample`` (the one
layout the trainer's loader decodes); the tar container itself (deterministic, atomic writes,
scans and reads) is :mod:`lipforge.manifests.container`, the only tar code of the project.
"""
from __future__ import annotations

import dataclasses
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from lipforge.manifests.container import SampleRef, fsync_dir, read_refs, write_tar
from lipforge.manifests.layout import encode_sample
from lipforge.manifests.schema import MEASUREMENTS, PROVENANCE_COLUMNS, ShardRecord
from lipforge.pipeline.media import SHARD_KEYINT, encode_video, encode_wav
from lipforge.pipeline.stages.base import ClipItem

def shard_name(first_key: str) -> str:
    """A planned shard is known by its first sample's key: plans sort in key order, and a shard
    keeps its place when sources are added elsewhere in the corpus (no renumbering)."""
    return f"shard-{first_key}.tar"


def shard_file_name(first_key: str, sha256: str) -> str:
    """The published file: first key plus the first 12 hex digits of the sha256 of its bytes.
    A shard file is never rewritten in place (other bytes, other name), so every generation's
    offsets stay true while that generation exists (:mod:`lipforge.pipeline.store.generations`)."""
    return f"shard-{first_key}-{sha256[:12]}.tar"


def write_shard(shard_dir: Path, first_key: str, samples) -> tuple[str, list[ShardRecord]]:
    """Write one published shard under its content name; returns the name and its records."""
    tmp = shard_dir / f".{first_key}.{uuid.uuid4().hex[:8]}.tmp"
    dig: list[str] = []
    recs = write_tar(tmp, samples, digest=dig)
    name = shard_file_name(first_key, dig[0])
    os.replace(tmp, shard_dir / name)
    fsync_dir(shard_dir)
    return name, [dataclasses.replace(r, shard=name) for r in recs]


def item_metadata(item: ClipItem, keyint: int = 0) -> dict:
    meta = {
        "clip_id": item.clip_id, "source_id": item.source_id, "parent_id": item.parent_id,
        "fps": item.fps, "sample_rate": item.sample_rate, "n_frames": item.n_frames,
        "start_frame": item.start_frame, "end_frame": item.end_frame,
        "start_s": item.start_frame / item.fps, "end_s": item.end_frame / item.fps,
        "work_scale": item.work_scale, "source_width": item.source_width,
        "source_height": item.source_height, "frames_are_crop": item.frames_are_crop,
        "crop_size": int(item.frames.shape[1]) if item.frames_are_crop and item.frames is not None else None,
    }
    if keyint:
        meta["video_keyint"] = keyint  # the mp4's keyframe interval: what the loader seeks by
    meta["measurements"] = {k: v for k, v in sorted(item.measurements.items())
                            if k in MEASUREMENTS and k not in PROVENANCE_COLUMNS}  # provenance: manifest only
    return meta


def sample_from_item(item: ClipItem, crf: int = 18, keyint: int = SHARD_KEYINT) -> dict[str, bytes | str]:
    """Encode a kept clip as shard members (video, audio, json and its per-frame arrays); a
    keyframe every ``keyint`` frames (0: one GOP), see ``ShardConfig.video_keyint``."""
    if item.frames is None or item.audio is None:
        raise ValueError(f"clip {item.clip_id}: a kept clip must carry frames and audio")
    spf = item.sample_rate // int(item.fps)
    if len(item.frames) != item.n_frames or len(item.audio) != item.n_frames * spf:
        raise ValueError(f"clip {item.clip_id}: {len(item.frames)} frames / {len(item.audio)} samples do not "
                         f"match {item.n_frames} frames x {spf} samples")
    fields = {"mp4": encode_video(item.frames, fps=int(item.fps), crf=crf, keyint=keyint or None),
              "wav": encode_wav(item.audio, item.sample_rate), "json": item_metadata(item, keyint)}
    fields.update(item.arrays)
    return encode_sample(item.clip_id, fields)


class DamagedSamples(RuntimeError):
    """Samples whose bytes, read for a shard, are not those recorded when they were computed
    (bit rot in a work tar or in the shard a released candidate lives in): nothing was
    published from them."""

    def __init__(self, refs: list[SampleRef]) -> None:
        super().__init__(f"{len(refs)} samples do not match the digests recorded when they were computed "
                         f"(e.g. {refs[0].key} in {refs[0].tar})")
        self.refs = refs


class _Damaged(Exception):
    def __init__(self, ref: SampleRef) -> None:
        self.ref = ref


def checked_samples(batch: list[SampleRef], intact) -> Iterator[dict[str, bytes]]:
    """The samples behind ``batch``; raises at the first one ``intact(ref, sample)`` refuses."""
    for ref, sample in zip(batch, read_refs(batch)):
        if intact is not None and not intact(ref, sample):
            raise _Damaged(ref)
        yield sample


BOUNDARIES = ("content", "fill")


@dataclass(frozen=True)
class ShardPlan:
    """Where shards end. ``fill``: a shard is cut when the next sample would break a bound.
    ``content``: a shard is also cut after a sample whose key hashes onto a boundary (at least
    ``max_samples // 8`` samples in; about ``max_samples / 2`` per shard on average; the bounds
    still hold), so a shard boundary depends on the keys around it, not on everything before
    it: adding a source to a published corpus changes the shards where its keys land and
    the next one or two, instead of every shard after its first key."""

    max_samples: int
    max_bytes: int
    boundaries: str = "content"

    def __post_init__(self) -> None:
        if self.boundaries not in BOUNDARIES:
            raise ValueError(f"ShardPlan.boundaries must be one of {BOUNDARIES}, got {self.boundaries!r}")

    @property
    def min_samples(self) -> int:
        return max(1, self.max_samples // 8)

    @property
    def hash_period(self) -> int:
        return max(1, self.max_samples // 2 - self.min_samples)

    def cut_after(self, key: str, n_in_batch: int) -> bool:
        """Content boundary after ``key`` (the ``n_in_batch``-th sample of the current shard)."""
        if self.boundaries != "content" or n_in_batch < self.min_samples:
            return False
        import hashlib

        return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") % self.hash_period == 0


def bounded_batches(items: Iterable, size_of, plan: ShardPlan, key_of=None) -> Iterator[list]:
    """Consecutive runs of ``items`` of at most ``plan.max_samples`` items and ``plan.max_bytes``
    bytes (an item larger than the byte bound gets a shard of its own), also cut at the plan's
    content boundaries (``key_of(item)`` gives the key; default ``item["__key__"]``)."""
    key_of = key_of or (lambda it: it["__key__"])
    batch: list = []
    size = 0
    for it in items:
        n = size_of(it)
        if batch and (len(batch) >= plan.max_samples or size + n > plan.max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(it)
        size += n
        if plan.cut_after(key_of(it), len(batch)):
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class ShardPublisher:
    """Publish packed shards incrementally: a shard whose planned content is unchanged since the
    last publish is not rewritten.

    A shard's content is a pure function of its samples' references: (candidate tar, its size
    and mtime, key, members). Candidate tars are immutable once committed (the store never
    rewrites a committed candidate), so equal references mean equal bytes. The state of the last
    publish (per shard: that digest, plus the size, mtime and inode of the file written) lives in
    ``state_path``; a shard is reused only when the digest matches and its file still has the
    recorded size, mtime and inode (every write renames a new file into place, so a rewrite
    changes the inode even where mtimes are coarse): a file rewritten by an interrupted
    publish, or replaced by hand, is written again. Every sample copied into a shard is checked
    first (``intact``: its bytes against the digest recorded when it was computed); a shard
    holding a damaged sample is not written and :meth:`publish` raises :class:`DamagedSamples`
    naming them all. Shards are named after their first key (:func:`shard_name`), so with
    content boundaries (:class:`ShardPlan`) a shard away from new keys keeps its name and its
    file. Shard files are named by content (:func:`shard_file_name`) and never rewritten in place.
    Crash-safe in any order of interruption: each shard is renamed into place whole, the
    state is saved last (:meth:`commit`), and stale shard files (no longer planned and named by
    no live generation, or ``.tmp`` leftovers) are deleted by :meth:`commit` after the caller
    has switched readers to manifests that no longer name them.

    >>> pub = ShardPublisher(out / "shards", out / "work" / "published_shards.json", plan)  # doctest: +SKIP
    >>> records = pub.publish(refs, old_records); write_manifests(records); pub.commit()   # doctest: +SKIP
    """

    NAMING = "first-key+sha256/2"  # a state saved under another naming rule is ignored

    def __init__(self, shard_dir: Path, state_path: Path, plan: ShardPlan, identity=None, intact=None) -> None:
        self.shard_dir, self.state_path, self.plan = Path(shard_dir), Path(state_path), plan
        # identity(ref) -> str | None: what the sample's bytes are, wherever they sit (the
        # candidate tar's sha256 + key + member sizes); None: its tar's path, size and mtime
        self.identity = identity
        # intact(ref, sample) -> bool: the bytes read are those recorded when the sample was
        # computed; checked as they are copied, so a shard never holds bytes nobody computed
        self.intact = intact
        self.written: list[str] = []
        self.reused: list[str] = []
        self._state: dict[str, dict] = {}
        self._last_stat: tuple[str, tuple[int, int]] = ("", (0, 0))  # (tar, (size, mtime_ns))

    def _load_state(self) -> dict[str, dict]:
        import json

        try:
            body = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        return body.get("shards", {}) if body.get("naming") == self.NAMING else {}

    def _digest(self, batch: list[SampleRef]) -> str:
        import hashlib
        import json

        root = self.shard_dir.parent
        h = hashlib.sha256()
        for r in batch:
            ident = self.identity(r) if self.identity is not None else None
            if ident is not None:
                h.update(json.dumps(["id", ident]).encode())
                continue
            if self._last_stat[0] != r.tar:  # refs arrive grouped by tar: one stat per tar
                st = os.stat(r.tar)
                self._last_stat = (r.tar, (st.st_size, st.st_mtime_ns))
            h.update(json.dumps([os.path.relpath(r.tar, root), *self._last_stat[1], r.key, r.members]).encode())
        return h.hexdigest()

    def publish(self, refs: Iterable[SampleRef], old_records: dict[str, list[ShardRecord]]) -> list[ShardRecord]:
        """Write the shards whose content changed; ``old_records`` (shard file name -> its rows
        in the last published shards manifest) supply the rows of reused shards."""
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        previous = self._load_state()
        self._state, self.written, self.reused = {}, [], []
        self._last_stat = ("", (0, 0))
        records: list[ShardRecord] = []
        damaged: list[SampleRef] = []
        for batch in bounded_batches(refs, lambda r: r.nbytes, self.plan, lambda r: r.key):
            planned = shard_name(batch[0].key)
            digest = self._digest(batch)
            prev = previous.get(planned) or {}
            name = prev.get("file")
            rows = old_records.get(name) if name else None
            path = self.shard_dir / name if name else None
            same = (prev.get("digest") == digest and rows is not None
                    and [r.key for r in rows] == [r.key for r in batch] and path.exists())
            if same:
                st = path.stat()
                same = (st.st_size, st.st_mtime_ns, st.st_ino) == (
                    prev.get("size"), prev.get("mtime_ns"), prev.get("inode"))
            if same:
                recs = rows  # already this shard's records, named as published
                self.reused.append(name)
            else:
                try:
                    name, recs = write_shard(self.shard_dir, batch[0].key, checked_samples(batch, self.intact))
                except _Damaged as e:  # this shard is not written; the others are still checked
                    damaged.append(e.ref)
                    continue
                path = self.shard_dir / name
                self.written.append(name)
            st = path.stat()
            self._state[planned] = {"digest": digest, "file": name, "size": st.st_size,
                                    "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}
            records.extend(recs)
        if damaged:
            raise DamagedSamples(damaged)
        return records

    def commit(self, keep: set[str] = frozenset()) -> list[str]:
        """Delete shard files neither the last :meth:`publish` nor ``keep`` (the files a live
        generation still names) holds, and ``.tmp`` leftovers; then save the state. Returns the
        deleted names. Call after the pointer names the new generation."""
        import json

        live = {v["file"] for v in self._state.values()} | set(keep)
        deleted = []
        for p in sorted(self.shard_dir.iterdir()):
            if p.name not in live and (p.suffix == ".tar" or p.name.endswith(".tmp")):
                p.unlink()
                deleted.append(p.name)
        from lipforge.pipeline.store.atomic import atomic_write_bytes

        body = {"naming": self.NAMING, "shards": self._state}
        atomic_write_bytes(self.state_path, json.dumps(body, sort_keys=True).encode())
        return deleted
