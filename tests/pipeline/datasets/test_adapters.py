"""Each adapter reads annotation lines written here in the layout of the file users download
(the lines are written by hand in that layout, no published file is copied), over synthetic
videos named the way the dataset's download tools name them; rows without a video (or
otherwise unusable) are listed with a reason, and odd boxes are warnings on their source."""
from __future__ import annotations

import json

import pytest

from lipforge.pipeline.run.curate import list_inputs
from lipforge.pipeline.datasets import make_sources
from tests.pipeline.datasets.files import box, skipped, videos


def hdtf_files(ann, resolution=True):
    ann.mkdir(exist_ok=True)
    (ann / "RD_annotion_time.txt").write_text("Radio11.mp4 00:00-00:02 00:02-00:04\nRadio12.mp4 00:01-00:03\n"
                                               "Radio13.mp4 00:05-00:0x\nRadio14.mp4\n")
    # x w y h in pixels of the 720 px high reference download; Radio11_1 has no crop line
    (ann / "RD_crop_wh.txt").write_text("Radio11_0.mp4 240 480 0 480\nRadio12_0.mp4 700 400 0 400\n")
    if resolution:
        (ann / "RD_resolution.txt").write_text("Radio11.mp4 720\nRadio12.mp4 720\nRadio13.mp4 1080\n")
    # a typo like WRA MittRomney's "08:10-08:30 00:33-08:53"; a resolution of 0 as for KevinMcCarthy1
    (ann / "WRA_annotion_time.txt").write_text("WRA_Obama_000.mp4 00:01-00:03\n"
                                                "MittRomney.mp4 00:01-00:02 00:00-00:03\n")
    (ann / "WRA_crop_wh.txt").write_text("WRA_Obama_000_0.mp4 0 360 0 360\nMittRomney_0.mp4 0 360 0 360\n")
    if resolution:
        (ann / "WRA_resolution.txt").write_text("WRA_Obama_000.mp4 0\nMittRomney.mp4 720\n")
    return ann


def test_hdtf_crops_are_pixels_of_the_reference_resolution(tmp_path, clip, clip_large):
    ann = hdtf_files(tmp_path / "HDTF_dataset")
    vids = videos(tmp_path / "raw", clip, "RD_Radio11.mp4", "WRA_Obama_000.mp4", "MittRomney.mp4")
    videos(vids, clip_large, "Radio12.mp4")  # downloaded at another size than the others
    out = tmp_path / "hdtf.parquet"
    built, _ = make_sources("hdtf", ann, vids, out)
    keys = {s["dataset_key"]: s for s in built.sources}
    assert sorted(keys) == ["RD_Radio11_0", "RD_Radio11_1", "RD_Radio12_0", "WRA_MittRomney_0", "WRA_Obama_000_0"]
    r0 = keys["RD_Radio11_0"]
    assert (r0["start_s"], r0["end_s"], r0["dataset"]) == (0.0, 2.0, "hdtf")
    # the 720 px reference of a 4:3 video is 960 x 720, whatever size was downloaded
    assert box(r0) == pytest.approx((0.25, 0.0, 0.75, 480 / 720)) and r0["warnings"] is None
    big = videos(tmp_path / "raw_big", clip_large, "RD_Radio11.mp4")  # the same video downloaded at 256 x 192
    again, _ = make_sources("hdtf", ann, big, tmp_path / "big.parquet")
    assert box(next(s for s in again.sources if s["dataset_key"] == "RD_Radio11_0")) == pytest.approx(box(r0))
    r12 = keys["RD_Radio12_0"]  # 256 x 192 download: the same reference, and 700 + 400 > 960 does not fit
    assert box(r12) == pytest.approx((700 / 960, 0.0, 1.0, 400 / 720))
    assert r12["warnings"].startswith("box_clamped: ") and "960x720 reference frame" in r12["warnings"]
    assert box(keys["RD_Radio11_1"]) == (None,) * 4
    assert keys["RD_Radio11_1"]["warnings"] == "no_box: no Radio11_1 line in RD_crop_wh.txt"
    obama = keys["WRA_Obama_000_0"]  # resolution 0: the download's own pixels, and it says so
    assert box(obama) == (0.0, 0.0, 1.0, 1.0) and "box_clamped" in obama["warnings"]
    assert "box_reference_assumed: no usable WRA_Obama_000 line in WRA_resolution.txt (got '0')" in obama["warnings"]
    listed = skipped(out)
    assert listed["WRA_MittRomney_1"]["reason"] == "implausible_range"
    assert "starts before the previous range" in listed["WRA_MittRomney_1"]["detail"]
    assert listed["RD_Radio13_0"]["reason"] == "unparsed_entry"
    assert listed["RD_Radio14"]["reason"] == "unparsed_entry" and "no time range" in listed["RD_Radio14"]["detail"]
    # the written list is a curate input: two ranges of one file are two sources
    got = list_inputs(str(out))
    assert len(got) == 5 and len({s.path for s in got}) == 4
    assert {s.dataset_key for s in got} == set(keys)


