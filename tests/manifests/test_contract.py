import numpy as np
import pyarrow as pa
import pytest

from lipforge.manifests.ids import clip_id, parse_clip_id, source_id_for_path
from lipforge.manifests.layout import SampleLayoutError, decode_sample, encode_sample
from lipforge.manifests.schema import ClipRecord, arrow_schema, clip_columns, columns_markdown


def test_clip_id_is_deterministic_and_invertible():
    cid = clip_id("talk_ab12cd34", 12.34, 3)
    assert cid == "talk_ab12cd34-00012340-03"
    assert parse_clip_id(cid) == ("talk_ab12cd34", 12.34, 3)
    assert "." not in cid


def test_source_ids_differ_for_same_stem_in_different_dirs():
    a = source_id_for_path("/d/x/v.mp4", "/d")
    b = source_id_for_path("/d/y/v.mp4", "/d")
    assert a != b and a.startswith("v_") and "." not in a
    assert a == source_id_for_path("/d/x/v.mp4", "/d")


def test_sample_round_trip_and_validation():
    lm = np.random.default_rng(0).random((5, 68, 2)).astype(np.float16)
    raw = encode_sample("k-00000000-00", {"mp4": b"v", "wav": b"a", "json": {"n_frames": 5},
                                          "landmarks.npy": lm, "detected.npy": np.ones(5, np.uint8)})
    back = decode_sample(raw)
    assert back["json"] == {"n_frames": 5}
    np.testing.assert_array_equal(back["landmarks.npy"], lm)
    with pytest.raises(SampleLayoutError, match="dtype"):
        encode_sample("k", {"mp4": b"", "wav": b"", "json": {}, "landmarks.npy": lm.astype(np.float32)})
    with pytest.raises(SampleLayoutError, match="T=4"):
        encode_sample("k", {"mp4": b"", "wav": b"", "json": {}, "landmarks.npy": lm,
                            "detected.npy": np.ones(4, np.uint8)})
    with pytest.raises(SampleLayoutError, match="required"):
        encode_sample("k", {"mp4": b""})
    with pytest.raises(SampleLayoutError, match="not in"):
        encode_sample("k", {"mp4": b"", "wav": b"", "json": {}, "frames.raw": b""})


def test_clip_record_row_matches_schema_and_refuses_unknown_measurements():
    rec = ClipRecord("s-00000000-00", "s", "s-00000000-00", 0, 50, measurements={"speech_ratio": 0.9})
    row = rec.to_row()
    assert row["duration_s"] == 2.0 and row["speech_ratio"] == 0.9 and row["asd_score"] is None
    t = pa.Table.from_pylist([row], schema=arrow_schema(clip_columns()))
    assert t.num_rows == 1
    with pytest.raises(KeyError, match="unregistered"):
        ClipRecord("x", "s", "x", 0, 1, measurements={"bogus": 1}).to_row()


def test_every_column_is_documented():
    md = columns_markdown()
    for c in clip_columns():
        assert f"`{c.name}`" in md and c.doc


def test_committed_column_docs_are_current():
    from pathlib import Path

    from lipforge.manifests.docs import render

    doc = Path(__file__).resolve().parents[2] / "docs" / "manifests.md"
    assert doc.read_text() == render(), "docs/manifests.md is stale: run python -m lipforge.manifests.docs"
