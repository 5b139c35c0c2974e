"""The shard container: one home for writing, scanning and reading the tars of a corpus.

A shard is a plain POSIX (ustar) tar whose members are ``{key}.{ext}``; a sample is the run of
consecutive members with one key, written in the order of :data:`SAMPLE_LAYOUT` (so its json,
video and arrays always come in the same order). Tars are written byte-deterministically (mtime
0, no owner, fixed member order) and atomically (temp name, fsync, rename), so a resumed run
produces the same bytes as an uninterrupted one. The field layout itself (extensions, dtypes,
shapes) is :mod:`lipforge.manifests.layout`; this module only moves bytes. Curation writes and
scans with it, the trainer streams from it, inference reads it: nobody else opens a shard tar.

Three ways to read, for three access patterns:

* :func:`iter_tar_indexed` / :func:`iter_tar_samples` / :func:`read_tar_samples`: stream in
  tar order (local paths or URLs), skipping payloads that are not wanted;
* :func:`scan_tar`: headers only -> :class:`SampleRef` (where each member's bytes are);
* :func:`read_refs`: the bytes behind refs, by seek.

>>> import tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "a.tar")
>>> [r.key for r in write_tar(p, [{"__key__": "k1", "json": b"{}"}])]
['k1']
>>> [s["__key__"] for s in read_tar_samples(p)]
['k1']
"""
from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lipforge.manifests.layout import SAMPLE_LAYOUT
from lipforge.manifests.schema import ShardRecord

_EXT_ORDER = {ext: i for i, ext in enumerate(SAMPLE_LAYOUT)}


def split_member(name: str) -> tuple[str, str]:
    """``"dir/key.ext.more"`` -> ``("key", "ext.more")``: the key ends at the first dot."""
    key, _, ext = name.rpartition("/")[2].partition(".")
    return key, ext


def member_order(ext: str) -> tuple:
    """Sort key of a member extension inside a sample (layout order, unknown ones last)."""
    return _EXT_ORDER.get(ext, len(_EXT_ORDER)), ext


def sample_nbytes(sample: dict[str, bytes]) -> int:
    """Bytes a sample occupies in a tar: its members plus one 512-byte header each."""
    return sum(len(v) + 512 for k, v in sample.items() if not k.startswith("__"))


