"""Whole-file writes: a reader sees the old bytes or the new ones, never half (temp name, fsync,
rename, fsync of the directory). The lowest floor of the store: the work store, the catalog, the
shard publisher and the release markers all write through it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lipforge.manifests.container import fsync_dir


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)


def atomic_write_parquet(table: pa.Table, path: Path, row_group_size: int = 10_000) -> None:
    """A Parquet file written whole: temp name, fsync, rename, fsync of the directory."""
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf, row_group_size=row_group_size)
    atomic_write_bytes(Path(path), buf.getvalue().to_pybytes())
