"""Per-dataset accounting: hours in and kept per dataset and per stage, in summary.json and the
report, from a curate run over a dataset's sources list."""
from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest
import yaml

from lipforge.pipeline.report.accounting import NO_DATASET, dataset_accounting
from lipforge.pipeline.stages.registry import stage_classes


def _clip(cid, sid, parent, s, e, status="kept", by=None, reason=None):
    return {"clip_id": cid, "source_id": sid, "parent_id": parent, "start_s": s, "end_s": e, "duration_s": e - s,
            "status": status, "dropped_by": by, "reason": reason}


def hrs(seconds: float):
    return pytest.approx(seconds / 3600, abs=1e-6)  # summary hours are rounded to 6 decimals


def test_hours_per_dataset_and_stage_follow_the_rows():
    srcs = [{"source_id": "a", "dataset": "hdtf", "status": "ok", "reason": None, "span_s": 20.0, "duration_s": 100.0},
            {"source_id": "b", "dataset": "ava_speech", "status": "ok", "reason": None, "span_s": 6.0, "duration_s": 9.0},
            {"source_id": "c", "dataset": "ava_speech", "status": "dropped", "reason": "not_found", "span_s": 3.0,
             "duration_s": None},
            {"source_id": "d", "dataset": None, "status": "ok", "reason": None, "span_s": None, "duration_s": 4.0}]
    clips = [_clip("a1", "a", "a1", 0, 1, "dropped", "segment", "too_short"),
             _clip("a2", "a", "a2", 1, 11, "dropped", "speech", "no_speech"),
             # a candidate the face stage split in three: one piece dropped there, one by sync, one kept
             _clip("a3", "a", "a3", 11, 13, "dropped", "faces", "face_missing"),
             _clip("a4", "a", "a3", 13, 16, "dropped", "sync", "out_of_sync"),
             _clip("a5", "a", "a3", 16, 20),
             _clip("b1", "b", "b1", 0, 6),
             _clip("d1", "d", "d1", 0, 4)]
    acc = dataset_accounting(srcs, clips, ["segment", "speech", "faces", "sync"])
    h = acc["hdtf"]
    assert h["hours_in"] == hrs(20) and h["hours_kept"] == hrs(4)
    assert h["hours_candidates"] == hrs(20) and h["clips_kept"] == 1
    flow = {s["stage"]: (round(s["hours_in"] * 3600, 1), round(s["hours_out"] * 3600, 1), s["dropped"])
            for s in h["stages"]}
    assert flow == {"segment": (20, 19, {"too_short": 1}), "speech": (19, 9, {"no_speech": 1}),
                    "faces": (9, 7, {"face_missing": 1}), "sync": (7, 4, {"out_of_sync": 1})}
    a = acc["ava_speech"]
    assert a["sources"] == 2 and a["sources_dropped"] == {"not_found": 1}
    assert a["hours_in"] == hrs(9) and a["stages"][-1]["hours_out"] == hrs(6)
    assert acc[NO_DATASET]["hours_in"] == hrs(4)  # a whole file counts its duration


def test_curate_over_a_dataset_list_accounts_per_dataset(tmp_path, capsys):
    from lipforge.cli import main
    from lipforge.testing import make_talking_head

    vids = tmp_path / "raw"
    vids.mkdir()
    v = make_talking_head(vids / "Radio11.mp4", seconds=4.0, size=(96, 96), face_px=60).path
    shutil.copy(v, vids / "_0tf2n3rlJU.mp4")
    (tmp_path / "RD_annotion_time.txt").write_text("Radio11.mp4 00:00-00:01 00:01-00:04\n")
    (tmp_path / "hq.json").write_text(json.dumps({"clips": {"_0tf2n3rlJU_0": {
        "ytb_id": "_0tf2n3rlJU", "duration": {"start_sec": 0.6, "end_sec": 3.4},
        "bbox": {"top": 0.1, "bottom": 0.9, "left": 0.2, "right": 0.8}}}}))
    lists = []
    for ds, ann in (("hdtf", "RD_annotion_time.txt"), ("celebv-hq", "hq.json")):
        lists.append(tmp_path / f"{ds}.parquet")
        assert main(["sources", ds, "--annotations", str(tmp_path / ann), "--videos", str(vids),
                     "--out", str(lists[-1])]) == 0
    both = tmp_path / "all.csv"  # one input list of both datasets
    import pyarrow as pa

    t = pa.concat_tables([pq.read_table(p) for p in lists])
    import pyarrow.csv as pcsv

    pcsv.write_csv(t, both)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"segment": {"min_clip_s": 1.5, "max_clip_s": 3.0, "scene_detector": "none",
                                               "work_max_side": 96},
                                   "stages": {n: {"enabled": False} for n in stage_classes()}}))
    out = tmp_path / "corpus"
    assert main(["curate", "--input", str(both), "--output", str(out), "--config", str(cfg), "--runner", "local"]) == 0
    printed = capsys.readouterr().out
    assert "  hdtf: 2 sources, 4.0 s in, 3.0 s kept (75%)" in printed and "  celebv_hq: 1 sources" in printed
    summary = json.loads((out / "summary.json").read_text())
    hd, hq = summary["datasets"]["hdtf"], summary["datasets"]["celebv_hq"]
    assert hd["sources"] == 2 and hd["hours_in"] == pytest.approx(4 / 3600, abs=0.05 / 3600)
    assert hq["sources"] == 1 and hq["hours_in"] == pytest.approx(2.8 / 3600, abs=0.05 / 3600)
    # HDTF's 1 s range is a candidate too short to keep; its 3 s range and CelebV's 2.8 s are kept
    assert hd["hours_kept"] == pytest.approx(3 / 3600, abs=0.05 / 3600) and hd["stages"][0]["dropped"] == {"too_short": 1}
    assert hq["hours_kept"] == pytest.approx(2.8 / 3600, abs=0.05 / 3600)
    assert summary["sources"]["hours_in"] == pytest.approx(6.8 / 3600, abs=0.05 / 3600)  # ranges, not 3 x 4 s files
    src = pq.read_table(out / "manifests" / "sources.parquet").to_pylist()
    assert sorted((r["dataset"], r["start_s"], r["end_s"]) for r in src) == [
        ("celebv_hq", 0.6, 3.4), ("hdtf", 0.0, 1.0), ("hdtf", 1.0, 4.0)]
    hq_src = next(r for r in src if r["dataset"] == "celebv_hq")
    assert (hq_src["dataset_key"], hq_src["box_x0"], hq_src["box_y1"]) == ("_0tf2n3rlJU_0", 0.2, 0.9)
    clips = pq.read_table(out / "manifests" / "clips.parquet").to_pylist()
    rng = {r["source_id"]: (r["start_s"], r["end_s"]) for r in src}
    for c in clips:  # every clip lies inside its source's range, in the file's timeline
        a, b = rng[c["source_id"]]
        assert a - 1e-9 <= c["start_s"] < c["end_s"] <= b + 0.04 and c["dataset"] in ("hdtf", "celebv_hq")
    kept_hq = [c for c in clips if c["dataset"] == "celebv_hq" and c["status"] == "kept"]
    assert kept_hq and kept_hq[0]["start_s"] == pytest.approx(0.6) and kept_hq[0]["dataset_box"] == [0.2, 0.1, 0.8, 0.9]
    report = (out / "report.html").read_text()
    assert "Per dataset" in report and "celebv_hq" in report
