"""Where a corpus keeps its published manifests and shards: the one place every reader asks.

Curation's publisher writes through these paths and the trainer, the refilter tool and the
report read through them, so a change of the on-disk layout happens here and nowhere else.
``shards.parquet``'s ``shard`` column and ``clips.parquet``'s ``shard`` column hold paths
relative to the corpus root (``shards/<name>``).

Publishing is atomic (see :mod:`lipforge.pipeline.store.generations`): ``manifests`` is a pointer (a
relative symlink) to one generation directory ``generations/<n>/`` holding the three manifests,
replaced last when a new generation is complete. Shard files are named by their content and
never rewritten, and the files of the previous generation stay until the next publish, so a
reader that resolves the pointer **once** reads one consistent generation::

    gen = manifests_dir("corpus")            # pinned: the generation published now
    clips = pq.read_table(gen / "clips.parquet"); shards = pq.read_table(gen / "shards.parquet")

:func:`manifest_path` resolves the pointer on every call; read several manifests through one
:func:`manifests_dir` when they must agree. A corpus published before generations (a plain
``manifests/`` directory) reads the same way.

>>> manifest_path("corpus", "clips").as_posix()
'corpus/manifests/clips.parquet'
"""
from __future__ import annotations

import os
from pathlib import Path

MANIFESTS = ("sources", "clips", "shards")
POINTER = "manifests"  # symlink -> generations/<n>
GENERATIONS = "generations"


def current_generation(corpus: str | Path) -> Path | None:
    """The generation directory the pointer names now (a plain ``manifests/`` directory counts
    as one), or None when nothing is published."""
    p = Path(corpus) / POINTER
    if p.is_symlink():
        target = p.parent / os.readlink(p)
        return target if target.is_dir() else None
    return p if p.is_dir() else None


def manifests_dir(corpus: str | Path) -> Path:
    """The published generation's directory, resolved now (``<corpus>/manifests`` when nothing is
    published yet)."""
    return current_generation(corpus) or Path(corpus) / POINTER


def manifest_path(corpus: str | Path, name: str) -> Path:
    """``name`` is one of :data:`MANIFESTS`."""
    if name not in MANIFESTS:
        raise ValueError(f"manifest must be one of {MANIFESTS}, got {name!r}")
    return manifests_dir(corpus) / f"{name}.parquet"


def shards_dir(corpus: str | Path) -> Path:
    return Path(corpus) / "shards"


def shard_path(corpus: str | Path, shard: str) -> Path:
    """The file behind a manifest's ``shard`` value (relative to the corpus root)."""
    return Path(corpus) / shard


def shard_files(corpus: str | Path) -> list[Path]:
    """The shard files the published generation names, in name (= key) order. ``shards/`` also
    holds the previous generation's files for one more publish: list shards from here (or from
    ``shards.parquet``), not with a glob."""
    import pyarrow.parquet as pq

    col = pq.read_table(manifest_path(corpus, "shards"), columns=["shard"])["shard"].to_pylist()
    return [shard_path(corpus, s) for s in sorted(set(col))]
