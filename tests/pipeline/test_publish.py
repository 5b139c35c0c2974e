"""Publishing shards is incremental and crash-safe: a rerun rewrites only shards whose content
changed, and whatever the history (added sources, a tampered file, a publish killed half way,
a new shard bound), the published bytes equal a fresh publish of the same committed results.
Shard files are named by content, so "the published shards" are those the current generation
names (the previous generation's files stay one publish longer)."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lipforge.pipeline.store import shards as shards_mod
from lipforge.pipeline.stages.config import RunConfig
from lipforge.pipeline.source.inputs import SourceInput
from lipforge.pipeline.run.finalize import finalize

N_CLIPS = {"a": 3, "b": 2, "c": 2, **{f"s{i:02d}": 6 for i in range(0, 40, 2)}, "s17": 6}


def commit_source(out: Path, sid: str) -> SourceInput:
    """What a finished curation leaves in the work store for one source (the testing factory)."""
    from lipforge.testing.corpus import commit_source as commit

    return commit(out, sid, N_CLIPS[sid])


def cfg(max_samples: int = 2, boundaries: str = "fill") -> RunConfig:
    return RunConfig.from_dict({"shards": {"max_samples": max_samples, "boundaries": boundaries}})


def named(out: Path) -> list[str]:
    """Shard files the current generation names."""
    rows = pq.read_table(out / "manifests" / "shards.parquet", columns=["shard"])["shard"].to_pylist()
    return sorted({r.rpartition("/")[2] for r in rows})


def published(out: Path) -> dict[str, bytes]:
    files = {n: (out / "shards" / n).read_bytes() for n in named(out)}
    files["shards.parquet"] = pq.read_table(out / "manifests" / "shards.parquet").to_pylist()
    files["clips.parquet"] = pq.read_table(out / "manifests" / "clips.parquet").to_pylist()
    return files


def fresh(tmp_path: Path, sids: list[str], max_samples: int = 2) -> dict:
    out = tmp_path / ("fresh-" + "".join(sids) + f"-{max_samples}")
    srcs = [commit_source(out, s) for s in sids]
    finalize(srcs, str(out), cfg(max_samples))
    return published(out)


def mtimes(out: Path) -> dict[str, int]:
    return {n: (out / "shards" / n).stat().st_mtime_ns for n in named(out)}


def test_noop_rerun_writes_no_shard(tmp_path):
    out = tmp_path / "out"
    srcs = [commit_source(out, s) for s in "ab"]
    first = finalize(srcs, str(out), cfg())
    assert first["shards"]["written"] == 3 and first["shards"]["reused"] == 0  # 5 clips, 2 per shard
    before = mtimes(out)
    again = finalize(srcs, str(out), cfg())
    assert again["shards"] == {**first["shards"], "written": 0, "reused": 3}
    assert mtimes(out) == before
    assert published(out) == fresh(tmp_path, ["a", "b"])


def test_added_source_rewrites_only_the_shards_it_changes(tmp_path):
    out = tmp_path / "out"
    srcs = [commit_source(out, s) for s in "ab"]
    finalize(srcs, str(out), cfg())
    before = mtimes(out)
    srcs.append(commit_source(out, "c"))  # sorts last: a a | a b | b c | c
    s = finalize(srcs, str(out), cfg())
    assert s["shards"]["reused"] == 2 and s["shards"]["written"] == 2
    after = mtimes(out)
    # shards are named after their first key (then their digest), so names sort in key order
    assert [after[n] == before.get(n) for n in sorted(after)] == [True, True, False, False]
    assert set(before) - set(after) == {sorted(before)[-1]}  # the old last shard: previous generation only
    assert published(out) == fresh(tmp_path, ["a", "b", "c"])


def test_tampered_or_missing_shard_is_written_again(tmp_path):
    out = tmp_path / "out"
    srcs = [commit_source(out, s) for s in "ab"]
    finalize(srcs, str(out), cfg())
    names = sorted(mtimes(out))
    (out / "shards" / names[1]).write_bytes(b"oops")
    (out / "shards" / names[2]).unlink()
    s = finalize(srcs, str(out), cfg())
    assert s["shards"]["written"] == 2 and s["shards"]["reused"] == 1
    assert published(out) == fresh(tmp_path, ["a", "b"])


def test_publish_killed_half_way_then_rerun_equals_fresh(tmp_path, monkeypatch):
    out = tmp_path / "out"
    srcs = [commit_source(out, s) for s in "ab"]
    finalize(srcs, str(out), cfg())
    srcs.append(commit_source(out, "c"))
    real_write, calls = shards_mod.write_tar, []

    def dying_write(path, samples, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")  # after one changed shard is already in place
        return real_write(path, samples, **kw)

    monkeypatch.setattr(shards_mod, "write_tar", dying_write)
    with pytest.raises(KeyboardInterrupt):
        finalize(srcs, str(out), cfg())
    monkeypatch.setattr(shards_mod, "write_tar", real_write)
    s = finalize(srcs, str(out), cfg())
    # the shard rewritten before the kill no longer matches the saved state: written again
    assert s["shards"]["written"] == 2
    assert published(out) == fresh(tmp_path, ["a", "b", "c"])


def test_new_shard_bound_repacks_and_deletes_stale_files(tmp_path):
    out = tmp_path / "out"
    srcs = [commit_source(out, s) for s in "abc"]
    finalize(srcs, str(out), cfg(2))
    (out / "shards" / ".a-00000000-00.1234abcd.tmp").write_bytes(b"leftover of a killed write")
    s = finalize(srcs, str(out), cfg(5))
    assert s["shards"]["count"] == 2 and [n[:-17] for n in sorted(mtimes(out))] == ["shard-a-00000000-00",
                                                                                 "shard-c-00000000-00"]
    assert published(out) == fresh(tmp_path, ["a", "b", "c"], max_samples=5)
    state = json.loads((out / "work" / "published_shards.json").read_text())
    assert sorted(state["shards"]) == ["shard-a-00000000-00.tar", "shard-c-00000000-00.tar"]
    assert sorted(v["file"] for v in state["shards"].values()) == named(out)
    # the previous generation's files stay one publish longer; the leftover is gone
    left = sorted(p.name for p in (out / "shards").iterdir())
    assert not [n for n in left if n.endswith(".tmp")] and len(left) == 2 + 4
    finalize(srcs, str(out), cfg(5))  # no new generation: nothing changes
    assert len(list((out / "shards").iterdir())) == 6
    gen5 = named(out)
    finalize(srcs[:2], str(out), cfg(5))  # a new generation: the files only generation 1 named go
    assert sorted(p.name for p in (out / "shards").iterdir()) == sorted(set(gen5) | set(named(out)))


def test_scan_tar_reads_the_same_samples_as_a_full_read(tmp_path):
    from lipforge.manifests.container import read_refs, read_tar_samples, sample_nbytes, scan_tar

    out = tmp_path / "out"
    commit_source(out, "a")
    for tar in sorted((out / "work" / "groups" / "a").glob("*.tar")):
        refs = list(scan_tar(tar))
        assert list(read_refs(refs)) == list(read_tar_samples(tar))
        assert [r.nbytes for r in refs] == [sample_nbytes(s) for s in read_tar_samples(tar)]


def test_content_boundaries_keep_an_insertion_local(tmp_path):
    """A source whose keys land in the middle of a published corpus: content boundaries rewrite
    the shards around it, fill boundaries rewrite every shard after it."""
    rewritten = {}
    for mode in ("content", "fill"):
        out = tmp_path / mode
        srcs = [commit_source(out, f"s{i:02d}") for i in range(0, 40, 2)]  # 20 sources x 6 clips
        finalize(srcs, str(out), cfg(16, mode))
        before = mtimes(out)
        srcs.append(commit_source(out, "s17"))  # sorts between s16 and s18
        s = finalize(srcs, str(out), cfg(16, mode))
        after = mtimes(out)
        rewritten[mode] = sum(before.get(n) != m for n, m in after.items())
        assert s["shards"]["written"] == rewritten[mode]
        n_shards = s["shards"]["count"]
        rows = pq.read_table(out / "manifests" / "shards.parquet").to_pylist()
        sizes = [sum(r["shard"].endswith(n) for r in rows) for n in sorted(after)]
        assert len(sizes) == n_shards and max(sizes) <= 16 and sum(sizes) == 126
    assert rewritten["content"] <= 3, rewritten
    assert rewritten["fill"] >= 3 * rewritten["content"], rewritten