def sample_digest(sample: dict[str, bytes]) -> str:
    """sha256 of a sample's members (extension, size and bytes of each, in layout order): what
    the sample is wherever it sits, a candidate tar or a shard. Recorded when the sample is
    encoded, checked whenever its bytes are copied or verified."""
    import hashlib

    h = hashlib.sha256()
    for ext in sorted((e for e in sample if not e.startswith("__")), key=member_order):
        data = sample[ext]
        h.update(f"{ext}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def fsync_dir(path: str | Path) -> None:
    """Make the entries of directory ``path`` durable (a rename or a new file in it survives a
    power loss only once its directory is fsynced). Best effort where directories cannot be
    opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _HashingWriter:
    """Write-through file wrapper that hashes the bytes (tarfile needs ``write`` and ``tell``)."""

    def __init__(self, fh) -> None:
        import hashlib

        self.fh, self.sha, self.pos = fh, hashlib.sha256(), 0

    def write(self, b) -> int:
        self.sha.update(b)
        self.pos += len(b)
        return self.fh.write(b)

    def tell(self) -> int:
        return self.pos


def write_tar(path: str | Path, samples: Iterable[dict[str, bytes | str]],
              digest: list[str] | None = None) -> list[ShardRecord]:
    """Write samples to ``path`` atomically (temp name, fsync, rename, directory fsync); returns
    member offsets. ``digest``, when given, receives the sha256 hex of the bytes written."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        records, fh = _write_tar(tmp, samples, path.name)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a sample that failed (e.g. bytes that do not match their digest)
        raise
    tmp.replace(path)
    fsync_dir(path.parent)
    if digest is not None:
        digest.append(fh.sha.hexdigest())
    return records


def _write_tar(tmp: Path, samples, name: str):
    records = []
    with open(tmp, "wb") as raw:
        fh = _HashingWriter(raw)
        with tarfile.open(fileobj=fh, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for sample in samples:
                key = sample["__key__"]
                start = fh.tell()
                for ext in sorted((e for e in sample if not e.startswith("__")), key=member_order):
                    data = sample[ext]
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size, info.mtime, info.mode = len(data), 0, 0o644
                    info.uname = info.gname = ""
                    tar.addfile(info, io.BytesIO(data))
                n_frames = int(json.loads(sample["json"]).get("n_frames", 0)) if "json" in sample else 0
                records.append(ShardRecord(shard=name, key=key, offset=start, size=fh.tell() - start,
                                           n_frames=n_frames))
        raw.flush()
        os.fsync(raw.fileno())
    return records, fh


def _open(url: str):
    if url.startswith(("http://", "https://", "file://")):
        import urllib.request

        return urllib.request.urlopen(url)
    return open(url, "rb")


def iter_tar_indexed(url: str | Path, keep: Callable[[int], bool] | None = None,
                     stop_after: int | None = None) -> Iterator[tuple[int, dict[str, bytes]]]:
    """``(index, raw sample)`` for the samples of a tar (members grouped by key, in tar order)
    with ``keep(index)`` true; the payloads of the others are never read. Reading stops after
    sample ``stop_after``. Each sample carries ``__key__`` and ``__url__``."""
    url = str(url)
    with _open(url) as f, tarfile.open(fileobj=f, mode="r|*") as tar:
        cur_key, cur, idx = None, {}, -1
        for m in tar:
            if not m.isfile():
                continue
            key, ext = split_member(m.name)
            if key != cur_key:
                if cur_key is not None and (keep is None or keep(idx)):
                    yield idx, cur
                idx += 1
                if stop_after is not None and idx > stop_after:
                    return
                cur_key, cur = key, {"__key__": key, "__url__": url}
            if keep is None or keep(idx):
                cur[ext] = tar.extractfile(m).read()
        if cur_key is not None and (keep is None or keep(idx)):
            yield idx, cur


def iter_tar_samples(url: str | Path, skip: int = 0) -> Iterator[dict[str, bytes]]:
    """Raw samples in tar order; the first ``skip`` are passed over without reading their payloads."""
    for _, raw in iter_tar_indexed(url, keep=lambda i: i >= skip):
        yield raw


def read_tar_samples(path: str | Path) -> Iterator[dict[str, bytes]]:
    """Every sample of a tar, in file order, as ``{"__key__": key, ext: bytes, ...}``."""
    for raw in iter_tar_samples(path):
        raw.pop("__url__", None)
        yield raw


def count_samples(url: str | Path) -> int:
    """Samples in one shard (reads headers only for local files)."""
    n, last = 0, None
    with _open(str(url)) as f, tarfile.open(fileobj=f, mode="r|*") as tar:
        for m in tar:
            key = split_member(m.name)[0]
            if m.isfile() and key != last:
                n, last = n + 1, key
    return n


@dataclass(frozen=True)
class SampleRef:
    """Where one sample's members sit inside a tar (no bytes read)."""

    tar: str
    key: str
    members: tuple[tuple[str, int, int], ...]  # (extension, data offset, size)

    @property
    def nbytes(self) -> int:
        return sum(size + 512 for _, _, size in self.members)  # as sample_nbytes counts


def scan_tar(path: str | Path) -> Iterator[SampleRef]:
    """Sample references of a tar, from its headers only (tarfile seeks over the data)."""
    with tarfile.open(path, "r") as tar:
        key, members = None, []
        for m in tar:
            if not m.isfile():
                continue
            k, ext = split_member(m.name)
            if key is not None and k != key:
                yield SampleRef(str(path), key, tuple(members))
                members = []
            key = k
            members.append((ext, m.offset_data, m.size))
        if key is not None:
            yield SampleRef(str(path), key, tuple(members))


def read_refs(refs: Iterable[SampleRef]) -> Iterator[dict[str, bytes]]:
    """The samples behind ``refs``, member bytes read at their offsets (one open file at a time)."""
    fh, current = None, None
    try:
        for r in refs:
            if r.tar != current:
                if fh is not None:
                    fh.close()
                fh, current = open(r.tar, "rb"), r.tar
            sample: dict[str, bytes] = {"__key__": r.key}
            for ext, off, size in r.members:
                fh.seek(off)
                sample[ext] = fh.read(size)
            yield sample
    finally:
        if fh is not None:
            fh.close()


# ---- one sample by its manifest location (shards.parquet offset + size) -----------------------


def read_sample_at(url: str | Path, offset: int, size: int) -> dict[str, bytes | str]:
    """The raw sample (``{ext: bytes}`` plus ``__key__`` / ``__url__``) whose tar members start at
    byte ``offset`` and span ``size`` bytes: one seek and one read, the rest of the shard untouched."""
    with open(url, "rb") as f:
        f.seek(offset)
        buf = f.read(size)
    if len(buf) != size:
        raise ValueError(f"shard {url}: sample at offset {offset} is truncated ({len(buf)} of {size} bytes)")
    return parse_sample(buf, url, offset)


def parse_sample(buf: bytes, url: str | Path = "", offset: int = 0) -> dict[str, bytes | str]:
    """The raw sample held by ``buf``, the tar members of one sample (``url`` and ``offset``
    only name it in errors)."""
    out: dict[str, bytes | str] = {"__url__": str(url)}
    with tarfile.open(fileobj=io.BytesIO(buf), mode="r:") as tar:
        for m in tar:
            if not m.isfile():
                continue
            key, ext = split_member(m.name)
            if out.setdefault("__key__", key) != key:
                raise ValueError(f"shard {url}: offset {offset} spans two samples ({out['__key__']}, {key})")
            out[ext] = tar.extractfile(m).read()
    if "__key__" not in out:
        raise ValueError(f"shard {url}: no sample at offset {offset}")
    return out
