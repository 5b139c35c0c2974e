"""``lipforge curate --verify``: read everything a corpus relies on and report damage.

Checks, reading every byte (a normal run only checks sizes, see :mod:`lipforge.pipeline.run.plan`):

* work store: each corpus source has its record; each committed candidate's parquet reads,
  its tar has the size its parquet recorded and holds a sample for every kept clip;
* published generation: the pointer resolves, the manifests read, every shard file named
  exists and its bytes hash to the digest in its name, every ``shards.parquet`` offset points
  at that sample's first member, every sample holds the bytes recorded when it was computed
  (:func:`recorded_digests`: a shard written from damaged bytes hashes to its own name), and
  the kept clips are exactly the shard samples.

``--repair`` drops the damaged work files (those candidates and sources are recomputed by the
run that follows, from the recorded input paths) and forgets damaged shard files (written
again by that run's publish, from bytes checked against their recorded digests).
"""
from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from lipforge.manifests.corpus import current_generation
from lipforge.pipeline.store.release import marker_path, read_marker


@dataclass(frozen=True)
class Problem:
    path: str
    what: str
    source_id: str | None = None  # work-store damage: the source (and candidate) to recompute
    candidate: str | None = None
    shard: str | None = None  # published damage: the shard file to write again

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


def verify_work(store, catalog) -> list[Problem]:
    from lipforge.manifests.container import scan_tar

    out: list[Problem] = []
    for sid in sorted(catalog.entries):
        try:
            got = store.read_source(sid)
        except (OSError, ValueError, KeyError, TypeError) as e:
            out.append(Problem(str(store.source_json(sid)), f"unreadable source record ({e})", sid))
            continue
        if got is None or not store.source_done(sid):
            continue  # not finished: the next run finishes it
        for cid in got[1]:
            p = store.group_dir(sid) / f"{cid}.parquet"
            try:
                t = pq.read_table(p)
            except Exception as e:  # noqa: BLE001 - any read failure is damage to report
                out.append(Problem(str(p), f"unreadable candidate parquet ({type(e).__name__})", sid, cid))
                continue
            kept = {r["clip_id"] for r in t.select(["clip_id", "status"]).to_pylist() if r["status"] == "kept"}
            want = store.recorded_tar(p)  # (size, sha256) or None for a candidate from before
            tar = p.with_suffix(".tar")
            if not kept:
                continue
            marker = read_marker(p)
            if marker is not None and not tar.exists():  # released: its samples live in the shards
                bad = _released_damage(store, marker, kept)
                if bad:
                    out.append(Problem(str(marker_path(p)), bad, sid, cid))
                continue
            try:
                data = tar.read_bytes()
                if want is not None and (len(data), hashlib.sha256(data).hexdigest()) != want:
                    raise ValueError(f"{len(data)} bytes that do not hash to the recorded sha256")
                keys = {r.key for r in scan_tar(tar)}
            except (OSError, tarfile.TarError, ValueError) as e:
                out.append(Problem(str(tar), f"damaged candidate tar ({e})", sid, cid))
                continue
            if not kept <= keys:
                out.append(Problem(str(tar), f"{len(kept - keys)} kept clips have no sample", sid, cid))
    return out


def _released_damage(store, marker: dict, kept: set[str]) -> str | None:
    """What is wrong with a release record (None: every kept sample is where it says)."""
    if set(marker["samples"]) != kept:
        return "release record does not list the candidate's kept clips"
    for key, s in sorted(marker["samples"].items()):
        path = store.root / s["shard"]
        try:
            with open(path, "rb") as f:
                for ext, off, size in s["members"]:
                    f.seek(off - 512)
                    name = f.read(100).split(b"\0", 1)[0].decode("utf-8", "replace")
                    if name != f"{key}.{ext}" or off + size > path.stat().st_size:
                        return f"{key}.{ext} is not at its recorded place in {s['shard']}"
        except OSError as e:
            return f"{s['shard']} holding released clip {key}: {e.strerror}"
    return None


