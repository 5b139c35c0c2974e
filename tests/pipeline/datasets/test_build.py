"""From rows to sources: two speakers in one range, true duplicates, bad rows listed instead of
aborting, merging adjacent segments, and what ``lipforge sources`` prints (hours listed, found,
expected yield)."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from lipforge.pipeline.run.curate import list_inputs
from lipforge.pipeline.datasets import make_sources

from tests.pipeline.datasets.files import box, skipped, videos


def seg(vid, a, b, bb=(0, 0.775, 0, 0.4354), lang="arabic"):
    """One MultiTalk entry as its annotations/{language}.json writes it."""
    return {"youtube_id": vid, "duration": {"start_sec": a, "end_sec": b},
            "bbox": dict(zip(("top", "bottom", "left", "right"), bb)), "language": lang, "transcript": "..."}


def test_two_speakers_in_one_range_are_two_sources(tmp_path, clip):
    ann = tmp_path / "annotations"
    ann.mkdir()
    # like arabic yE7BS3RZYwg_59 and _74: one span, two people; _60 repeats _59 (same face, IoU 1)
    (ann / "arabic.json").write_text(json.dumps({
        "yE7BS3RZYwg_59": seg("yE7BS3RZYwg", 0.24, 1.6, (0.05, 0.5, 0.05, 0.4)),
        "yE7BS3RZYwg_74": seg("yE7BS3RZYwg", 0.24, 1.6, (0.1, 0.6, 0.55, 0.95)),
        "yE7BS3RZYwg_60": seg("yE7BS3RZYwg", 0.24, 1.6, (0.05, 0.5, 0.05, 0.4)),
        "yE7BS3RZYwg_61": seg("yE7BS3RZYwg", 0.24, 1.6, (0.06, 0.52, 0.06, 0.42))}))
    vids = videos(tmp_path / "raw_video", clip, "arabic/yE7BS3RZYwg.mp4")
    out = tmp_path / "mt.parquet"
    built, _ = make_sources("multitalk", ann, vids, out)
    keys = {s["dataset_key"]: s for s in built.sources}
    assert sorted(keys) == ["yE7BS3RZYwg_59", "yE7BS3RZYwg_74"]
    a, b = keys["yE7BS3RZYwg_59"], keys["yE7BS3RZYwg_74"]
    assert b["source_id"] == a["source_id"] + "_yE7BS3RZYwg_74" and box(b) == (0.55, 0.1, 0.95, 0.6)
    listed = skipped(out)
    assert {k: r["reason"] for k, r in listed.items()} == {"yE7BS3RZYwg_60": "duplicate_range",
                                                           "yE7BS3RZYwg_61": "duplicate_range"}
    assert "as yE7BS3RZYwg_59" in listed["yE7BS3RZYwg_60"]["detail"]
    assert [s.source_id for s in list_inputs(str(out))] == sorted([a["source_id"], b["source_id"]])
    from lipforge.pipeline.datasets.summary import overlapping

    assert overlapping(built.sources) == 1  # the second speaker's range overlaps the first's


def test_a_bad_row_is_listed_never_an_abort(tmp_path, clip):
    ann = tmp_path / "annotations"
    ann.mkdir()
    (ann / "dutch.json").write_text(json.dumps({
        "k914yAWIV_A_0": seg("k914yAWIV_A", 1.0, 2.5, lang="dutch"),
        "k914yAWIV_A_1": seg("k914yAWIV_A", -0.5, 2.0, lang="dutch"),
        "k914yAWIV_A_2": seg("k914yAWIV_A", 3.0, 2.0, lang="dutch"),
        "k914yAWIV_A_3": seg("k914yAWIV_A", 1.0, 501.0, lang="dutch"),  # 500 s: MultiTalk's longest is 50 s
        "k914yAWIV_A_4": {**seg("k914yAWIV_A", 0.0, 1.0, lang="dutch"), "bbox": {"top": "x"}},
        "k914yAWIV_A_5": seg("k914yAWIV_A", 2.0, 3.0, (0.0, 1.2, 0.5, 1.5), lang="dutch"),
        "k914yAWIV_A_6": seg("k914yAWIV_A", 2.0, 3.5, (0.0, 0.5, 1.1, 1.4), lang="dutch"),
        "k914yAWIV_A_7": {"youtube_id": "k914yAWIV_A", "duration": {"start_sec": "soon"}}}))
    vids = videos(tmp_path / "raw_video", clip, "dutch/k914yAWIV_A.mp4")
    out = tmp_path / "mt.parquet"
    built, _ = make_sources("multitalk", ann, vids, out)
    listed = skipped(out)
    assert {k: r["reason"] for k, r in listed.items()} == {
        "k914yAWIV_A_1": "bad_range", "k914yAWIV_A_2": "bad_range", "k914yAWIV_A_3": "implausible_range",
        "k914yAWIV_A_7": "unparsed_entry"}
    assert "negative start" in listed["k914yAWIV_A_1"]["detail"] and "500.0 s long" in listed["k914yAWIV_A_3"]["detail"]
    warns = {s["dataset_key"]: s["warnings"] for s in built.sources}
    assert warns["k914yAWIV_A_0"] is None
    assert warns["k914yAWIV_A_4"].startswith("bad_box: bbox ")
    assert warns["k914yAWIV_A_5"].startswith("box_clamped: box (0.5, 0, 1.5, 1.2)")
    assert warns["k914yAWIV_A_6"].startswith("box_outside_frame")
    assert box(next(s for s in built.sources if s["dataset_key"] == "k914yAWIV_A_6")) == (None,) * 4


def test_adjacent_segments_merge(tmp_path, clip):
    (tmp_path / "ava.csv").write_text(
        "-5KQ66BBWC4,0.0,1.0,CLEAN_SPEECH\n-5KQ66BBWC4,1.0,1.8,SPEECH_WITH_MUSIC\n-5KQ66BBWC4,1.8,2.5,CLEAN_SPEECH\n"
        "-5KQ66BBWC4,2.5,3.0,NO_SPEECH\n-5KQ66BBWC4,3.0,3.5,CLEAN_SPEECH\n")
    vids = videos(tmp_path / "trainval", clip, "-5KQ66BBWC4.mkv")
    out = tmp_path / "ava.parquet"
    built, _ = make_sources("ava-speech", tmp_path / "ava.csv", vids, out)  # AVA merges touching segments
    got = sorted((s["start_s"], s["end_s"], s["labels"], s["dataset_key"]) for s in built.sources)
    assert got == [(0.0, 2.5, "CLEAN_SPEECH,SPEECH_WITH_MUSIC", "-5KQ66BBWC4@0.00..-5KQ66BBWC4@1.80"),
                   (3.0, 3.5, "CLEAN_SPEECH", "-5KQ66BBWC4@3.00")]
    assert built.merged["ava_speech"] == 2 and len(list_inputs(str(out))) == 2
    built, _ = make_sources("ava-speech", tmp_path / "ava.csv", vids, out, merge_gap=0.5)  # across the 0.5 s gap
    assert [(s["start_s"], s["end_s"]) for s in built.sources] == [(0.0, 3.5)]
    built, _ = make_sources("ava-speech", tmp_path / "ava.csv", vids, out, merge=False)
    assert len(built.sources) == 4

    # any adapter with --merge-gap: one face's pieces join (boxes united), another face's do not
    ann = tmp_path / "annotations"
    ann.mkdir()
    (ann / "german.json").write_text(json.dumps({
        "a_0": seg("wSRj_qVzTAU", 0.4, 1.2, (0.1, 0.5, 0.1, 0.4)),
        "a_1": seg("wSRj_qVzTAU", 1.5, 3.0, (0.12, 0.52, 0.1, 0.4)),
        "b_0": seg("wSRj_qVzTAU", 1.3, 2.0, (0.1, 0.5, 0.6, 0.9))}))
    vids = videos(tmp_path / "raw_video", clip, "german/wSRj_qVzTAU.mp4")
    built, _ = make_sources("multitalk", ann, vids, tmp_path / "mt.parquet", merge_gap=0.5)
    got = sorted((s["dataset_key"], s["start_s"], s["end_s"], box(s)) for s in built.sources)
    assert got == [("a_0..a_1", 0.4, 3.0, (0.1, 0.1, 0.4, 0.52)), ("b_0", 1.3, 2.0, (0.6, 0.1, 0.9, 0.5))]
    with pytest.raises(ValueError, match="--merge-gap must be >= 0"):
        make_sources("multitalk", ann, vids, tmp_path / "mt.parquet", merge_gap=-1.0)


def test_sources_cli_prints_hours_listed_found_and_expected_yield(tmp_path, clip, capsys):
    from lipforge.cli import main

    ann = tmp_path / "RD_annotion_time.txt"
    # 360 s and 1 s found, 180 s not downloaded; the list does not know the video is only 4 s long
    ann.write_text("Radio11.mp4 00:00-06:00\nRadio12.mp4 00:00-03:00\nRadio13.mp4 00:00-00:01\n")
    vids = videos(tmp_path / "v", clip, "Radio11.mp4", "Radio13.mp4")
    out = tmp_path / "s" / "sources.parquet"
    base = ["sources", "hdtf", "--annotations", str(ann), "--videos", str(vids), "--out", str(out)]
    assert main(base) == 0
    text = capsys.readouterr().out
    assert pq.read_table(out).num_rows == 2 and "sources.skipped.csv" in text
    assert "hdtf: 2 sources, 0.100 h; annotations list 0.150 h, videos found for 0.100 h" in text
    assert "expected yield 0.100 h at min_clip_s 2 s (1 sources shorter: 0.000 h too_short)" in text
    assert "2 with a face box" not in text and "no_box" in text and "'video_missing': 1" in text
    (tmp_path / "run.yaml").write_text("segment: {min_clip_s: 0.5}\n")
    assert main([*base, "--config", str(tmp_path / "run.yaml")]) == 0
    assert "at min_clip_s 0.5 s (0 sources shorter" in capsys.readouterr().out
    for argv, msg in ((["sources", "hdtf", "--annotations", str(tmp_path / "nope.txt")], "no such file"),
                      (["sources", "nosuch", "--annotations", str(tmp_path)], "unknown dataset"),
                      (["sources", "hdtf", "--annotations", str(ann), "--merge-gap", "-2"], "--merge-gap must be >= 0"),
                      (["sources", "hdtf", "--annotations", str(ann), "--min-clip-s", "0"], "--min-clip-s must be > 0"),
                      (["sources", "hdtf", "--annotations", str(ann), "--videos", str(tmp_path / "novids")],
                       "not a folder")):
        more = [] if "--videos" in argv else ["--videos", str(vids)]
        rc = main([*argv, *more, "--out", str(tmp_path / "x.parquet")])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and msg in err and len(err.splitlines()) == 1
