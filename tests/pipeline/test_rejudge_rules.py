"""Which config fields are thresholds (re-judged from stored rows) and which are measurements
(recomputed), and what rejudge() makes of a stored row of the faces, asd and sync stages."""
from __future__ import annotations

import dataclasses

import pytest

from lipforge.pipeline.store.fingerprint import stage_fingerprint, stage_thresholds
from lipforge.pipeline.stages.rejudge import UNKNOWN, rejudge


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from lipforge.testing.av_models import tiny_av_weights

    return tiny_av_weights(tmp_path_factory.mktemp("w"))


def _stages(weights, faces=None, asd=None, sync=None) -> dict:
    from lipforge.pipeline.stages.asd import ActiveSpeakerStage
    from lipforge.pipeline.stages.faces import FaceDetectStage
    from lipforge.pipeline.stages.sync import SyncStage

    return {"faces": FaceDetectStage(FaceDetectStage.Config(**{"backend": "dlib", "min_face_px": 100.0, **(faces or {})})),
            "asd": ActiveSpeakerStage(ActiveSpeakerStage.Config(**{"weights": str(weights["light_asd"]), "threshold": 0.0,
                                                                   **(asd or {})})),
            "sync": SyncStage(SyncStage.Config(**{"backend": "syncnet", "syncnet_weights": str(weights["syncnet"]),
                                                  "min_conf": 1.0, "max_offset": 4, **(sync or {})}))}


def _fps(stages: dict) -> dict:
    return {"global": "g", "stages": [[n, stage_fingerprint(s), stage_thresholds(s)] for n, s in stages.items()]}


def _row(cid: str, parent: str, start: int, end: int, **kw) -> dict:
    row = {"clip_id": cid, "parent_id": parent, "start_frame": start, "end_frame": end, "duration_s": (end - start) / 25,
           "status": "kept", "reason": None, "dropped_by": None, "shard": "shards/x.tar", "face_backend": "dlib",
           "face_max_px": 150.0, "asd_score": 1.0, "asd_scale": "raw", "sync_backend": "syncnet", "sync_offset": 2,
           "sync_conf": 5.0, "sync_min_dist": 7.0, "audio_shift_s": 0.08, "prov_sync_rule": "old"}
    row.update(kw)
    return row


@pytest.mark.parametrize("stage,field,value,kind", [
    ("sync", "min_conf", 2.0, "threshold"), ("sync", "max_offset", 2, "threshold"),
    ("sync", "vshift", 8, "measurement"), ("asd", "threshold", 1.0, "threshold"),
    ("asd", "window_s", (1, 2), "measurement"), ("asd", "scale", "prob", "measurement"),
    ("faces", "min_face_px", 200.0, "threshold"), ("faces", "min_clip_s", 3.0, "threshold"),
    ("faces", "dataset_box_min_overlap", 0.9, "threshold"), ("faces", "max_gap", 2, "measurement"),
    ("faces", "jump_threshold", 0.5, "measurement"), ("faces", "detect_every", 2, "measurement"),
    ("faces", "blazeface_track_every", 1, "measurement"),
    ("faces", "dataset_box_seed", True, "measurement")])
def test_thresholds_and_measurements_are_told_apart(weights, stage, field, value, kind):
    """A threshold changes only the thresholds entry; anything else changes the fingerprint."""
    a = _stages(weights)[stage]
    b = type(a)(dataclasses.replace(a.config, **{field: value}))
    changed = (stage_fingerprint(a) != stage_fingerprint(b), stage_thresholds(a) != stage_thresholds(b))
    assert changed == ((False, True) if kind == "threshold" else (True, False))


def test_sync_rows_tightened_loosened_and_a_new_reason(weights):
    old = _stages(weights)
    new = _stages(weights, sync={"min_conf": 6.0})
    kept, far = _row("k", "k", 0, 50), _row("f", "f", 0, 50, status="dropped", reason="av_offset_too_large",
                                          dropped_by="sync", sync_offset=9, audio_shift_s=None, shard=None)
    (k,) = rejudge([kept], _fps(old), _fps(new), new)
    # a fresh run drops it at the confidence check: measured columns stay, the applied shift does not
    assert (k["status"], k["reason"], k["dropped_by"], k["shard"], k["audio_shift_s"], k["sync_conf"]) == \
        ("dropped", "av_unsynced", "sync", None, None, 5.0)
    assert k["prov_sync_rule"] == new["sync"].provenance().rule
    (f,) = rejudge([far], _fps(old), _fps(new), new)  # still dropped by sync, now by its first check
    assert (f["reason"], f["sync_offset"]) == ("av_unsynced", 9)
    wide = _stages(weights, sync={"max_offset": 10})
    assert rejudge([far], _fps(old), _fps(wide), wide) is None  # now passes: its audio must be shifted
    assert rejudge([kept], _fps(old), _fps(wide), wide)[0]["status"] == "kept"
    assert rejudge([{**kept, "sync_backend": "offline"}], _fps(old), _fps(new), new) is None  # UNKNOWN
    assert new["sync"].judge({"sync_backend": "syncnet", "sync_conf": float("nan"), "sync_offset": 0}) == "av_unsynced"


