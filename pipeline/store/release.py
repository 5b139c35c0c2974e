"""Not keeping a second copy of published clip bytes (``shards.keep_work_samples: false``).

By default every kept clip's encoded bytes sit twice on disk: in its candidate's tar under
``work/groups/`` (what a rerun republishes from) and in a published shard. With
``keep_work_samples: false`` a publish *releases* each candidate whose kept samples all sit in
the new generation's shards: ``<cand>.released.json`` records the candidate tar's size and
sha256 and, per sample, the shard file and member offsets holding its bytes; then the tar is
deleted. Nothing else changes:

* exactly-once: a released candidate is committed (its parquet is the commit marker, the
  release record stands in for its tar in every integrity check), so reruns never recompute it;
* republishing: its samples are read from the shards (:func:`candidate_refs`); shard files
  are immutable and named by content, and after every publish the records are moved to where
  the samples now sit, before the previous generation's files are deleted;
* re-judging reads the parquet rows only, so it works the same.

What it costs: the published shard is then the only copy of a released clip's bytes;
``--verify`` checks them and ``--repair`` recomputes a released candidate from its source
when a shard holding it is damaged.
"""
from __future__ import annotations

import json
from pathlib import Path

from lipforge.manifests.container import SampleRef, scan_tar

SUFFIX = ".released.json"


def marker_path(parquet: Path) -> Path:
    return parquet.with_name(parquet.name[: -len(".parquet")] + SUFFIX)


def read_marker(parquet: Path) -> dict | None:
    try:
        return json.loads(marker_path(parquet).read_text())
    except (OSError, ValueError):
        return None


def candidate_refs(store, parquet: Path) -> tuple[list[SampleRef], str | None]:
    """Where a committed candidate's samples are (its tar, or the shards it was released to),
    and the sha256 of its tar (None when not recorded)."""
    tar = parquet.with_suffix(".tar")
    rec = store.recorded_tar(parquet)
    sha = rec[1] if rec and rec[1] else None
    if tar.exists():
        return list(scan_tar(tar)), sha
    m = read_marker(parquet)
    if m is None:
        return [], sha
    return [SampleRef(str(store.root / s["shard"]), key, tuple(tuple(x) for x in s["members"]))
            for key, s in sorted(m["samples"].items())], m.get("tar_sha") or sha


def _write(store, parquet: Path, body: dict) -> None:
    from lipforge.pipeline.store.atomic import atomic_write_bytes

    atomic_write_bytes(marker_path(parquet), json.dumps(body, sort_keys=True).encode())


def release_published(store, parquets: list[Path], shard_files: list[Path], keep_work_samples: bool) -> int:
    """After a publish: move existing release records to where their samples sit now and, when
    ``keep_work_samples`` is off, release the candidates whose kept samples are all published.
    Returns the number of candidates released now."""
    import pyarrow.parquet as pq

    located: dict[str, SampleRef] | None = None
    root = store.root
    released = 0
    for p in parquets:
        tar = p.with_suffix(".tar")
        old = read_marker(p)
        if old is None and (keep_work_samples or not tar.exists()):
            continue  # nothing released here and nothing to release: no read at all
        if located is None:  # where every published sample sits (shard headers only), once
            located = {ref.key: ref for f in shard_files for ref in scan_tar(f)}
        kept = [r["clip_id"] for r in pq.read_table(p, columns=["clip_id", "status"]).to_pylist()
                if r["status"] == "kept"]
        if any(k not in located for k in kept):
            continue  # not all published (cannot happen after a full publish): keep as it is
        samples = {k: {"shard": str(Path(located[k].tar).relative_to(root)),
                       "members": [list(m) for m in located[k].members]} for k in kept}
        if old is not None:
            if old["samples"] != samples:
                _write(store, p, {**old, "samples": samples})
        elif kept:
            rec = store.recorded_tar(p)
            if rec is None:
                continue  # a candidate from before sizes were recorded: keep its tar
            _write(store, p, {"tar_size": rec[0], "tar_sha": rec[1], "samples": samples})
            tar.unlink()
            released += 1
    return released


def released_into(store, sids: list[str], shard_name: str) -> list[tuple[str, str]]:
    """(source id, candidate id) of released candidates with a sample in shard file
    ``shard_name``: the shard is their only copy, so repairing it means recomputing them."""
    hits = []
    for sid in sids:
        d = store.group_dir(sid)
        for m in sorted(d.glob(f"*{SUFFIX}")) if d.exists() else []:
            body = read_marker(d / (m.name[: -len(SUFFIX)] + ".parquet"))
            if body and any(s["shard"].rpartition("/")[2] == shard_name for s in body["samples"].values()):
                hits.append((sid, m.name[: -len(SUFFIX)]))
    return hits
