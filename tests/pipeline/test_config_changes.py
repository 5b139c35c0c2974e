"""A rerun under a changed config publishes exactly what a fresh run with that config does,
recomputing only the candidates whose path through the stages changed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lipforge.pipeline.store.fingerprint import candidate_is_current, reach
from lipforge.testing.corpus import curate, fresh, make_media, path_list, published, write_config


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


def store_summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())["store"]


def test_threshold_and_measurement_changes_equal_a_fresh_run(media, tmp_path, monkeypatch):
    from lipforge.pipeline.run.runners.local import LocalRunner

    files = [media["a"], media["c"]]  # c: 3 s of speech, then 3 s of silence
    lst = path_list(tmp_path / "lists", files)
    out = tmp_path / "out"

    def run(name: str, speech: dict, decode: bool = True) -> dict:
        cfg = write_config(tmp_path / f"{name}.yaml", speech=speech)
        with monkeypatch.context() as m:
            if not decode:  # re-judging reads stored scores: no source may be decoded
                m.setattr(LocalRunner, "run", lambda *a, **k: pytest.fail(f"{name}: a source was decoded"))
            assert curate(out, "--input", str(lst), cfg=cfg) == 0
        got = published(out)
        assert got == fresh(tmp_path, files, cfg), name
        return got

    base = run("base", {"min_speech_ratio": 0.3})
    n = len({r["parent_id"] for r in base["clips"]})
    tight = run("tightened", {"min_speech_ratio": 0.99}, decode=False)
    s = store_summary(out)
    assert (s["candidates_rejudged"], s["candidates_recomputed"]) == (n, 0), s
    newly = {r["clip_id"] for r in tight["clips"] if r["status"] == "dropped"} - {
        r["clip_id"] for r in base["clips"] if r["status"] == "dropped"}
    assert newly, "the tightened threshold dropped no clip: the test proves nothing"
    assert all(r["speech_ratio"] < 0.99 and r["reason"] == "no_speech" for r in tight["clips"] if r["clip_id"] in newly)

    loose = run("loosened", {"min_speech_ratio": 0.05})
    s = store_summary(out)
    failed = {r["parent_id"] for r in tight["clips"] if r["dropped_by"] == "speech"}
    still = {r["parent_id"] for r in loose["clips"] if r["dropped_by"] == "speech"}
    # a clip that now passes needs the stages after speech: recomputed; the others re-judged
    assert failed - still and s["candidates_recomputed"] == len(failed - still), s
    assert s["candidates_recomputed"] + s["candidates_rejudged"] == n, s

    run("measurement", {"min_speech_ratio": 0.3, "vad_threshold": 0.7})
    s = store_summary(out)
    assert (s["candidates_recomputed"], s["candidates_rejudged"]) == (n, 0), s
    # resource settings do not change a result: nothing recomputed or re-judged
    run("resources", {"min_speech_ratio": 0.3, "vad_threshold": 0.7, "batch_size": 2}, decode=False)
    s = store_summary(out)
    assert (s["candidates_recomputed"], s["candidates_rejudged"]) == (0, 0), s


def test_a_tightened_quality_threshold_is_rejudged_without_decoding(media, tmp_path, monkeypatch):
    import yaml

    from lipforge.pipeline.run.runners.local import LocalRunner

    files = [media["a"], media["b"]]
    lst = path_list(tmp_path / "lists", files)
    out = tmp_path / "out"

    def config(name: str, quality: dict) -> Path:
        cfg = write_config(tmp_path / f"{name}.yaml", speech={"min_speech_ratio": 0.0})
        body = yaml.safe_load(cfg.read_text())
        body["stages"]["quality"] = {"enabled": True, **quality}
        cfg.write_text(yaml.safe_dump(body))
        return cfg

    base_cfg = config("base", {"laplacian_threshold": 0.0})
    assert curate(out, "--input", str(lst), cfg=base_cfg) == 0
    base = published(out)
    scores = sorted(r["iqa_score"] for r in base["clips"] if r["status"] == "kept")
    assert len(scores) >= 2 and scores[0] < scores[-1]
    tight_cfg = config("tight", {"laplacian_threshold": (scores[0] + scores[-1]) / 2})
    with monkeypatch.context() as m:  # re-judging reads stored scores: no source may be decoded
        m.setattr(LocalRunner, "run", lambda *a, **k: pytest.fail("a source was decoded"))
        assert curate(out, "--input", str(lst), cfg=tight_cfg) == 0
    got = published(out)
    assert got == fresh(tmp_path, files, tight_cfg)
    assert any(r["reason"] == "low_quality" for r in got["clips"])
    s = store_summary(out)
    assert s["candidates_recomputed"] == 0 and s["candidates_rejudged"] == len({r["parent_id"] for r in base["clips"]})


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


def test_rejudge_applies_thresholds_to_stored_rows():
    from lipforge.pipeline.stages.rejudge import UNKNOWN, rejudge
    from lipforge.pipeline.stages.speech import SpeechStage

    class Later:  # a later stage that declares what it measures
        MEASURES = ("sync_conf",)

    def fps(min_ratio, later="l1"):
        return {"global": "g", "stages": [["speech", "s1", {"min_speech_ratio": min_ratio}], ["sync", later, {}]]}

    def stages(min_ratio):
        return {"speech": SpeechStage(SpeechStage.Config(min_speech_ratio=min_ratio)), "sync": Later()}

    kept = {"clip_id": "k", "parent_id": "k", "status": "kept", "reason": None, "dropped_by": None, "speech_ratio": 0.5,
            "sync_conf": 7.0, "shard": None}
    low = {**kept, "clip_id": "d", "parent_id": "d", "status": "dropped", "reason": "no_speech", "dropped_by": "speech",
           "speech_ratio": 0.1, "sync_conf": None}
    out = rejudge([kept], fps(0.3), fps(0.6), stages(0.6)) + rejudge([low], fps(0.3), fps(0.6), stages(0.6))
    prov = stages(0.6)["speech"].provenance().columns()  # re-judged rows name the rule that judged them now
    assert prov["prov_speech_rule"] == "speech_ratio >= 0.6"
    assert out[0] == {**kept, "status": "dropped", "reason": "no_speech", "dropped_by": "speech", "sync_conf": None,
                      **prov}
    assert out[1] == {**low, **prov}
    split = [{**kept, "clip_id": "k-a"}, {**kept, "clip_id": "k-b"}]  # a later stage split the candidate
    assert rejudge(split, fps(0.3), fps(0.6), stages(0.6)) is None  # a fresh run drops it whole
    prov4 = stages(0.4)["speech"].provenance().columns()
    assert rejudge([kept], fps(0.3), fps(0.4), stages(0.4)) == [{**kept, **prov4}]  # still passes, under the new rule
    assert rejudge([low], fps(0.3), fps(0.05), stages(0.05)) is None  # now passes: needs sync
    assert rejudge([kept], fps(0.3), fps(0.4, later="l2"), stages(0.4)) is None  # reaches a changed measurement
    assert rejudge([kept], fps(0.3), fps(0.6, later="l2"), stages(0.6))[0]["reason"] == "no_speech"  # never reaches it
    assert rejudge([{**kept, "speech_ratio": 0.0}], fps(0.3), fps(0.0), stages(0.0)) is None  # UNKNOWN
    assert stages(0.0)["speech"].judge({"speech_ratio": 0.0}) == UNKNOWN
