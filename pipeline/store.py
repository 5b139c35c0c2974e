"""Durable per-candidate results: what makes a killed run resumable and exactly-once.

Layout under ``<output>/work/``::

    sources/<source_id>.json        probe + segmentation record and the list of candidate ids
    sources/<source_id>.done        commit marker: every candidate of the source is durable
    groups/<source_id>/<cand>.tar   kept samples of one candidate (and of the clips split from it)
    groups/<source_id>/<cand>.parquet  manifest rows of all of them: the candidate's commit marker
    thumbs/<clip_id>.jpg            small thumbnails for the report
    stats/<run>-*.json              stage stats (one file per run driver, plus per-worker leftovers)
    published_shards.json           what the last publish wrote (per shard: content digest, size, mtime, inode)

Every file is written under a temporary name and renamed. The parquet file of a candidate is
renamed last, so a candidate counts as done only when all its bytes are durable; the source's
``.done`` marker is written only after all its candidates are. A rerun skips done sources
without decoding them and, for half-done sources, skips done candidates: a rejected clip is
never scored twice.
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
from lipforge.manifests.container import write_tar
from lipforge.pipeline.shards import sample_from_item
from lipforge.pipeline.stage import ClipItem, StageStats


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


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
        p = self.source_json(sid)
        if not p.exists():
            return None
        body = json.loads(p.read_text())
        return SourceRecord(**body["record"]), body["candidates"]

    def try_complete_source(self, sid: str) -> bool:
        """Write the source's commit marker when every candidate is durable."""
        got = self.read_source(sid)
        if got is None:
            return False
        _, cands = got
        done = self.done_candidates(sid)
        if not all(c in done for c in cands):
            return False
        atomic_write_bytes(self.work / "sources" / f"{sid}.done", b"")
        return True

    # ---- candidates
    def group_dir(self, sid: str) -> Path:
        return self.work / "groups" / sid

    def done_candidates(self, sid: str) -> frozenset[str]:
        d = self.group_dir(sid)
        if not d.exists():
            return frozenset()
        return frozenset(p.name[: -len(".parquet")] for p in d.iterdir() if p.name.endswith(".parquet"))

    def write_group(self, candidate_id: str, source_id: str, items: list[ClipItem], crf: int) -> None:
        """Persist a candidate and every clip split from it: samples first, rows (commit) last."""
        d = self.group_dir(source_id)
        d.mkdir(parents=True, exist_ok=True)
        items = sorted(items, key=lambda it: it.clip_id)
        samples = []
        for it in items:
            if it.kept:
                try:
                    samples.append(sample_from_item(it, crf))
                except Exception:  # an encoder failure is a per-clip verdict, not a crashed run
                    it.drop("encode_error", by="writer")
        if samples:
            write_tar(d / f"{candidate_id}.tar", samples)
        for it in items:
            if it.thumbnail:
                atomic_write_bytes(self.work / "thumbs" / f"{it.clip_id}.jpg", it.thumbnail)
        rows = [item_record(it).to_row() for it in items]
        table = pa.Table.from_pylist(rows, schema=arrow_schema(clip_columns()))
        tmp = d / f"{candidate_id}.parquet.{uuid.uuid4().hex[:8]}.tmp"
        pq.write_table(table, tmp)
        tmp.replace(d / f"{candidate_id}.parquet")

    def write_stats(self, stats: list[StageStats], run_id: str, name: str | None = None) -> None:
        """Persist stage stats; ``name`` overwrites one file (a driver refreshing its totals)."""
        body = [s.as_dict() for s in stats if s.items_in or s.seconds]
        if body:
            name = name or f"{run_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
            atomic_write_bytes(self.work / "stats" / name, json.dumps(body).encode())

    def read_stats(self) -> dict[str, StageStats]:
        out: dict[str, StageStats] = {}
        d = self.work / "stats"
        if d.exists():
            for p in sorted(d.glob("*.json")):
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
