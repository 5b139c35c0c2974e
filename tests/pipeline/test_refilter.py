"""refilter: a view from stored scores equals a fresh run with the tighter threshold."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

pytest.importorskip("duckdb", reason="refilter --where needs duckdb (pip install duckdb)")

REPO = Path(__file__).resolve().parents[2]
VERDICT = {"status", "reason", "dropped_by", "shard"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same inputs curated loose (speech_ratio >= 0) and tight (>= 0.5), speech stage only."""
    from lipforge.testing.tiny_corpus import curate_local, run_config, talking_inputs

    base = tmp_path_factory.mktemp("refilter")
    inputs = talking_inputs(base / "in", with_broken=False)
    loose = curate_local(inputs, base / "loose", run_config({"speech": {"min_speech_ratio": 0.0}}))
    tight = curate_local(inputs, base / "tight", run_config({"speech": {"min_speech_ratio": 0.5}}))
    assert loose["clips"]["kept"] > tight["clips"]["kept"] > 0  # the threshold matters on these inputs
    return base


def _rows(p: Path) -> dict[str, dict]:
    return {r["clip_id"]: r for r in pq.read_table(p / "manifests" / "clips.parquet").to_pylist()}


def _samples_by_key(corpus: Path) -> dict[str, bytes]:
    """Every sample's bytes, read at the offsets shards.parquet gives (relative to ``corpus``)."""
    out = {}
    for r in pq.read_table(corpus / "manifests" / "shards.parquet").to_pylist():
        with open(corpus / r["shard"], "rb") as f:
            f.seek(r["offset"])
            out[r["key"]] = f.read(r["size"])
    return out


def test_republished_view_equals_a_fresh_run_with_the_tighter_threshold(runs, tmp_path):
    from lipforge.pipeline.run.refilter import refilter

    s = refilter(runs / "loose", "speech_ratio >= 0.5", tmp_path / "view", republish=True)
    view, tight, loose = _rows(tmp_path / "view"), _rows(runs / "tight"), _rows(runs / "loose")
    assert set(view) == set(tight) == set(loose)
    kept = lambda rows: sorted(k for k, r in rows.items() if r["status"] == "kept")  # noqa: E731
    assert kept(view) == kept(tight)
    for cid, r in view.items():
        t = tight[cid]
        if r["status"] == "dropped":
            assert (r["reason"], t["reason"]) in {(t["reason"], t["reason"]), ("refilter_where", "no_speech")}
        same = {k for k in r if k not in VERDICT and not k.startswith("prov_")}
        assert {k: r[k] for k in same} == {k: t[k] for k in same}, cid
    # the same shard files, byte for byte, and the same sample locations
    vs = {p.name: p.read_bytes() for p in (tmp_path / "view" / "shards").glob("*.tar")}
    ts = {p.name: p.read_bytes() for p in (runs / "tight" / "shards").glob("*.tar")}
    assert vs == ts
    assert (pq.read_table(tmp_path / "view" / "manifests" / "shards.parquet")
            .equals(pq.read_table(runs / "tight" / "manifests" / "shards.parquet")))
    assert s["before"]["kept"] == len(kept(loose)) and s["after"]["kept"] == len(kept(tight))
    assert s["newly_dropped"]["clips"] == len(kept(loose)) - len(kept(tight))
    assert [c["source_id"].split("_")[0] for c in s["sources_changed"]] == ["silent", "talk"]


def test_view_without_copy_points_at_the_same_sample_bytes(runs, tmp_path):
    from lipforge.pipeline.run.refilter import refilter

    refilter(runs / "loose", "speech_ratio >= 0.5", tmp_path / "view")
    assert not (tmp_path / "view" / "shards").exists()  # nothing copied
    got, want = _samples_by_key(tmp_path / "view"), _samples_by_key(runs / "tight")
    assert got.keys() == want.keys() and got == want
    listed = (tmp_path / "view" / "shards.txt").read_text().split()
    assert listed and all((tmp_path / "view" / s).is_file() for s in listed)


def test_cli_refilter_and_its_one_line_errors(runs, tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "lipforge.cli", "refilter", *args], capture_output=True,
                              text=True, cwd=REPO, timeout=120)

    r = run("--corpus", str(runs / "loose"), "--where", "speech_ratio >= 0.5", "--output", str(tmp_path / "v"))
    assert r.returncode == 0, r.stderr
    assert "kept" in r.stdout and (tmp_path / "v" / "summary.json").is_file()
    bad = [(["--where", "speech_ratoi > 1", "--output", str(tmp_path / "v2")], "speech_ratoi"),
           (["--where", "speech_ratio > 0", "--output", str(tmp_path / "v")], "not empty"),
           (["--where", "speech_ratio > 0", "--output", str(runs / "loose" / "x")], "must not be the corpus")]
    for args, msg in bad:
        r = run("--corpus", str(runs / "loose"), *args)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "v2").exists()  # a bad condition writes nothing
    r = run("--corpus", str(tmp_path / "nothing"), "--where", "true", "--output", str(tmp_path / "v3"))
    assert r.returncode == 2 and "clips.parquet" in r.stderr
