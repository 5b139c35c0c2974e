"""Input lists with time ranges, datasets and boxes: parsed, validated, deterministic ids."""
from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lipforge.pipeline.run.curate import list_inputs
from lipforge.pipeline.source.inputs import SourceInput


def _csv(path, rows):
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return str(path)


def test_csv_ranges_of_one_file_are_several_sources_with_stable_ids(tmp_path):
    rows = [{"path": "/v/Radio11.mp4", "start_s": 30, "end_s": 60, "dataset": "hdtf", "dataset_key": "RD_Radio11_0"},
            {"path": "/v/Radio11.mp4", "start_s": 90, "end_s": 150, "dataset": "hdtf", "dataset_key": "RD_Radio11_1",
             "box_x0": 0.2, "box_y0": 0.1, "box_x1": 0.7, "box_y1": 0.9, "labels": "x"},
            {"path": "/v/whole.mp4"}]
    got = list_inputs(_csv(tmp_path / "a.csv", rows))
    again = list_inputs(_csv(tmp_path / "b.csv", rows[::-1]))
    assert got == again  # ids depend on the row, not on the order of the list
    by_key = {s.dataset_key: s for s in got}
    r0, r1, whole = by_key["RD_Radio11_0"], by_key["RD_Radio11_1"], by_key[None]
    assert (r0.start_s, r0.end_s, r0.dataset, r0.box) == (30.0, 60.0, "hdtf", None)
    assert r1.box == (0.2, 0.1, 0.7, 0.9) and r1.labels == "x"
    assert r0.source_id != r1.source_id and r0.source_id.endswith("_00030000_00060000")
    assert whole.start_s is None and whole.dataset is None
    assert SourceInput.from_json(r1.to_json()) == r1  # how the Ray runner ships an input


def test_parquet_list_with_range_columns(tmp_path):
    t = pa.table({"path": ["/v/a.mp4", "/v/a.mp4"], "start_s": [0.0, 5.0], "end_s": [5.0, 9.5],
                  "dataset": ["ava_speech", "ava_speech"], "labels": ["CLEAN_SPEECH", None]})
    pq.write_table(t, tmp_path / "l.parquet")
    got = list_inputs(str(tmp_path / "l.parquet"))
    assert [(s.start_s, s.end_s, s.labels) for s in got] == [(0.0, 5.0, "CLEAN_SPEECH"), (5.0, 9.5, None)]


@pytest.mark.parametrize("row,msg", [
    ({"path": "a.mp4", "start_s": 3}, "both start_s and end_s"),
    ({"path": "a.mp4", "start_s": 3, "end_s": 2}, r"end_s \(2.0\) must be > start_s"),
    ({"path": "a.mp4", "start_s": "x", "end_s": 2}, "start_s must be a number"),
    ({"path": "a.mp4", "start_s": -1, "end_s": 2}, "start_s must be >= 0"),
    ({"path": "a.mp4", "box_x0": 0.1, "box_y0": 0.1, "box_x1": 0.5}, "a box needs all of"),
    ({"path": "a.mp4", "box_x0": 0.5, "box_y0": 0.1, "box_x1": 0.4, "box_y1": 0.9}, "box must be normalized"),
    ({"path": "a.mp4", "box_x0": 0, "box_y0": 0, "box_x1": 640, "box_y1": 480}, "box must be normalized"),
    ({"path": "a.mp4", "start_s": 0, "end_s": 1e300}, r"end_s \(1e\+300\) must be at most 604800 s"),
    ({"path": "a.mp4", "start_s": 0, "end_s": 48 * 3600 + 1}, "longer than 48 h"),
    ({"path": "a.mp4", "source_id": "x" * 129}, "at most 128 characters"),
    ({"path": "a.mp4", "source_id": "a.b"}, r"must match \[A-Za-z0-9_\]\+"),
])
def test_bad_rows_name_the_list_the_row_and_the_column(tmp_path, row, msg):
    spec = _csv(tmp_path / "bad.csv", [{"path": "ok.mp4"}, row])
    with pytest.raises(ValueError, match=msg) as e:
        list_inputs(spec)
    assert "bad.csv row 3" in str(e.value)  # the header is line 1


def test_the_same_range_twice_is_a_duplicate(tmp_path):
    spec = _csv(tmp_path / "dup.csv", [{"path": "/v/a.mp4", "start_s": 1, "end_s": 2}] * 2)
    with pytest.raises(ValueError, match="duplicate source ids"):
        list_inputs(spec)


def test_relative_paths_in_a_list_are_taken_from_the_lists_folder(tmp_path, monkeypatch):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "l.txt").write_text("clips/a.mp4\n/abs/b.mp4\n")
    spec = _csv(lists / "l.csv", [{"path": "clips/c.mp4", "start_s": 0, "end_s": 2}])
    monkeypatch.chdir(tmp_path)  # not the list's folder
    assert sorted(s.path for s in list_inputs(str(lists / "l.txt"))) == ["/abs/b.mp4", str(lists / "clips" / "a.mp4")]
    [c] = list_inputs(spec)
    assert c.path == str(lists / "clips" / "c.mp4")
    assert c.source_id == list_inputs(_csv(tmp_path / "abs.csv", [{"path": c.path, "start_s": 0, "end_s": 2}]))[0].source_id


def test_folder_listing_is_one_rule_at_every_depth(tmp_path):
    d = tmp_path / "in"
    names = ["a.mp4", "sub/b.3gp", "sub/c.MXF", "sub/deep/d.wmv", "sub/e.mts", "sub/f.m2ts", "g.flv", "sub/h.vob",
             "notes.txt", "sub/thumb.jpg", ".hidden.mp4", "sub/.x.mov", "part.mp4.part", "copy.tmp", ".cache/i.mp4"]
    for n in names:
        (d / n).parent.mkdir(parents=True, exist_ok=True)
        (d / n).write_bytes(b"x")
    skipped: list = []
    got = {str(Path(s.path).relative_to(d)) for s in list_inputs(str(d), skipped)}
    assert got == {"a.mp4", "sub/b.3gp", "sub/c.MXF", "sub/deep/d.wmv", "sub/e.mts", "sub/f.m2ts", "g.flv", "sub/h.vob"}
    why = {str(Path(p).relative_to(d)): r for p, r in skipped}
    assert why == {"notes.txt": "other_extension", "sub/thumb.jpg": "other_extension", ".hidden.mp4": "hidden",
                   "sub/.x.mov": "hidden", "part.mp4.part": "temporary", "copy.tmp": "temporary", ".cache": "hidden"}
