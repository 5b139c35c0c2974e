"""Where a corpus keeps its published manifests and shards: the one place every reader asks.

Curation's publisher writes through these paths and the trainer, the refilter tool and the
report read through them, so a change of the on-disk layout (for example versioned manifest
generations) happens here and nowhere else. ``shards.parquet``'s ``shard`` column and
``clips.parquet``'s ``shard`` column hold paths relative to the corpus root (``shards/<name>``).

>>> manifest_path("corpus", "clips").as_posix()
'corpus/manifests/clips.parquet'
"""
from __future__ import annotations

from pathlib import Path

MANIFESTS = ("sources", "clips", "shards")


def manifests_dir(corpus: str | Path) -> Path:
    return Path(corpus) / "manifests"


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
