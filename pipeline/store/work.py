"""Durable per-candidate results: what makes a killed run resumable and exactly-once.

Layout under ``<output>/work/``::

    corpus.json                     the catalog: the corpus's sources, their content identity and the
                                    config fingerprints their results come from (lipforge.pipeline.store.catalog)
    sources/<source_id>.json        probe + segmentation record and the list of candidate ids
    sources/<source_id>.done        commit marker: every candidate of the source is durable (their sizes)
    groups/<source_id>/<cand>.tar   kept samples of one candidate (and of the clips split from it)
    groups/<source_id>/<cand>.parquet  manifest rows of all of them: the candidate's commit marker
    groups/<source_id>/<cand>.released.json  instead of the tar once published, with
                                    ``shards.keep_work_samples: false`` (lipforge.pipeline.store.release)
    stats/<run>-*.json              stage stats (one file per run driver, plus per-worker leftovers)
    published_shards.json           what the last publish wrote (per planned shard: content digest,
                                    file name, size, mtime, inode)

Every file is written under a temporary name, fsynced, renamed, and its directory fsynced. The
parquet file of a candidate is renamed last, so a candidate counts as done only when all its
bytes are durable; its footer records the size and sha256 of the candidate's tar. The source's
``.done`` marker is written only after all its candidates are, and records each candidate's
parquet and tar sizes. A rerun skips done sources without decoding them and, for half-done
sources, skips done candidates: a rejected clip is never scored twice.

Self-healing: what a power loss or a full disk can leave (a zero-byte or torn parquet, a tar
shorter than recorded, a ``.done`` whose files changed) is found by cheap checks (footers and
stats, never sample bytes): a damaged candidate is deleted and recomputed
(:meth:`WorkStore.intact_candidates`, :meth:`WorkStore.damaged_candidates`); a full read is
``lipforge curate --verify`` (:mod:`lipforge.pipeline.store.verify`).
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lipforge.manifests.schema import STATUS_DROPPED, ClipRecord, SourceRecord, arrow_schema, clip_columns
from lipforge.manifests.container import fsync_dir, sample_digest, write_tar
from lipforge.pipeline.media import SHARD_KEYINT
from lipforge.pipeline.store.atomic import atomic_write_bytes
from lipforge.pipeline.store.shards import sample_from_item
from lipforge.pipeline.stages.base import ClipItem, StageStats


TAR_SIZE_KEY = b"lipforge.tar_size"  # candidate parquet metadata: bytes of its tar (-1: no tar)
TAR_SHA_KEY = b"lipforge.tar_sha256"
SAMPLES_SHA_KEY = b"lipforge.sample_sha256"  # {clip id: manifests.container.sample_digest} as encoded


def item_record(item: ClipItem) -> ClipRecord:
    return ClipRecord(clip_id=item.clip_id, source_id=item.source_id, parent_id=item.parent_id,
                      start_frame=item.start_frame, end_frame=item.end_frame, fps=item.fps,
                      track=item.track, scene_index=item.scene_index, status=item.status,
                      reason=item.reason, dropped_by=item.dropped_by, measurements=dict(item.measurements))


class WorkStore:
    def __init__(self, output: str | Path) -> None:
        self.root = Path(output)
        self.work = self.root / "work"

    # ---- sources
    def source_json(self, sid: str) -> Path:
        return self.work / "sources" / f"{sid}.json"

    def source_done(self, sid: str) -> bool:
        return (self.work / "sources" / f"{sid}.done").exists()

    def write_source(self, record: SourceRecord, candidate_ids: list[str]) -> None:
        body = {"record": record.to_row(), "candidates": list(candidate_ids)}
        atomic_write_bytes(self.source_json(record.source_id), json.dumps(body, sort_keys=True).encode())

    def read_source(self, sid: str) -> tuple[SourceRecord, list[str]] | None:
        """The stored record and candidate ids; None when absent or unreadable (a torn file is
        as good as none: the source is curated again)."""
        p = self.source_json(sid)
        try:
            body = json.loads(p.read_text())
            return SourceRecord(**body["record"]), list(body["candidates"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            (self.work / "sources" / f"{sid}.done").unlink(missing_ok=True)
            return None

    # ---- parts of a long source (lipforge.pipeline.source.parts)
    def part_json(self, sid: str, index: int, n: int) -> Path:
        return self.work / "parts" / sid / f"{index}-of-{n}.json"

    def write_part(self, sid: str, index: int, n: int, record: SourceRecord, candidate_ids: list[str]) -> None:
        body = {"record": record.to_row(), "candidates": list(candidate_ids)}
        atomic_write_bytes(self.part_json(sid, index, n), json.dumps(body, sort_keys=True).encode())

    def part_done(self, sid: str, index: int, n: int) -> bool:
        return self.part_json(sid, index, n).exists()

    def merge_parts(self, sid: str) -> bool:
        """Write the source record from its parts' records once all of them are stored (then the
        parts' files go); False while a part is missing or unreadable."""
        import shutil

        from lipforge.pipeline.source.parts import merge_parts

        d = self.work / "parts" / sid
        names = sorted(p.name for p in d.glob("*-of-*.json")) if d.is_dir() else []
        if not names:
            return False
        n = int(names[0].split("-of-")[1][:-5])
        parts = []
        for k in range(n):
            try:
                body = json.loads(self.part_json(sid, k, n).read_text())
                parts.append((SourceRecord(**body["record"]), list(body["candidates"])))
            except (OSError, ValueError, KeyError, TypeError):
                return False
        record, cands = merge_parts(parts)
        self.write_source(record, cands)
        shutil.rmtree(d, ignore_errors=True)
        return True

    def try_complete_source(self, sid: str) -> bool:
        """Write the source's commit marker when every candidate is durable (a marker already
        there stands: a run checks it against the files first, see :meth:`damaged_candidates`).
        A source curated in parts gets its record from them first (:meth:`merge_parts`)."""
        if self.source_done(sid):
            return True
        self.merge_parts(sid)  # a source curated in parts: their records become its record
        got = self.read_source(sid)
        if got is None:
            return False
        _, cands = got
        done = self.done_candidates(sid)
        if not all(c in done for c in cands):
            return False
        sizes = {c: self._sizes(c, sid) for c in cands}
        atomic_write_bytes(self.work / "sources" / f"{sid}.done", json.dumps(sizes, sort_keys=True).encode())
        return True

    # ---- candidates
    def group_dir(self, sid: str) -> Path:
        return self.work / "groups" / sid

    def done_candidates(self, sid: str) -> frozenset[str]:
        """Committed candidates of ``sid`` that are intact; damaged ones are deleted (recomputed)."""
        return self.intact_candidates(sid, repair=True)

    def write_group(self, candidate_id: str, source_id: str, items: list[ClipItem], crf: int,
                    keyint: int = SHARD_KEYINT) -> None:
        """Persist a candidate and every clip split from it: samples first, rows (commit) last."""
        d = self.group_dir(source_id)
        d.mkdir(parents=True, exist_ok=True)
        items = sorted(items, key=lambda it: it.clip_id)
        samples = []
        for it in items:
            if it.kept:
                try:
                    samples.append(sample_from_item(it, crf, keyint))
                except Exception:  # an encoder failure is a per-clip verdict, not a crashed run
                    it.drop("encode_error", by="writer")
        tar_size, tar_sha = -1, ""
        digests = {s["__key__"]: sample_digest(s) for s in samples}  # of the bytes as computed, before any write
        if samples:
            dig: list[str] = []
            write_tar(d / f"{candidate_id}.tar", samples, digest=dig)
            tar_size, tar_sha = (d / f"{candidate_id}.tar").stat().st_size, dig[0]
        rows = [item_record(it).to_row() for it in items]
        table = pa.Table.from_pylist(rows, schema=arrow_schema(clip_columns()))
        table = table.replace_schema_metadata({TAR_SIZE_KEY: str(tar_size).encode(), TAR_SHA_KEY: tar_sha.encode(),
                                               SAMPLES_SHA_KEY: json.dumps(digests, sort_keys=True).encode()})
        tmp = d / f"{candidate_id}.parquet.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(d / f"{candidate_id}.parquet")
        fsync_dir(d)

    # ---- integrity (cheap: parquet footers and stats, never sample bytes)
    def _sizes(self, cid: str, sid: str) -> list[int]:
        from lipforge.pipeline.store.release import read_marker

        p = self.group_dir(sid) / f"{cid}.parquet"
        tar = p.with_suffix(".tar")
        if tar.exists():
            return [p.stat().st_size, tar.stat().st_size]
        m = read_marker(p)  # released to the shards (lipforge.pipeline.store.release)
        return [p.stat().st_size, int(m["tar_size"]) if m else -1]

    @staticmethod
    def recorded_tar(parquet: Path) -> tuple[int, str] | None:
        """(size, sha256) of the tar recorded in a candidate parquet's footer (size -1: no tar;
        None: not recorded, a candidate from before); raises when the footer does not read."""
        meta = pq.read_schema(parquet).metadata or {}
        if TAR_SIZE_KEY not in meta:
            return None
        return int(meta[TAR_SIZE_KEY]), meta.get(TAR_SHA_KEY, b"").decode()

    @staticmethod
    def recorded_samples(parquet: Path) -> dict[str, str] | None:
        """Per kept sample, the digest of its bytes as they were encoded
        (:func:`~lipforge.manifests.container.sample_digest`); None: not recorded (a candidate
        from before). Raises when the footer does not read."""
        meta = pq.read_schema(parquet).metadata or {}
        return json.loads(meta[SAMPLES_SHA_KEY]) if SAMPLES_SHA_KEY in meta else None

    def candidate_intact(self, parquet: Path) -> bool:
        try:
            want = self.recorded_tar(parquet)
        except Exception:  # noqa: BLE001 - a zero-byte or torn file is damage, whatever pyarrow raises
            return False
        if want is None or want[0] < 0:
            return True
        try:
            return parquet.with_suffix(".tar").stat().st_size == want[0]
        except OSError:
            from lipforge.pipeline.store.release import read_marker

            m = read_marker(parquet)  # released: its bytes are in the shards
            return m is not None and (m.get("tar_size"), m.get("tar_sha")) == tuple(want)

    def intact_candidates(self, sid: str, repair: bool = True) -> frozenset[str]:
        """Committed candidates of ``sid`` whose parquet footer reads and whose tar has the
        recorded size; with ``repair`` the damaged ones are deleted (and so recomputed)."""
        d = self.group_dir(sid)
        if not d.exists():
            return frozenset()
        ok = set()
        for p in sorted(d.glob("*.parquet")):
            cid = p.name[: -len(".parquet")]
            if self.candidate_intact(p):
                ok.add(cid)
            elif repair:
                self.reopen_candidates(sid, [cid])
        return frozenset(ok)

    def damaged_candidates(self, sid: str, cands: list[str]) -> list[str]:
        """For a completed source: candidates whose files do not have the sizes its ``.done``
        marker recorded (two stats per candidate; [] for a source that is not complete)."""
        marker = self.work / "sources" / f"{sid}.done"
        try:
            body = json.loads(marker.read_text() or "null")
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            body = None
        if not isinstance(body, dict):  # a marker from before sizes were recorded: read footers
            ok = self.intact_candidates(sid, repair=False)
            return [c for c in cands if c not in ok]
        bad = []
        for c in cands:
            try:
                got = self._sizes(c, sid)
            except OSError:
                got = None
            if got is None or body.get(c) != got:
                bad.append(c)
        return bad

    def candidate_rows(self, sid: str, cid: str, columns: tuple[str, ...] | None = ("status", "dropped_by")) -> list[dict]:
        return pq.read_table(self.group_dir(sid) / f"{cid}.parquet", columns=list(columns) if columns else None).to_pylist()

    def rewrite_candidate(self, sid: str, cid: str, rows: list[dict]) -> None:
        """Replace a committed candidate's rows (re-judged verdicts; its tar stays as it is). The
        source's marker goes first and is written again by :meth:`try_complete_source`."""
        p = self.group_dir(sid) / f"{cid}.parquet"
        meta = pq.read_schema(p).metadata
        (self.work / "sources" / f"{sid}.done").unlink(missing_ok=True)
        table = pa.Table.from_pylist(rows, schema=arrow_schema(clip_columns())).replace_schema_metadata(meta)
        tmp = p.with_name(f"{p.name}.{uuid.uuid4().hex[:8]}.tmp")
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(p)
        fsync_dir(p.parent)

    # ---- invalidation (the source's commit marker goes first: a kill half way stays resumable)
    def reopen_candidates(self, sid: str, cids: list[str]) -> None:
        """Forget candidates (commit file first, then the tar): the next run recomputes them."""
        (self.work / "sources" / f"{sid}.done").unlink(missing_ok=True)
        from lipforge.pipeline.store.release import SUFFIX

        for c in cids:
            (self.group_dir(sid) / f"{c}.parquet").unlink(missing_ok=True)
            (self.group_dir(sid) / f"{c}.tar").unlink(missing_ok=True)
            (self.group_dir(sid) / f"{c}{SUFFIX}").unlink(missing_ok=True)

    def reopen_source(self, sid: str) -> None:
        """Forget everything stored for ``sid``: it is curated from scratch when next run."""
        import shutil

        if len(f"{sid}.done".encode()) > 255:  # no file can have such a name: nothing stored (an unbounded id)
            return
        (self.work / "sources" / f"{sid}.done").unlink(missing_ok=True)
        shutil.rmtree(self.group_dir(sid), ignore_errors=True)
        shutil.rmtree(self.work / "parts" / sid, ignore_errors=True)
        self.source_json(sid).unlink(missing_ok=True)
        thumbs = self.work / "thumbs"  # a JPEG per candidate that earlier versions wrote (never read)
        if thumbs.exists():
            for p in thumbs.glob(f"{sid}-*.jpg"):
                p.unlink()

    def forget_published_shard(self, name: str | None) -> None:
        """Make the next publish write shard file ``name`` again (every shard when None)."""
        p = self.work / "published_shards.json"
        try:
            body = json.loads(p.read_text())
        except (OSError, ValueError):
            return
        shards = body.get("shards", {})
        body["shards"] = {} if name is None else {k: v for k, v in shards.items() if v.get("file") != name}
        atomic_write_bytes(p, json.dumps(body, sort_keys=True).encode())

    def write_stats(self, stats: list[StageStats], run_id: str, name: str | None = None) -> None:
        """Persist stage stats; ``name`` overwrites one file (a driver refreshing its totals)."""
        body = [s.as_dict() for s in stats if s.items_in or s.seconds]
        if body:
            name = name or f"{run_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
            atomic_write_bytes(self.work / "stats" / name, json.dumps(body).encode())

    def stats_files(self) -> frozenset[str]:
        d = self.work / "stats"
        return frozenset(p.name for p in d.glob("*.json")) if d.exists() else frozenset()

    def read_stats(self, skip: frozenset[str] = frozenset()) -> dict[str, StageStats]:
        """Stage stats summed over the stats files, but those named in ``skip`` (earlier runs')."""
        out: dict[str, StageStats] = {}
        d = self.work / "stats"
        if d.exists():
            for p in sorted(d.glob("*.json")):
                if p.name in skip:
                    continue
                for row in json.loads(p.read_text()):
                    s = StageStats.from_dict(row)
                    out[s.name] = out[s.name] + s if s.name in out else s
        return out


def dropped_source(record: SourceRecord, reason: str) -> SourceRecord:
    record.status, record.reason = STATUS_DROPPED, reason
    return record


def json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o).__name__)
