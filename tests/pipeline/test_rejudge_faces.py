"""Thresholds of the face stage (min_face_px, min_clip_s) are re-judged from the stored piece rows
without decoding, the columns of the stages after it cleared as a fresh run leaves them; a
loosened one recomputes exactly the candidates it lets back, a changed track parameter every
candidate. Every time the published corpus equals a fresh run's, byte for byte."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lipforge.testing.corpus import curate, curate_checked, fresh, last_fresh, path_list, published, stage_config, stage_counts


@pytest.fixture(scope="module")
def heads(tmp_path_factory) -> list[Path]:
    """Two 5 s heads (clips of 2.52 s and 2.48 s) whose detected faces are 103 and 148 px tall."""
    from lipforge.testing import make_talking_head

    d = tmp_path_factory.mktemp("faces-in")
    return [Path(make_talking_head(d / "u.mp4", seconds=5.0, size=(160, 160), face_px=80, seed=5).path),
            Path(make_talking_head(d / "v.mp4", seconds=5.0, size=(160, 160), face_px=130, seed=6).path)]


@pytest.mark.slow
def test_face_thresholds_rejudge_without_decoding(heads, tmp_path, monkeypatch):
    lst = path_list(tmp_path / "lists", heads)
    out = tmp_path / "out"

    def run(name: str, faces: dict, decode: bool = True, want: dict | str | None = "fresh") -> tuple[dict, dict]:
        cfg = stage_config(tmp_path / f"{name}.yaml", {"speech": {"min_speech_ratio": 0.0}, "faces": faces,
                                                       "landmarks": {}, "crop": {"crop_size": 256}})
        got = curate_checked(out, lst, heads, cfg, tmp_path, monkeypatch, name, decode, want)
        return got, json.loads((out / "summary.json").read_text())["store"]

    loose = {"min_face_px": 20.0, "min_clip_s": 1.0}
    base, _ = run("base", loose, want=None)  # a fresh run itself
    rows = base["clips"]
    n = len(rows)
    assert n == 4 and all(r["status"] == "kept" and r["landmark_backend"] == "dlib" for r in rows)
    by_head: dict[str, list[float]] = {}
    for r in rows:  # each clip's own landmark box: the two clips of a head differ by a pixel or so
        by_head.setdefault(r["clip_id"][0], []).append(r["face_max_px"])
    assert max(by_head["u"]) < min(by_head["v"]), by_head

    small = {**loose, "min_face_px": (max(by_head["u"]) + min(by_head["v"])) / 2}
    got, s = run("min-face-px", small, decode=False)
    assert (s["candidates_rejudged"], s["candidates_recomputed"]) == (n, 0), s
    too_small = [r for r in got["clips"] if r["reason"] == "face_too_small"]
    assert len(too_small) == 2 and all(r["clip_id"].startswith("u") for r in too_small)
    # the stages after faces never saw them in a fresh run: their columns are null
    assert all(r["landmark_backend"] is None and r["prov_landmarks_rule"] is None and r["face_backend"] == "blazeface"
               for r in too_small)

    durations = sorted({r["duration_s"] for r in rows})
    short = {**small, "min_clip_s": sum(durations) / 2}
    got, s = run("min-clip-s", short, decode=False)
    assert s["candidates_recomputed"] == 0, s
    reasons = sorted((r["clip_id"][0], r["duration_s"], r["reason"]) for r in got["clips"])
    # the short small-face clip is dropped for its length now (the first check), like a fresh run does
    assert reasons == [("u", durations[0], "too_short"), ("u", durations[1], "face_too_small"),
                       ("v", durations[0], "too_short"), ("v", durations[1], None)], reasons

    dropped = {r["parent_id"] for r in got["clips"] if r["dropped_by"] == "faces"}
    _, s = run("loosened", loose, want=base)
    assert (s["candidates_recomputed"], s["candidates_rejudged"]) == (len(dropped), n - len(dropped)) == (3, 1), s

    _, s = run("max-gap", {**loose, "max_gap": 3})  # how tracks are cut: a measurement
    assert (s["candidates_recomputed"], s["candidates_rejudged"]) == (n, 0), s


@pytest.mark.slow
def test_a_candidate_faces_cut_is_rejudged_per_piece_or_dropped_whole(heads, tmp_path, monkeypatch):
    """The face vanishes for 15 frames: faces cuts the candidate into three pieces. A tightened
    face threshold judges each piece; a tightened speech threshold (before faces) drops the
    candidate whole, as one row, as a fresh run does. Neither decodes."""
    from lipforge.pipeline.run.runners.local import LocalRunner
    from lipforge.testing import make_talking_head

    g = Path(make_talking_head(tmp_path / "in" / "g.mp4", seconds=3.0, size=(160, 160), face_px=130, seed=7,
                               no_face=(30, 45)).path)
    files = [g, heads[1]]
    lst = path_list(tmp_path / "lists", files)
    out = tmp_path / "out"

    def run(name: str, speech: float, faces: dict, decode: bool = True) -> tuple[list[dict], dict]:
        cfg = stage_config(tmp_path / f"{name}.yaml", {"speech": {"min_speech_ratio": speech}, "faces": faces,
                                                       "landmarks": {}, "crop": {"crop_size": 256}},
                           segment={"scene_detector": "none"})  # the grey frames are no scene cut
        with monkeypatch.context() as m:
            if not decode:
                m.setattr(LocalRunner, "run", lambda *a, **k: pytest.fail(f"{name}: a source was decoded"))
            assert curate(out, "--input", str(lst), cfg=cfg) == 0
        got = published(out)
        if decode is False:
            assert got == fresh(tmp_path, files, cfg), name
            assert stage_counts(out) == stage_counts(last_fresh(tmp_path)), name
        return [r for r in got["clips"] if r["source_id"].startswith("g")], \
            json.loads((out / "summary.json").read_text())["store"]

    faces = {"min_face_px": 20.0, "min_clip_s": 1.0, "detect_every": 1}  # the gap ends exactly at frame 45
    rows, _ = run("base", 0.0, faces)
    assert [(r["start_frame"], r["end_frame"], r["reason"]) for r in rows] == [(0, 30, None), (30, 45, "face_missing"),
                                                                               (45, 75, None)]
    rows, s = run("pieces", 0.0, {**faces, "min_clip_s": 1.5}, decode=False)
    assert [r["reason"] for r in rows] == ["too_short", "face_missing", "too_short"] and s["candidates_recomputed"] == 0
    ratio = rows[0]["speech_ratio"]
    assert ratio < 1.0
    rows, s = run("speech", (ratio + 1.0) / 2, {**faces, "min_clip_s": 1.5}, decode=False)
    assert [(r["clip_id"], r["start_frame"], r["end_frame"], r["dropped_by"], r["face_backend"]) for r in rows] == \
        [(rows[0]["parent_id"], 0, 75, "speech", None)]
    assert s["candidates_recomputed"] == 0
