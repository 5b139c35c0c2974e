"""Readers never see a half-published corpus: SIGKILL a publish at each of its steps, then a
reader sees the old generation or the new one, complete, and a rerun equals a fresh publish."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lipforge.pipeline.store import generations
from lipforge.pipeline.run.finalize import finalize
from lipforge.testing.corpus import commit_source, fake_config

REPO = Path(__file__).resolve().parents[2]

# (module, attribute, call number): the kill happens as that call starts
KILL_POINTS = {
    "second shard write": ("lipforge.pipeline.store.shards", "write_tar", 2),
    "manifests written, before sealing": ("lipforge.pipeline.store.generations", "seal", 1),
    "sealed, before the pointer": ("lipforge.pipeline.store.generations", "switch", 1),
    "pointer switched, before release records": ("lipforge.pipeline.run.finalize", "release_published", 1),
    "between two release records": ("lipforge.pipeline.store.release", "_write", 2),
    "pointer switched, before deleting old shards": ("lipforge.pipeline.store.shards", "ShardPublisher.commit", 1),
    "old shards deleted, before old generations": ("lipforge.pipeline.store.generations", "collect", 1),
}

DRIVER = """
import functools, importlib, os, signal, sys
from lipforge.env import apply_offline_env
apply_offline_env()
mod, attr, nth, out, keep = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == "keep"
parts = attr.split(".")
owner = functools.reduce(getattr, parts[:-1], importlib.import_module(mod))
real, calls = getattr(owner, parts[-1]), [0]
def dying(*a, **k):
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*a, **k)
setattr(owner, parts[-1], dying)
from lipforge.pipeline.source.inputs import SourceInput
from lipforge.pipeline.run.finalize import finalize
from lipforge.testing.corpus import fake_config
finalize([SourceInput(f"/in/{s}.mp4", s) for s in "abc"], out, fake_config(keep_work_samples=keep))
"""


def reader_view(out: Path) -> dict:
    """What a reader gets: resolve the pointer once, read that generation's manifests and every
    sample's bytes at its recorded offset (a mix of generations fails here or compares unequal)."""
    gen = generations.current_generation(out)
    clips = pq.read_table(gen / "clips.parquet").to_pylist()
    rows = pq.read_table(gen / "shards.parquet").to_pylist()
    samples = {}
    for r in rows:
        with open(out / r["shard"], "rb") as f:
            f.seek(r["offset"])
            data = f.read(r["size"])
        assert data[:100].split(b"\0")[0].decode().startswith(r["key"] + "."), f"{r['shard']}: offset of {r['key']}"
        samples[r["key"]] = data
    kept = {c["clip_id"] for c in clips if c["status"] == "kept"}
    assert kept == set(samples), "clips and shards manifests disagree"
    return {"clips": clips, "shards": rows, "samples": samples}


@pytest.mark.parametrize("keep", [True, False], ids=["keep-work-samples", "release-work-samples"])
def test_sigkill_at_each_publish_step_leaves_old_or_new(tmp_path, keep):
    cfg = fake_config(keep_work_samples=keep)
    base = tmp_path / "base"
    finalize([commit_source(base, s) for s in "ab"], str(base), cfg)
    old = reader_view(base)
    commit_source(base, "c")
    ref = tmp_path / "ref"
    new_srcs = [commit_source(ref, s) for s in "abc"]
    finalize(new_srcs, str(ref), cfg)
    new = reader_view(ref)
    assert old != new
    seen = {}
    points = {k: v for k, v in KILL_POINTS.items() if keep is False or "release records" not in k}
    for label, (mod, attr, nth) in points.items():
        out = tmp_path / label.replace(" ", "_").replace(",", "")
        shutil.copytree(base, out, symlinks=True)
        proc = subprocess.run([sys.executable, "-c", DRIVER, mod, attr, str(nth), str(out), "keep" if keep else "release"],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == -signal.SIGKILL, f"{label}: {proc.stderr[-2000:]}"
        view = reader_view(out)
        assert view in (old, new), label
        seen[label] = "new" if view == new else "old"
        finalize(new_srcs, str(out), cfg)
        assert reader_view(out) == new, label
        from lipforge.pipeline.store.catalog import Catalog
        from lipforge.pipeline.store.work import WorkStore
        from lipforge.pipeline.store.verify import verify_published, verify_work

        store = WorkStore(out)
        cat = Catalog.load(store)  # adopted from the work store: a, b, c
        assert sorted(cat.entries) == ["a", "b", "c"]
        assert verify_work(store, cat) == [] and verify_published(out) == [], label
        named = {r["shard"].rpartition("/")[2] for r in new["shards"]}
        left = {p.name for p in (out / "shards").iterdir()}
        assert named <= left and not [n for n in left if n.endswith(".tmp")], label
    # the pointer is the switch: before it readers see the old generation, after it the new one
    assert [seen[k] for k in points] == ["old", "old", "old"] + ["new"] * (len(points) - 3), seen


def test_same_manifests_make_no_new_generation(tmp_path):
    out = tmp_path / "out"
    srcs = [commit_source(out, s) for s in "ab"]
    finalize(srcs, str(out), fake_config())
    first = generations.current_generation(out)
    finalize(srcs, str(out), fake_config())
    assert generations.current_generation(out) == first
    srcs.append(commit_source(out, "c"))
    finalize(srcs, str(out), fake_config())
    second = generations.current_generation(out)
    assert second != first and os.readlink(out / "manifests") == f"generations/{second.name}"
    from lipforge.manifests.corpus import shard_files

    listed = shard_files(out)  # the current generation's files; shards/ also holds the previous ones
    assert {p.name for p in listed} == {r["shard"].rpartition("/")[2] for r in reader_view(out)["shards"]}
    assert len(listed) < len(list((out / "shards").glob("*.tar")))
    finalize(srcs[:1], str(out), fake_config())  # a third generation: the first one goes
    assert [g.name for g in generations.generation_dirs(out)] == [second.name, generations.current_generation(out).name]


def test_a_corpus_published_before_generations_is_adopted(tmp_path):
    out = tmp_path / "out"
    srcs = [commit_source(out, s) for s in "ab"]
    finalize(srcs, str(out), fake_config())
    gen = generations.current_generation(out)
    (out / "manifests").unlink()
    shutil.copytree(gen, out / "manifests")  # the old layout: a plain directory
    shutil.rmtree(out / "generations")
    old = reader_view(out)
    srcs.append(commit_source(out, "c"))
    finalize(srcs, str(out), fake_config())
    assert (out / "manifests").is_symlink() and reader_view(out) != old
    assert [g.name for g in generations.generation_dirs(out)] == ["000000", "000001"]
    ref = tmp_path / "ref"
    finalize([commit_source(ref, s) for s in "abc"], str(ref), fake_config())
    assert reader_view(out) == reader_view(ref)
