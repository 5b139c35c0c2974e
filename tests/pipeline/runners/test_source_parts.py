"""A long source curated in parts: where it is cut, Ray equals local, a killed run resumes per
part, and a changed part length recomputes only the sources it cuts otherwise."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.testing.corpus import published  # noqa: E402
from tests.pipeline.runners.test_runners import assert_same_outputs, curate, spine_config  # noqa: E402


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    from lipforge.testing import make_talking_head

    d = tmp_path_factory.mktemp("inputs")
    make_talking_head(d / "long.mp4", seconds=20.0, size=(96, 96), face_px=60, seed=0)  # 3 parts of 6 s
    make_talking_head(d / "short.mp4", seconds=5.0, size=(96, 96), face_px=60, seed=1)  # one part
    return d


@pytest.fixture(scope="module")
def local_run(inputs, tmp_path_factory):
    base = tmp_path_factory.mktemp("local")
    cfg = spine_config(base / "run.yaml", part_s=6.0)
    curate(inputs, base / "out", cfg, "--runner", "local")
    return base / "out", cfg


def rows_of(out: Path, name: str) -> list[dict]:
    return [r for r in pq.read_table(out / "manifests" / "clips.parquet").to_pylist() if r["source_id"].startswith(name)]


def test_a_long_source_is_cut_at_its_parts(local_run):
    out, _ = local_run
    rows = rows_of(out, "long_")
    spans = [(round(r["start_s"], 2), round(r["start_s"] + r["duration_s"], 2)) for r in rows]
    # each 6 s part: two 3 s clips (the max_clip_s grid); the last part (8 s): 3 + 2.52 + 2.48
    assert spans == [(0, 3), (3, 6), (6, 9), (9, 12), (12, 15), (15, 17.52), (17.52, 20)]
    assert [r["scene_index"] for r in rows] == [0, 0, 1000, 1000, 2000, 2000, 2000]
    src = {r["source_id"].split("_")[0]: r for r in pq.read_table(out / "manifests" / "sources.parquet").to_pylist()}
    assert (src["long"]["n_frames"], src["long"]["n_scenes"], src["long"]["n_candidates"]) == (500, 1, 7)
    assert src["long"]["status"] == "ok" and src["long"]["reason"] is None
    assert not (out / "work" / "parts").exists() or not any((out / "work" / "parts").iterdir())


@pytest.mark.ray
def test_ray_runs_the_parts_as_local_does(local_run, inputs, tmp_path):
    out_local, cfg = local_run
    curate(inputs, tmp_path / "out", cfg, "--num-cpus", "2")
    assert_same_outputs(out_local, tmp_path / "out")


def test_a_run_stopped_between_parts_resumes_with_the_rest(local_run, inputs, tmp_path, monkeypatch):
    from lipforge.pipeline.cli import curate as curate_call
    from lipforge.pipeline.run.runners import local as local_runner

    out_ref, cfg = local_run
    out = tmp_path / "out"
    real = local_runner.iter_source_groups

    def stop_at_part_2(src, cfg_, store, outcome=None, stats=None, part=None):
        if part is not None and part.index == 2:
            raise KeyboardInterrupt("stopped")
        return real(src, cfg_, store, outcome, stats, part)

    monkeypatch.setattr(local_runner, "iter_source_groups", stop_at_part_2)
    with pytest.raises(KeyboardInterrupt):
        curate_call(inputs, out, cfg, runner="local")
    parts = sorted(p.name for p in (out / "work" / "parts").rglob("*.json"))
    assert parts == ["0-of-3.json", "1-of-3.json"]
    before = {p: p.stat().st_mtime_ns for p in (out / "work" / "groups").rglob("*.parquet")}
    monkeypatch.setattr(local_runner, "iter_source_groups", real)
    seen = []

    def count(src, cfg_, store, outcome=None, stats=None, part=None):
        seen.append((src.source_id.split("_")[0], part.index if part else None))
        return real(src, cfg_, store, outcome, stats, part)

    monkeypatch.setattr(local_runner, "iter_source_groups", count)
    curate_call(inputs, out, cfg, runner="local")
    assert ("long", 0) not in seen and ("long", 1) not in seen and ("long", 2) in seen
    for p, m in before.items():
        assert p.stat().st_mtime_ns == m
    assert_same_outputs(out_ref, out)


def test_a_new_part_length_recomputes_only_the_sources_it_cuts_otherwise(local_run, inputs, tmp_path):
    import shutil

    out_ref, _ = local_run
    out = tmp_path / "out"
    shutil.copytree(out_ref, out)

    def mtimes(name):
        return {p: p.stat().st_mtime_ns for p in (out / "work" / "groups").glob(f"{name}_*/*.parquet")}

    short, long = mtimes("short"), mtimes("long")
    assert short and long
    cfg = spine_config(tmp_path / "whole.yaml", part_s=0.0)
    curate(inputs, out, cfg, "--runner", "local")
    assert mtimes("short") == short
    assert not set(mtimes("long").items()) & set(long.items())  # every candidate of it recomputed
    fresh = tmp_path / "fresh"
    curate(inputs, fresh, cfg, "--runner", "local")
    assert published(fresh) == published(out)  # what readers see (the earlier generation's shards stay a while)
    # undivided: one scene; here the parts' boundaries fall on the same 3 s grid, so the clips are
    # the same and only the scene numbering differs
    whole, parts = rows_of(fresh, "long_"), rows_of(out_ref, "long_")
    assert [r["clip_id"] for r in whole] == [r["clip_id"] for r in parts]
    assert {r["scene_index"] for r in whole} == {0}


def test_a_range_source_is_cut_into_parts_of_its_range(inputs, tmp_path):
    lst = tmp_path / "ranges.csv"
    lst.write_text(f"path,start_s,end_s\n{inputs / 'long.mp4'},2.0,18.0\n")
    cfg = spine_config(tmp_path / "run.yaml", part_s=6.0)
    curate(lst, tmp_path / "out", cfg, "--runner", "local")
    rows = pq.read_table(tmp_path / "out" / "manifests" / "clips.parquet").to_pylist()
    starts = [round(r["start_s"], 2) for r in rows]
    # parts [2, 8), [8, 14), [14, 18): two 3 s clips each, the last 4 s as two of 2 s
    assert starts == [2, 5, 8, 11, 14, 16]
    assert [r["scene_index"] for r in rows] == [0, 0, 1000, 1000, 2000, 2000]
    (src,) = pq.read_table(tmp_path / "out" / "manifests" / "sources.parquet").to_pylist()
    assert (src["start_s"], src["end_s"], src["n_frames"], src["n_candidates"]) == (2.0, 18.0, 400, 6)