def test_asd_drop_clears_the_sync_columns(weights):
    old, new = _stages(weights), _stages(weights, asd={"threshold": 2.0})
    (r,) = rejudge([_row("k", "k", 0, 50)], _fps(old), _fps(new), new)
    assert (r["reason"], r["dropped_by"], r["asd_score"]) == ("not_speaking", "asd", 1.0)
    assert all(r[c] is None for c in ("sync_backend", "sync_offset", "sync_conf", "sync_min_dist", "audio_shift_s",
                                      "prov_sync_rule"))
    assert new["asd"].judge({"asd_score": 3.0, "asd_scale": "prob"}) == UNKNOWN  # measured on another scale


def test_pieces_a_face_stage_cut_are_judged_one_by_one(weights):
    """faces split a candidate in two: a later threshold judges each piece; an earlier stage that
    now fails drops the candidate whole, before the split, as a fresh run does."""
    from lipforge.pipeline.stages.speech import SpeechStage

    old = _stages(weights)
    a = _row("c", "c", 0, 60, face_max_px=150.0, sync_conf=5.0, speech_ratio=0.9)
    b = _row("c2", "c", 60, 110, face_max_px=120.0, sync_conf=2.0, speech_ratio=0.9)
    new = _stages(weights, sync={"min_conf": 3.0})
    got = rejudge([a, b], _fps(old), _fps(new), new)
    assert [(r["clip_id"], r["status"], r["reason"]) for r in got] == [("c", "kept", None), ("c2", "dropped", "av_unsynced")]
    new = _stages(weights, faces={"min_face_px": 130.0, "min_clip_s": 2.2})
    got = rejudge([a, b], _fps(old), _fps(new), new)
    assert [(r["clip_id"], r["reason"]) for r in got] == [("c", None), ("c2", "too_short")]  # 50 frames < 2.2 s
    assert got[1]["sync_conf"] is None and got[1]["face_max_px"] == 120.0

    def with_speech(st, ratio):
        return {"speech": SpeechStage(SpeechStage.Config(min_speech_ratio=ratio)), **st}

    o, n = with_speech(old, 0.3), with_speech(old, 0.95)
    (one,) = rejudge([a, b], _fps(o), _fps(n), n)  # a fresh run never splits it: one candidate row
    assert (one["clip_id"], one["start_frame"], one["end_frame"], one["duration_s"], one["dropped_by"]) == \
        ("c", 0, 110, 4.4, "speech")
    assert one["face_max_px"] is None and one["sync_conf"] is None and one["speech_ratio"] == 0.9
    # the first piece has no face (dropped at faces), the next went through every stage
    gap = _row("c", "c", 0, 20, status="dropped", reason="face_missing", dropped_by="faces", face_max_px=None,
               asd_score=None, asd_scale=None, sync_backend=None, sync_offset=None, sync_conf=None,
               sync_min_dist=None, audio_shift_s=None, prov_sync_rule=None, speech_ratio=0.9, shard=None)
    (one,) = rejudge([gap, {**b, "clip_id": "c-20", "start_frame": 20, "duration_s": 3.6}], _fps(o), _fps(n), n)
    assert (one["clip_id"], one["end_frame"], one["reason"], one["asd_score"]) == ("c", 110, "no_speech", None)
    odd = {**b, "dataset": "other"}  # a column the pieces disagree on, that no later stage wrote
    assert rejudge([a, odd], _fps(o), _fps(n), n) is None
    (whole,) = rejudge([a], _fps(o), _fps(n), n)  # not split: dropped by speech, later columns cleared
    assert (whole["dropped_by"], whole["face_max_px"], whole["face_backend"]) == ("speech", None, None)


def test_a_piece_without_a_face_stays_face_missing(weights):
    st = _stages(weights)["faces"]
    assert st.judge({"face_backend": "dlib", "face_max_px": None, "duration_s": 1.0, "start_frame": 0,
                     "end_frame": 25}) == "face_missing"
    assert st.judge({"face_backend": "ultralytics", "face_max_px": 300.0, "duration_s": 1.0}) == UNKNOWN
