"""Part boundaries of long sources, and one record from the parts' records."""
from __future__ import annotations

import pytest

from lipforge.manifests.schema import SourceRecord
from lipforge.pipeline.stages.config import SegmentConfig
from lipforge.pipeline.source.inputs import SourceInput
from lipforge.pipeline.source.parts import merge_parts, part_bounds, parts_changed, source_parts


def test_part_bounds():
    assert part_bounds(None, None, 45.0, 30.0) == [(None, None)]  # not longer than 1.5 parts
    assert part_bounds(None, None, 45.1, 30.0) == [(None, 30.0), (30.0, None)]
    # the last part takes the rest: between 0.5 and 1.5 parts long
    assert part_bounds(None, None, 100.0, 30.0) == [(None, 30.0), (30.0, 60.0), (60.0, None)]
    assert part_bounds(None, None, 106.0, 30.0) == [(None, 30.0), (30.0, 60.0), (60.0, 90.0), (90.0, None)]
    # a range source: parts from its start, the last one ends where the range does
    assert part_bounds(12.5, 80.0, 67.5, 30.0) == [(12.5, 42.5), (42.5, 80.0)]
    assert part_bounds(None, None, 1e4, 0.0) == [(None, None)]  # parts off
    assert part_bounds(None, None, None, 30.0) == [(None, None)]  # duration unknown


def test_part_length_is_a_whole_number_of_clips():
    assert SegmentConfig().part_length_s == 300.0
    assert SegmentConfig(max_clip_s=4.0, part_s=30.0).part_length_s == 32.0
    assert SegmentConfig(max_clip_s=10.0, part_s=4.0).part_length_s == 10.0
    assert SegmentConfig(part_s=0).part_length_s == 0.0
    with pytest.raises(ValueError, match="part_s"):
        SegmentConfig(part_s=-1)


def test_source_parts_read_the_header(tmp_path):
    from lipforge.testing import make_talking_head

    head = make_talking_head(tmp_path / "h.mp4", seconds=7.0, size=(64, 64), face_px=40)
    src = SourceInput(str(head.path), "h")
    assert [(p.index, p.n, p.start_s, p.end_s) for p in source_parts(src, 3.0)] == \
        [(0, 2, None, 3.0), (1, 2, 3.0, None)]
    assert [p.n for p in source_parts(src, 6.0)] == [1]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert [p.n for p in source_parts(SourceInput(str(bad), "bad"), 3.0)] == [1]  # the probe judges it


def rec(**kw) -> SourceRecord:
    base = dict(source_id="s", path="s.mp4", duration_s=70.0, span_s=70.0, status="ok")
    return SourceRecord(**{**base, **kw})


def test_merge_parts():
    parts = [(rec(n_frames=750, n_scenes=2, n_candidates=3), ["a", "b", "c"]),
             (rec(n_frames=1000, n_scenes=1, n_candidates=4), ["d", "e", "f", "g"])]
    r, cands = merge_parts(parts)
    assert (r.n_frames, r.n_scenes, r.n_candidates, r.status, r.reason) == (1750, 2, 7, "ok", None)
    assert cands == list("abcdefg")
    # a decode error in one part: the others' clips stay, the source says so
    broken = [parts[0], (rec(status="dropped", reason="decode_error", n_frames=0, n_scenes=0), [])]
    r, cands = merge_parts(broken)
    assert (r.status, r.reason, cands) == ("ok", "partial_decode", ["a", "b", "c"])
    # a probe verdict is the same in every part
    dropped = [(rec(status="dropped", reason="too_short_source"), [])] * 2
    assert merge_parts(dropped)[0].reason == "too_short_source"


def test_parts_changed():
    long, short = rec(span_s=100.0), rec(span_s=20.0)
    assert parts_changed(long, 0.0, 30.0) and parts_changed(long, 30.0, 40.0)
    assert not parts_changed(long, 30.0, 30.0)
    assert not parts_changed(short, 0.0, 30.0)  # one part either way
    assert not parts_changed(rec(span_s=100.0, status="dropped", reason="truncated"), 0.0, 30.0)