def test_hdtf_without_resolution_files_says_which_reference_it_assumed(tmp_path, clip):
    ann = tmp_path / "HDTF_dataset"
    ann.mkdir()
    (ann / "RD_annotion_time.txt").write_text("Radio11.mp4 00:00-00:02\n")
    (ann / "RD_crop_wh.txt").write_text("Radio11_0.mp4 32 64 0 64\n")
    vids = videos(tmp_path / "raw", clip, "RD_Radio11.mp4")
    built, _ = make_sources("hdtf", ann, vids, tmp_path / "h.parquet")
    [r0] = built.sources
    assert box(r0) == (0.25, 0.0, 0.75, 64 / 96)  # pixels of the 128 x 96 download itself
    assert r0["warnings"] == ("box_reference_assumed: no RD_resolution.txt; crop pixels taken as the downloaded "
                              "file's own")


def test_celebv_text_real_layout_and_readme_form(tmp_path, clip):
    # the downloaded celebvtext_info.json: clip file name -> entry at the top level, normalized boxes
    entry = lambda vid, a, b, bb, name: {"meta_video_names": name, "ytb_id": vid,  # noqa: E731
                                         "duration": {"start_sec": a, "end_sec": b},
                                         "bbox": dict(zip(("top", "bottom", "left", "right"), bb)), "version": "v0.11"}
    text = {"oC9r-CTbToE_0_0.mp4": entry("oC9r-CTbToE", 0.5, 3.5, (0.0, 0.9369, 0.2, 0.775), "oC9r-CTbToE_0"),
            "oC9r-CTbToE_0_1.mp4": entry("oC9r-CTbToE", 0.5, 3.5, (0.0, 0.9369, 0.2, 0.775), "oC9r-CTbToE_0"),
            "WDapzpFJ50U_2_0.mp4": entry("WDapzpFJ50U", 1.0, 3.67, (0.0, 0.757, 0.3372, 0.802), "WDapzpFJ50U_2"),
            "gone_0_0.mp4": entry("gone", 0.0, 2.0, (0, 1, 0, 1), "gone_0")}
    del text["WDapzpFJ50U_2_0.mp4"]["bbox"]
    (tmp_path / "celebvtext_info.json").write_text(json.dumps(text, indent=2))
    vids = videos(tmp_path / "raw", clip, "oC9r-CTbToE.mp4", "WDapzpFJ50U.mp4")
    out = tmp_path / "t.parquet"
    built, _ = make_sources("celebv-text", tmp_path / "celebvtext_info.json", vids, out)
    keys = {s["dataset_key"]: s for s in built.sources}
    assert sorted(keys) == ["WDapzpFJ50U_2_0.mp4", "oC9r-CTbToE_0_0.mp4"]
    a = keys["oC9r-CTbToE_0_0.mp4"]
    assert (a["dataset"], a["start_s"], a["end_s"], box(a)) == ("celebv_text", 0.5, 3.5, (0.2, 0.0, 0.775, 0.9369))
    assert keys["WDapzpFJ50U_2_0.mp4"]["warnings"] == "no_box: the entry has no bbox"
    listed = skipped(out)
    assert listed["oC9r-CTbToE_0_1.mp4"]["reason"] == "duplicate_range"  # same range, same box
    assert listed["gone_0_0.mp4"]["reason"] == "video_missing"
    assert "celebvtext_info.json:['oC9r-CTbToE_0_1.mp4']" == listed["oC9r-CTbToE_0_1.mp4"]["where"]

    # the README's form: a clips wrapper, a pixel box, times spelled start_frame/end_frame
    readme = {"clips": {"0-5BrmyFsYM_0": {"ytb_id": "0-5BrmyFsYM", "duration": {"start_sec": 0.0, "end_sec": 2.64},
                                          "bbox": {"top": 0, "bottom": 96, "left": 32, "right": 96}, "version": "v0.1"},
                        "00-30GQl0TM_7": {"ytb_id": "00-30GQl0TM", "duration": {"start_frame": 1.29, "end_frame": 3.88},
                                          "bbox": {"top": 0, "bottom": 48, "left": 0, "right": 64}}}}
    (tmp_path / "readme_info.json").write_text(json.dumps(readme))
    vids = videos(tmp_path / "raw_text", clip, "0-5BrmyFsYM.mp4", "00-30GQl0TM.webm")
    built, _ = make_sources("celebv_text", tmp_path / "readme_info.json", vids, tmp_path / "r.parquet")
    keys = {s["dataset_key"]: s for s in built.sources}
    assert not built.skipped
    assert box(keys["0-5BrmyFsYM_0"]) == (0.25, 0.0, 0.75, 1.0)  # pixels / (128, 96)
    c = keys["00-30GQl0TM_7"]
    assert (c["start_s"], c["end_s"], c["path"].endswith(".webm")) == (1.29, 3.88, True)

    (tmp_path / "other.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="clip id -> entry"):
        make_sources("celebv-text", tmp_path / "other.json", vids, tmp_path / "o.parquet")


def test_celebv_hq_info_json(tmp_path, clip):
    hq = {"meta_info": {"appearance_mapping": ["Blurry"]}, "clips": {
        "M2Ohb0FAaJU_1": {"ytb_id": "M2Ohb0FAaJU", "duration": {"start_sec": 0.5, "end_sec": 3.25},
                          "bbox": {"top": 0.0, "bottom": 0.8815, "left": 0.1964, "right": 0.6922},
                          "attributes": {"appearance": [0], "action": [0],
                                         "emotion": {"sep_flag": False, "labels": "neutral"}}, "version": "v0.1"},
        "_0tf2n3rlJU_0": {"ytb_id": "_0tf2n3rlJU", "duration": {"start_sec": 1.0, "end_sec": 3.0},
                          "bbox": {"top": 0.0, "bottom": 0.84, "left": 0.52, "right": 1.0},
                          "attributes": {"emotion": {"sep_flag": True, "labels": [
                              {"emotion": "neutral", "start_sec": 0, "end_sec": 0.28},
                              {"emotion": "happy", "start_sec": 1.28, "end_sec": 3.28}]}}, "version": "v0.1"},
        "gone_0": {"ytb_id": "gone", "duration": {"start_sec": 0.0, "end_sec": 2.0},
                   "bbox": {"top": 0, "bottom": 1, "left": 0, "right": 1}},
        "bad_0": {"ytb_id": "M2Ohb0FAaJU", "duration": {"start_sec": 3.0, "end_sec": 1.0}}}}
    (tmp_path / "celebvhq_info.json").write_text(json.dumps(hq))
    vids = videos(tmp_path / "raw", clip, "M2Ohb0FAaJU.mp4", "_0tf2n3rlJU.mp4")
    out = tmp_path / "hq.parquet"
    built, _ = make_sources("celebv-hq", tmp_path / "celebvhq_info.json", vids, out)
    keys = {s["dataset_key"]: s for s in built.sources}
    a = keys["M2Ohb0FAaJU_1"]
    assert (a["dataset"], a["start_s"], a["end_s"], a["labels"]) == ("celebv_hq", 0.5, 3.25, "neutral")
    assert box(a) == (0.1964, 0.0, 0.6922, 0.8815)
    assert keys["_0tf2n3rlJU_0"]["labels"] == "neutral,happy"
    listed = skipped(out)
    assert listed["gone_0"]["reason"] == "video_missing" and listed["bad_0"]["reason"] == "bad_range"


def test_ava_speech_keeps_speech_labels(tmp_path, clip):
    (tmp_path / "ava_speech_labels_v1.csv").write_text(
        "-5KQ66BBWC4,0.0,1.5,NO_SPEECH\n-5KQ66BBWC4,1.5,3.9,CLEAN_SPEECH\n"
        "-5KQ66BBWC4,3.95,4.0,SPEECH_WITH_MUSIC\n053oq2xB3oU,0.2,2.0,SPEECH_WITH_NOISE\n"
        "053oq2xB3oU,2.0,3.0,LAUGHTER\n")
    vids = videos(tmp_path / "trainval", clip, "-5KQ66BBWC4.mkv")
    out = tmp_path / "ava.parquet"
    built, _ = make_sources("ava-speech", tmp_path / "ava_speech_labels_v1.csv", vids, out)
    assert [(s["start_s"], s["end_s"], s["labels"]) for s in sorted(built.sources, key=lambda s: s["start_s"])] == [
        (1.5, 3.9, "CLEAN_SPEECH"), (3.95, 4.0, "SPEECH_WITH_MUSIC")]  # 0.05 s apart: not merged by default
    reasons = sorted(r["reason"] for r in skipped(out).values())
    assert reasons == ["not_speech", "unparsed_entry", "video_missing"]


def test_a_video_name_in_two_folders_is_ambiguous(tmp_path, clip):
    (tmp_path / "ava.csv").write_text("X1,0.0,2.0,CLEAN_SPEECH\n")
    vids = videos(tmp_path / "v", clip, "a/X1.mkv", "b/X1.mp4")
    built, _ = make_sources("ava-speech", tmp_path / "ava.csv", vids, tmp_path / "o.parquet")
    assert not built.sources and [r["reason"] for r in built.skipped] == ["ambiguous_video"]
    vids = videos(tmp_path / "w", clip, "X1.mkv", "X1.mp4")  # one folder, two containers: mp4 first
    built, _ = make_sources("ava-speech", tmp_path / "ava.csv", vids, tmp_path / "o.parquet")
    assert [s["path"].endswith("X1.mp4") for s in built.sources] == [True]


def test_vfhq_meta_info(tmp_path, clip):
    meta = tmp_path / "meta_info"
    meta.mkdir()
    body = "Video ID: abcDEF12345\nH: 96\nW: 128\nFPS: 25.0\nFRAME INDEX LANDMARKS\n000025 1 2 3 4\nCROP: 16 8 80 88\n"
    (meta / "Clip+abcDEF12345+P0+C0+F25-75.txt").write_text(body)
    (meta / "Clip+abcDEF12345+P1+C0+F25-75.txt").write_text(body.replace("CROP: 16 8 80 88", "CROP: 90 8 150 88"))
    (meta / "Clip+nothere0000+P1+C2+F0-50.txt").write_text(body)
    (meta / "Clip+broken.txt").write_text(body)
    vids = videos(tmp_path / "yt", clip, "abcDEF12345.mp4")
    out = tmp_path / "vfhq.parquet"
    built, _ = make_sources("vfhq", meta, vids, out)
    p0, p1 = sorted(built.sources, key=lambda s: s["dataset_key"])
    assert (p0["dataset_key"], p0["start_s"], p0["end_s"]) == ("Clip+abcDEF12345+P0+C0+F25-75", 1.0, 3.0)
    assert box(p0) == (0.125, 8 / 96, 0.625, 88 / 96)
    # person 1 in the same frames is a second source; its crop runs past W = 128
    assert box(p1) == (90 / 128, 8 / 96, 1.0, 88 / 96) and p1["warnings"].startswith("box_clamped")
    assert p1["source_id"] == p0["source_id"] + "_Clip_abcDEF12345_P1_C0_F25_75"
    listed = skipped(out)
    assert listed["Clip+nothere0000+P1+C2+F0-50"]["reason"] == "video_missing"
    assert listed["Clip+broken"]["reason"] == "unparsed_entry"
