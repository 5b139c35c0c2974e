"""A rerun under a changed config publishes exactly what a fresh run with that config does,
recomputing only the candidates whose path through the stages changed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lipforge.pipeline.fingerprint import candidate_is_current, reach
from lipforge.testing.corpus import curate, fresh, make_media, path_list, published, write_config


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


def store_summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())["store"]


def test_threshold_and_measurement_changes_equal_a_fresh_run(media, tmp_path):
    files = [media["a"], media["c"]]  # c: 3 s of speech, then 3 s of silence
    lst = path_list(tmp_path / "lists", files)
    out = tmp_path / "out"
    steps = [("base", {"min_speech_ratio": 0.3}),
             ("tightened", {"min_speech_ratio": 0.99}),
             ("loosened", {"min_speech_ratio": 0.0}),
             ("measurement", {"min_speech_ratio": 0.3, "vad_threshold": 0.7})]
    kept = {}
    for name, speech in steps:
        cfg = write_config(tmp_path / f"{name}.yaml", speech=speech)
        assert curate(out, "--input", str(lst), cfg=cfg) == 0
        got = published(out)
        assert got == fresh(tmp_path, files, cfg), name
        kept[name] = sum(r["status"] == "kept" for r in got["clips"])
        s = store_summary(out)
        n_cands = len({r["parent_id"] for r in got["clips"]})
        if name != "base":
            # every candidate went through the speech stage: all are recomputed
            assert s["candidates_recomputed"] == n_cands, (name, s)
    assert kept["tightened"] < kept["base"] <= kept["loosened"]
    # resource settings do not change a result: nothing recomputed
    cfg = write_config(tmp_path / "threads.yaml", speech={"min_speech_ratio": 0.3, "vad_threshold": 0.7,
                                                          "batch_size": 2})
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    assert store_summary(out)["candidates_recomputed"] == 0


def test_a_new_stage_recomputes_only_candidates_that_reach_it(media, tmp_path):
    """Adding a stage after speech: candidates speech dropped are kept as stored."""
    files = [media["c"]]
    lst = path_list(tmp_path / "lists", files)
    out = tmp_path / "out"
    assert curate(out, "--input", str(lst), cfg=write_config(tmp_path / "s.yaml", speech={})) == 0
    rows = published(out)["clips"]
    dropped = {r["parent_id"] for r in rows if r["dropped_by"] == "speech"}
    assert dropped and len(dropped) < len({r["parent_id"] for r in rows})
    cfg = write_config(tmp_path / "sq.yaml", speech={})
    import yaml

    body = yaml.safe_load(cfg.read_text())
    body["stages"]["quality"] = {"enabled": True}
    cfg.write_text(yaml.safe_dump(body))
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    s = store_summary(out)
    assert s["candidates_reused_after_config_change"] == len(dropped)
    assert s["candidates_recomputed"] == len({r["parent_id"] for r in rows}) - len(dropped)
    assert published(out) == fresh(tmp_path, files, cfg)


def test_candidate_is_current_follows_its_path_through_the_stages():
    old = {"global": "g", "stages": [["speech", "s1"], ["faces", "f1"], ["sync", "y1"]]}
    by_speech = [{"status": "dropped", "dropped_by": "speech"}]
    by_faces = [{"status": "dropped", "dropped_by": "faces"}, {"status": "dropped", "dropped_by": "speech"}]
    kept = [{"status": "kept", "dropped_by": None}]
    names = [n for n, _ in old["stages"]]
    assert (reach(by_speech, names), reach(by_faces, names), reach(kept, names)) == (1, 2, 3)
    faces_changed = {"global": "g", "stages": [["speech", "s1"], ["faces", "f2"], ["sync", "y1"]]}
    assert candidate_is_current(by_speech, old, faces_changed)
    assert not candidate_is_current(by_faces, old, faces_changed)
    assert not candidate_is_current(kept, old, faces_changed)
    appended = {"global": "g", "stages": old["stages"] + [["extra", "e1"]]}
    assert candidate_is_current(by_faces, old, appended) and not candidate_is_current(kept, old, appended)
    assert not candidate_is_current(by_speech, old, {**old, "global": "h"})
    assert not candidate_is_current([{"status": "dropped", "dropped_by": "gone"}], old, old)
