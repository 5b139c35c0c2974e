"""summary.json's per-stage counts describe the published corpus (what a fresh run counts), not
the sum of every run's work; this run's work is reported apart (summary["work"])."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from lipforge.pipeline.report.corpus_stats import corpus_stage_stats
from lipforge.pipeline.stages.base import ClipItem, Stage, StageConfig
from lipforge.testing.corpus import curate, fresh, last_fresh, make_media, path_list, write_config
from lipforge.testing.corpus import stage_counts as counts


class Cut(Stage):
    """Cuts every clip in two at frame 30 and drops the second piece when it is short."""

    name = "cut"
    SPLITS = True

    @dataclass(frozen=True)
    class Config(StageConfig):
        pass

    def process(self, items):
        from lipforge.pipeline.stages.faces import slice_item

        out = []
        for it in items:
            if it.n_frames > 30:
                a, b = slice_item(it, 0, 30), slice_item(it, 30, it.n_frames)
                if b.n_frames < 20:
                    b.drop("too_short", by=self.name)
                out += [a, b]
            else:
                out.append(it.drop("tiny", by=self.name) if it.n_frames < 10 else it)
        return out


class Gate(Stage):
    """Drops clips whose first pixel is under ``limit`` (before the cut: ``pre``, after it: ``post``)."""

    limit = 60

    @dataclass(frozen=True)
    class Config(StageConfig):
        pass

    def process(self, items):
        for it in items:
            if it.frames[0, 0, 0, 0] < self.limit:
                it.drop("dark", by=self.name)
        return items


def test_counts_from_rows_equal_the_stage_counters():
    from lipforge.pipeline.store.work import item_record

    pre, post = type("Pre", (Gate,), {"name": "pre"})(), type("Post", (Gate,), {"name": "post", "limit": 150})()
    stages = [pre, Cut(), post]
    rng = np.random.default_rng(0)
    rows = []
    for k, n in enumerate([5, 25, 45, 60, 80, 40, 33]):
        cid = f"s-{k * 10000:08d}-00"
        it = ClipItem(cid, "s", cid, k * 100, k * 100 + n, frames=rng.integers(0, 255, (n, 4, 4, 3), dtype=np.uint8))
        items = [it]
        for st in stages:
            items = st(items)
        rows += [item_record(i).to_row() for i in items]
    got = corpus_stage_stats(rows, ["pre", "cut", "post"], {"cut"})
    assert got["segment"].items_in == 7
    for st in stages:
        want, have = st.stats, got[st.name]
        assert (have.items_in, have.kept, dict(have.dropped)) == (want.items_in, want.kept, dict(want.dropped)), st.name
        assert have.video_seconds == pytest.approx(want.video_seconds) and have.kept_seconds == pytest.approx(want.kept_seconds)
    assert sum(got["cut"].dropped.values()) and sum(got["post"].dropped.values()) and sum(got["pre"].dropped.values())


def test_summary_counts_describe_the_corpus_after_rejudging_and_recomputing(tmp_path, monkeypatch):
    media = make_media(tmp_path / "media")
    files = [media["a"], media["c"]]
    lst = path_list(tmp_path / "lists", files)
    out = tmp_path / "out"

    def run(name: str, ratio: float) -> dict:
        cfg = write_config(tmp_path / f"{name}.yaml", speech={"min_speech_ratio": ratio})
        assert curate(out, "--input", str(lst), cfg=cfg) == 0
        fresh(tmp_path, files, cfg)
        assert counts(out) == counts(last_fresh(tmp_path)), name
        return json.loads((out / "summary.json").read_text())

    base = run("base", 0.3)
    n = base["clips"]["candidates"]
    assert base["work"]["candidates_computed"] == n and base["work"]["stages"][0]["items_in"] == n
    again = write_config(tmp_path / "again.yaml", speech={"min_speech_ratio": 0.3})
    before = counts(out)
    assert curate(out, "--input", str(lst), cfg=again) == 0  # a no-op rerun counts the corpus once
    assert counts(out) == before
    s = json.loads((out / "summary.json").read_text())
    assert (s["work"]["candidates_computed"], s["work"]["candidates_reused"], s["work"]["stages"]) == (0, n, [])

    tight = run("tight", 0.99)
    assert (tight["work"]["candidates_computed"], tight["work"]["candidates_rejudged"]) == (0, n)
    loose = run("loose", 0.05)  # the candidates it lets back are recomputed, counted once
    k = loose["store"]["candidates_recomputed"]
    assert 0 < k < n and loose["work"]["candidates_computed"] == k
    assert loose["work"]["candidates_rejudged"] + k + loose["work"]["candidates_reused"] == n
