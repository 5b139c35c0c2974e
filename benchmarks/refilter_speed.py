"""How long does ``lipforge refilter`` take on a corpus of a 600-hour size? Print the figures.

Writes the manifests of a synthetic corpus (N clips of 10 s with random scores, 1000 samples per
shard; no shard bytes, the default view copies none) and times the refilter the CLI runs, with
the where-selection alone beside it. Usage: python benchmarks/refilter_speed.py [n_clips]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from lipforge.env import apply_offline_env

apply_offline_env()

import numpy as np  # noqa: E402


def fake_corpus(root: Path, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lipforge.manifests.schema import (SHARD_COLUMNS, SOURCE_COLUMNS, ClipRecord, SourceRecord, arrow_schema,
                                  clip_columns)

    rng = np.random.default_rng(0)
    man = root / "manifests"
    man.mkdir(parents=True)
    n_src = max(1, n // 60)
    pq.write_table(pa.Table.from_pylist([SourceRecord(f"v{i:06d}", f"/data/v{i:06d}.mp4", duration_s=600.0).to_row()
                                         for i in range(n_src)], schema=arrow_schema(SOURCE_COLUMNS)),
                   man / "sources.parquet")
    rows, shards = [], []
    for i in range(n):
        sid = f"v{i // 60:06d}"
        cid = f"{sid}-{(i % 60) * 10000:08d}-00"
        kept = rng.random() < 0.8
        m = {"speech_ratio": float(rng.random()), "iqa_score": float(rng.random()), "sync_conf": float(rng.normal(6, 2)),
             "sync_offset": int(rng.integers(-6, 7)), "face_max_px": float(rng.uniform(200, 600))}
        shard = f"shards/shard-{i // 1000:06d}.tar" if kept else None
        rows.append(ClipRecord(cid, sid, cid, (i % 60) * 250, (i % 60) * 250 + 250, status="kept" if kept else "dropped",
                               reason=None if kept else "no_speech", shard=shard, measurements=m).to_row())
        if kept:
            shards.append({"schema_version": 1, "shard": shard, "key": cid, "offset": (i % 1000) * 700_000,
                           "size": 700_000, "n_frames": 250})
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(clip_columns())), man / "clips.parquet",
                   row_group_size=10_000)
    pq.write_table(pa.Table.from_pylist(shards, schema=arrow_schema(SHARD_COLUMNS)), man / "shards.parquet")
    (root / "run_config.yaml").write_text("{}\n")


def main() -> None:
    from lipforge.manifests.query import kept_ids_where
    from lipforge.pipeline.run.refilter import refilter

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 216_000  # 600 h of 10 s clips
    where = "sync_conf >= 5 and iqa_score >= 0.5"
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "corpus"
        t0 = time.perf_counter()
        fake_corpus(root, n)
        print(f"synthetic corpus: {n} clip rows ({n * 10 / 3600:.0f} h of 10 s clips), written in "
              f"{time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        ids = kept_ids_where(root / "manifests" / "clips.parquet", where)
        t_sel = time.perf_counter() - t0
        t0 = time.perf_counter()
        s = refilter(root, where, Path(d) / "view")
        t_all = time.perf_counter() - t0
        print(f"where {where!r}: {len(ids)} of {s['before']['kept']} kept clips selected")
        print(f"  selection alone (duckdb over clips.parquet): {t_sel:6.2f} s")
        print(f"  refilter, whole view written:                {t_all:6.2f} s")


if __name__ == "__main__":
    main()
