"""``where`` over clips.parquet selects exactly the kept clips the SQL condition is true for."""
import pyarrow as pa
import pytest

pytest.importorskip("duckdb", reason="the where filter needs duckdb (pip install duckdb)")

from lipforge.manifests.query import kept_ids_where  # noqa: E402
from lipforge.manifests.schema import ClipRecord, arrow_schema, clip_columns  # noqa: E402


@pytest.fixture
def clips(tmp_path):
    import pyarrow.parquet as pq

    vals = [  # (status, speech_ratio, iqa_score, sync_conf)
        ("kept", 0.9, 20.0, 0.2), ("kept", 0.4, 20.0, 0.1), ("kept", 0.8, None, None),
        ("dropped", 0.95, 30.0, 0.3), ("kept", 0.5, 9.0, 0.15), ("kept", None, 12.0, 0.2),
    ]
    rows = []
    for i, (status, sr, iqa, conf) in enumerate(vals):
        m = {k: v for k, v in (("speech_ratio", sr), ("iqa_score", iqa), ("sync_conf", conf)) if v is not None}
        rows.append(ClipRecord(f"s-{i * 1000:08d}-00", "s", f"s-{i * 1000:08d}-00", i * 25, i * 25 + 50,
                               status=status, reason=None if status == "kept" else "no_speech",
                               measurements=m).to_row())
    p = tmp_path / "clips.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(clip_columns())), p)
    return p, vals


@pytest.mark.parametrize("where, pick", [
    ("speech_ratio >= 0.5", lambda s, sr, q, c: sr is not None and sr >= 0.5),
    ("speech_ratio >= 0.5 and iqa_score > 10", lambda s, sr, q, c: sr is not None and sr >= 0.5 and q is not None and q > 10),
    ("iqa_score is null or sync_conf < 0.18", lambda s, sr, q, c: q is None or (c is not None and c < 0.18)),
    ("duration_s = 2.0 and clip_id like 's-0000%'", lambda s, sr, q, c: True),
])
def test_where_selects_exactly_the_expected_kept_keys(clips, where, pick):
    path, vals = clips
    want = [f"s-{i * 1000:08d}-00" for i, v in enumerate(vals) if v[0] == "kept" and pick(*v)]
    assert kept_ids_where(path, where) == want
    assert "s-00003000-00" not in kept_ids_where(path, where)  # a dropped clip has no sample to select


def test_bad_conditions_are_one_line_errors(clips):
    path, _ = clips
    with pytest.raises(ValueError, match="sync_confidence"):
        kept_ids_where(path, "sync_confidence > 1")
    with pytest.raises(ValueError, match="not allowed"):
        kept_ids_where(path, "true; drop table x")
    with pytest.raises(ValueError, match="where 'speech_ratio >>= 2'"):  # needs an extension: never fetched
        kept_ids_where(path, "speech_ratio >>= 2")
    with pytest.raises(ValueError, match="empty"):
        kept_ids_where(path, "  ")
