"""Each adapter reads annotation files written here in its dataset's published layout, over
synthetic videos named the way the dataset's download tools name them; rows without a video
(or otherwise unusable) are listed with a reason."""
from __future__ import annotations

import csv
import json
import shutil

import pyarrow.parquet as pq
import pytest

from lipforge.pipeline.run.curate import list_inputs
from lipforge.pipeline.datasets import make_sources


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 4 s, 128 x 96 synthetic talking head (what each dataset video is copied from)."""
    from lipforge.testing import make_talking_head

    return make_talking_head(tmp_path_factory.mktemp("src") / "t.mp4", seconds=4.0, size=(128, 96), face_px=70).path


def videos(root, clip, *names):
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / n)
    return root


def skipped(out):
    with open(out.with_name(out.stem + ".skipped.csv"), newline="") as f:
        return {r["dataset_key"]: r for r in csv.DictReader(f)}


def test_hdtf_annotion_time_and_crop_wh(tmp_path, clip):
    ann = tmp_path / "HDTF_dataset"
    ann.mkdir()
    (ann / "RD_annotion_time.txt").write_text("Radio11.mp4 00:00-00:02 00:02-00:04\nRadio12.mp4 00:01-00:03\n"
                                               "Radio13.mp4 00:05-00:0x\n")
    (ann / "RD_crop_wh.txt").write_text("Radio11_0.mp4 32 64 0 64\n")  # x w y h: a 64 px window at x=32
    (ann / "WRA_annotion_time.txt").write_text("WRA_Obama_000.mp4 00:01-00:03\n")
    vids = videos(tmp_path / "raw", clip, "RD_Radio11.mp4", "WRA_Obama_000.mp4")  # Radio12 was never downloaded
    out = tmp_path / "hdtf.parquet"
    sources, skip, _ = make_sources("hdtf", ann, vids, out)
    keys = {s["dataset_key"]: s for s in sources}
    assert sorted(keys) == ["RD_Radio11_0", "RD_Radio11_1", "WRA_Obama_000_0"]
    r0 = keys["RD_Radio11_0"]
    assert (r0["start_s"], r0["end_s"], r0["dataset"]) == (0.0, 2.0, "hdtf")
    assert (r0["box_x0"], r0["box_y0"], r0["box_x1"], r0["box_y1"]) == (0.25, 0.0, 0.75, 64 / 96)  # / 128 x 96
    assert keys["RD_Radio11_1"]["box_x0"] is None  # no crop line for clip 1
    listed = skipped(out)
    assert listed["RD_Radio12_0"]["reason"] == "video_missing"
    assert "Radio12" in listed["RD_Radio12_0"]["detail"]
    assert listed["RD_Radio13_0"]["reason"] == "unparsed_entry"
    # the written list is a curate input: two ranges of one file are two sources
    got = list_inputs(str(out))
    assert len(got) == 3 and len({s.path for s in got}) == 2
    assert {s.dataset_key for s in got} == set(keys)


def test_celebv_hq_and_text_info_json(tmp_path, clip):
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
    sources, _, _ = make_sources("celebv-hq", tmp_path / "celebvhq_info.json", vids, out)
    keys = {s["dataset_key"]: s for s in sources}
    a = keys["M2Ohb0FAaJU_1"]
    assert (a["dataset"], a["start_s"], a["end_s"], a["labels"]) == ("celebv_hq", 0.5, 3.25, "neutral")
    assert (a["box_x0"], a["box_y0"], a["box_x1"], a["box_y1"]) == (0.1964, 0.0, 0.6922, 0.8815)
    assert keys["_0tf2n3rlJU_0"]["labels"] == "neutral,happy"
    listed = skipped(out)
    assert listed["gone_0"]["reason"] == "video_missing" and listed["bad_0"]["reason"] == "bad_range"

    # CelebV-Text: boxes in pixels (README), one entry spelling the times start_frame/end_frame
    text = {"clips": {"0-5BrmyFsYM_0": {"ytb_id": "0-5BrmyFsYM", "duration": {"start_sec": 0.0, "end_sec": 2.64},
                                        "bbox": {"top": 0, "bottom": 96, "left": 32, "right": 96}, "version": "v0.1"},
                      "00-30GQl0TM_7": {"ytb_id": "00-30GQl0TM", "duration": {"start_frame": 1.29, "end_frame": 3.88},
                                        "bbox": {"top": 0, "bottom": 48, "left": 0, "right": 64}}}}
    (tmp_path / "celebvtext_info.json").write_text(json.dumps(text))
    vids = videos(tmp_path / "raw_text", clip, "0-5BrmyFsYM.mp4", "00-30GQl0TM.webm")
    sources, skip, _ = make_sources("celebv_text", tmp_path / "celebvtext_info.json", vids, tmp_path / "t.parquet")
    keys = {s["dataset_key"]: s for s in sources}
    assert not skip
    b = keys["0-5BrmyFsYM_0"]
    assert (b["box_x0"], b["box_y0"], b["box_x1"], b["box_y1"]) == (0.25, 0.0, 0.75, 1.0)  # pixels / (128, 96)
    c = keys["00-30GQl0TM_7"]
    assert (c["start_s"], c["end_s"], c["path"].endswith(".webm")) == (1.29, 3.88, True)


def test_ava_speech_keeps_speech_labels(tmp_path, clip):
    (tmp_path / "ava_speech_labels_v1.csv").write_text(
        "-5KQ66BBWC4,0.0,1.5,NO_SPEECH\n-5KQ66BBWC4,1.5,3.9,CLEAN_SPEECH\n"
        "-5KQ66BBWC4,3.9,4.0,SPEECH_WITH_MUSIC\n053oq2xB3oU,0.2,2.0,SPEECH_WITH_NOISE\n"
        "053oq2xB3oU,2.0,3.0,LAUGHTER\n")
    vids = videos(tmp_path / "trainval", clip, "-5KQ66BBWC4.mkv")
    out = tmp_path / "ava.parquet"
    sources, _, _ = make_sources("ava-speech", tmp_path / "ava_speech_labels_v1.csv", vids, out)
    assert [(s["start_s"], s["end_s"], s["labels"]) for s in sorted(sources, key=lambda s: s["start_s"])] == [
        (1.5, 3.9, "CLEAN_SPEECH"), (3.9, 4.0, "SPEECH_WITH_MUSIC")]
    reasons = sorted(r["reason"] for r in skipped(out).values())
    assert reasons == ["not_speech", "unparsed_entry", "video_missing"]


def test_a_video_name_in_two_folders_is_ambiguous(tmp_path, clip):
    (tmp_path / "ava.csv").write_text("X1,0.0,2.0,CLEAN_SPEECH\n")
    vids = videos(tmp_path / "v", clip, "a/X1.mkv", "b/X1.mp4")
    sources, skip, _ = make_sources("ava-speech", tmp_path / "ava.csv", vids, tmp_path / "o.parquet")
    assert not sources and [r["reason"] for r in skip] == ["ambiguous_video"]
    vids = videos(tmp_path / "w", clip, "X1.mkv", "X1.mp4")  # one folder, two containers: mp4 first
    sources, _, _ = make_sources("ava-speech", tmp_path / "ava.csv", vids, tmp_path / "o.parquet")
    assert [s["path"].endswith("X1.mp4") for s in sources] == [True]


def test_vfhq_meta_info(tmp_path, clip):
    meta = tmp_path / "meta_info"
    meta.mkdir()
    body = "Video ID: abcDEF12345\nH: 96\nW: 128\nFPS: 25.0\nFRAME INDEX LANDMARKS\n000025 1 2 3 4\nCROP: 16 8 80 88\n"
    (meta / "Clip+abcDEF12345+P0+C0+F25-75.txt").write_text(body)
    (meta / "Clip+nothere0000+P1+C2+F0-50.txt").write_text(body)
    (meta / "Clip+broken.txt").write_text(body)
    vids = videos(tmp_path / "yt", clip, "abcDEF12345.mp4")
    out = tmp_path / "vfhq.parquet"
    sources, _, _ = make_sources("vfhq", meta, vids, out)
    [s] = sources
    assert (s["dataset_key"], s["start_s"], s["end_s"]) == ("Clip+abcDEF12345+P0+C0+F25-75", 1.0, 3.0)
    assert (s["box_x0"], s["box_y0"], s["box_x1"], s["box_y1"]) == (0.125, 8 / 96, 0.625, 88 / 96)
    listed = skipped(out)
    assert listed["Clip+nothere0000+P1+C2+F0-50"]["reason"] == "video_missing"
    assert listed["Clip+broken"]["reason"] == "unparsed_entry"


def test_multitalk_language_jsons(tmp_path, clip):
    ann = tmp_path / "annotations"
    ann.mkdir()
    seg = lambda vid, a, b: {"youtube_id": vid, "duration": {"start_sec": a, "end_sec": b},  # noqa: E731
                             "bbox": {"top": 0, "bottom": 0.775, "left": 0, "right": 0.4354}, "transcript": "..."}
    (ann / "japanese.json").write_text(json.dumps({"legJntdzhMs_0": {**seg("legJntdzhMs", 0.4, 3.2), "language": "japanese"},
                                                   "legJntdzhMs_1": {**seg("legJntdzhMs", 0.4, 3.2), "language": "japanese"}}))
    (ann / "dutch.json").write_text(json.dumps({"k914yAWIV_A_0": {**seg("k914yAWIV_A", 1.0, 2.5), "language": "dutch"}}))
    # the same youtube id downloaded for two languages: the language folder disambiguates
    vids = videos(tmp_path / "raw_video", clip, "japanese/legJntdzhMs.mp4", "dutch/k914yAWIV_A.mp4",
                  "japanese/k914yAWIV_A.mp4")
    out = tmp_path / "mt.parquet"
    sources, skip, _ = make_sources("multitalk", ann, vids, out)
    keys = {s["dataset_key"]: s for s in sources}
    assert sorted(keys) == ["k914yAWIV_A_0", "legJntdzhMs_0"]
    assert keys["k914yAWIV_A_0"]["labels"] == "dutch" and "/dutch/" in keys["k914yAWIV_A_0"]["path"]
    assert keys["legJntdzhMs_0"]["box_x1"] == 0.4354
    assert [r["reason"] for r in skip] == ["duplicate_range"]  # _1 lists _0's range again
    from lipforge.pipeline.datasets.base import overlapping

    assert overlapping(sources) == 0
    assert overlapping([*sources, {**keys["legJntdzhMs_0"], "start_s": 3.0, "end_s": 3.9}]) == 1


def test_sources_cli_writes_the_list_and_reports_user_errors(tmp_path, clip, capsys):
    from lipforge.cli import main

    (tmp_path / "RD_annotion_time.txt").write_text("Radio11.mp4 00:00-00:02\nRadio12.mp4 00:00-00:02\n")
    vids = videos(tmp_path / "v", clip, "Radio11.mp4")
    out = tmp_path / "s" / "sources.parquet"
    rc = main(["sources", "hdtf", "--annotations", str(tmp_path / "RD_annotion_time.txt"), "--videos", str(vids),
               "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and pq.read_table(out).num_rows == 1
    assert "hdtf: 1 sources" in text and "video_missing" in text and "sources.skipped.csv" in text
    for argv, msg in ((["sources", "hdtf", "--annotations", str(tmp_path / "nope.txt")], "no such file"),
                      (["sources", "nosuch", "--annotations", str(tmp_path)], "unknown dataset"),
                      (["sources", "hdtf", "--annotations", str(tmp_path / "RD_annotion_time.txt"),
                        "--videos", str(tmp_path / "novids")], "not a folder")):
        rc = main([*argv, *([] if "--videos" in argv else ["--videos", str(vids)]), "--out", str(tmp_path / "x.parquet")])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and msg in err and len(err.splitlines()) == 1
