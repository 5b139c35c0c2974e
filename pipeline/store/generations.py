"""Atomic publishing: readers see one consistent generation of manifests and shards, never a mix.

Layout of a published corpus::

    manifests -> generations/000007       the pointer: a relative symlink, replaced last
    generations/000007/{sources,clips,shards}.parquet, run_config.yaml
    generations/000006/...                 the previous generation, kept for readers still on it
    shards/shard-<first key>-<sha256 of its bytes, 12 hex>.tar

Shard files are immutable: a shard whose content changes gets a new name (its digest), so a
generation's ``shards.parquet`` offsets stay true for as long as the generation exists. A
publish writes the new shards, then the new generation's manifests (fsynced, directory
renamed into place), then replaces the pointer (``rename`` of a new symlink: atomic), and only
then deletes what neither the new nor the previous generation names. Killed at any point, a
reader resolving ``manifests`` sees the old generation or the new one, complete. A publish
whose manifests equal the current generation's bytes makes no new generation.

Readers resolve the pointer once (:func:`lipforge.manifests.corpus.manifests_dir`) and read
every file of that generation; the previous generation's files stay until the next publish.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from lipforge.manifests.container import fsync_dir
from lipforge.manifests.corpus import GENERATIONS, MANIFESTS, POINTER, current_generation

MANIFEST_FILES = tuple(f"{n}.parquet" for n in MANIFESTS)


def generation_dirs(out: Path) -> list[Path]:
    d = Path(out) / GENERATIONS
    return sorted(p for p in d.iterdir() if p.is_dir() and p.name.isdigit()) if d.exists() else []


def stage_generation(out: Path) -> Path:
    """A fresh, empty directory to write the next generation into (renamed by :func:`seal`)."""
    d = Path(out) / GENERATIONS / f".new-{uuid.uuid4().hex[:8]}"
    d.mkdir(parents=True)
    return d


def _same_files(a: Path, b: Path) -> bool:
    import filecmp  # sizes first, then chunks: a large clips.parquet is not read whole twice

    return all((a / n).exists() and (b / n).exists() and filecmp.cmp(a / n, b / n, shallow=False)
               for n in MANIFEST_FILES)


def seal(out: Path, staged: Path) -> Path | None:
    """Give a fully written (and fsynced) staged generation its number; None (and the staged
    directory removed) when its manifests equal the current generation's."""
    out = Path(out)
    cur = current_generation(out)
    if cur is not None and _same_files(cur, staged):
        shutil.rmtree(staged)
        return None
    fsync_dir(staged)
    existing = generation_dirs(out)
    n = int(existing[-1].name) + 1 if existing else 1
    final = staged.parent / f"{n:06d}"
    staged.rename(final)
    fsync_dir(final.parent)
    return final


def switch(out: Path, gen: Path) -> None:
    """Point ``manifests`` at ``gen`` atomically (the last step that makes a publish visible)."""
    out = Path(out)
    p = out / POINTER
    if p.exists() and not p.is_symlink():  # a corpus published before generations: adopt it
        legacy = out / GENERATIONS / "000000"
        legacy.parent.mkdir(parents=True, exist_ok=True)
        p.rename(legacy)
    tmp = out / f".{POINTER}.{uuid.uuid4().hex[:8]}.tmp"
    os.symlink(os.path.relpath(gen, out), tmp)
    os.replace(tmp, p)
    fsync_dir(out)


def live_generations(out: Path) -> list[Path]:
    """The current generation and the one before it (what readers may still be using)."""
    out = Path(out)
    cur = current_generation(out)
    if cur is None:
        return []
    older = [g for g in generation_dirs(out) if g.name < cur.name]
    return ([older[-1]] if older else []) + [cur]


def referenced_shards(out: Path) -> set[str]:
    """Shard file names that a live generation's shards manifest names."""
    import pyarrow.parquet as pq

    names: set[str] = set()
    for g in live_generations(out):
        try:
            col = pq.read_table(g / "shards.parquet", columns=["shard"])["shard"].to_pylist()
        except (OSError, ValueError):
            continue
        names.update(s.rpartition("/")[2] for s in col)
    return names


def collect(out: Path) -> list[str]:
    """Delete generations older than the previous one and unfinished staged ones; returns names."""
    out = Path(out)
    live = {g.name for g in live_generations(out)}
    gone = []
    d = out / GENERATIONS
    if d.exists():
        for g in sorted(d.iterdir()):
            if g.is_dir() and g.name not in live:
                shutil.rmtree(g)
                gone.append(g.name)
    for p in out.glob(f".{POINTER}.*.tmp"):
        p.unlink()
    return gone