def recorded_digests(store, catalog) -> dict[str, str]:
    """Per sample key, the digest of its bytes recorded when it was computed
    (``WorkStore.recorded_samples``; for a candidate from before, taken from its tar when the tar
    still hashes to its recorded sha256). What every shard sample must match."""
    from lipforge.manifests.container import read_tar_samples, sample_digest

    out: dict[str, str] = {}
    for sid in sorted(catalog.entries):
        d = store.group_dir(sid)
        for p in sorted(d.glob("*.parquet")) if d.is_dir() else []:
            try:
                got = store.recorded_samples(p)
                if got is None:
                    want, tar = store.recorded_tar(p), p.with_suffix(".tar")
                    if want and want[1] and tar.is_file() and hashlib.sha256(tar.read_bytes()).hexdigest() == want[1]:
                        got = {s["__key__"]: sample_digest(s) for s in read_tar_samples(tar)}
            except Exception:  # noqa: BLE001 - a damaged candidate is verify_work's finding
                continue
            out.update(got or {})
    return out


def verify_published(out_dir: Path, digests: dict[str, str] | None = None) -> list[Problem]:
    """The published generation; ``digests`` (:func:`recorded_digests`): each shard sample must
    also hold the bytes computed for it, not only bytes that hash to the shard's name."""
    from lipforge.manifests.container import parse_sample, sample_digest

    out_dir = Path(out_dir)
    digests = digests or {}
    gen = current_generation(out_dir)
    if gen is None:
        return [Problem(str(out_dir / "manifests"), "nothing published yet")]
    try:
        clips = pq.read_table(gen / "clips.parquet", columns=["clip_id", "status", "shard"]).to_pylist()
        rows = pq.read_table(gen / "shards.parquet", columns=["shard", "key", "offset", "size"]).to_pylist()
        pq.read_table(gen / "sources.parquet", columns=["source_id"])
    except Exception as e:  # noqa: BLE001
        return [Problem(str(gen), f"unreadable manifests ({type(e).__name__}: {e})")]
    problems: list[Problem] = []
    kept = {c["clip_id"]: c["shard"] for c in clips if c["status"] == "kept"}
    keys = {r["key"]: r["shard"] for r in rows}
    if set(kept) != set(keys):
        problems.append(Problem(str(gen), f"{len(set(kept) ^ set(keys))} clip ids differ between clips and shards manifests"))
    by_shard: dict[str, list[dict]] = {}
    for r in rows:
        by_shard.setdefault(r["shard"], []).append(r)
    for rel, rs in sorted(by_shard.items()):
        p = out_dir / rel
        name = p.name
        try:
            data = p.read_bytes()
        except OSError as e:
            problems.append(Problem(str(p), f"missing shard ({e.strerror})", shard=name))
            continue
        stem = name[: -len(".tar")]
        digest = stem.rpartition("-")[2]
        if len(digest) == 12 and hashlib.sha256(data).hexdigest()[:12] != digest:
            problems.append(Problem(str(p), "shard bytes do not match the digest in its name", shard=name))
            continue
        for r in rs:
            head = data[r["offset"]: r["offset"] + 100].split(b"\0", 1)[0].decode("utf-8", "replace")
            if not head.startswith(r["key"] + ".") or r["offset"] + r["size"] > len(data):
                problems.append(Problem(str(p), f"offset of {r['key']} does not point at its sample", shard=name))
                break
            want = digests.get(r["key"])
            if want is not None:
                try:
                    got = sample_digest(parse_sample(data[r["offset"]: r["offset"] + r["size"]], p, r["offset"]))
                except (tarfile.TarError, ValueError):
                    got = None
                if got != want:
                    problems.append(Problem(str(p), f"sample {r['key']} does not hold the bytes computed for it",
                                            shard=name))
                    break
    return problems
