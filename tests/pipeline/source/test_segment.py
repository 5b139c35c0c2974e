"""Scene split and segmenting: cuts at the right frame, bounded pieces, bounded memory, resume skip."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.manifests.ids import clip_id  # noqa: E402
from lipforge.manifests.schema import SourceRecord  # noqa: E402
from lipforge.pipeline.stages.config import SegmentConfig  # noqa: E402
from lipforge.pipeline.stages.segment import Segmenter, split_remainder  # noqa: E402

from _source_media import tone, two_shots, write  # noqa: E402


def _run(path, cfg, skip=frozenset()):
    seg = Segmenter(cfg)
    return seg, list(seg.run(str(path), SourceRecord("s", str(path)), skip))


@pytest.mark.parametrize("detector,threshold", [("content", 27.0), ("histogram", 0.2)])
def test_hard_cut_yields_two_clips_split_at_the_cut(tmp_path, detector, threshold):
    path = write(tmp_path / "cut.mp4", two_shots(60, 65), audio=tone(5.0))
    seg, items = _run(path, SegmentConfig(min_clip_s=2.0, max_clip_s=10.0, scene_detector=detector,
                                          scene_threshold=threshold))
    assert seg.n_frames == 125 and seg.n_scenes == 2
    assert [it.kept for it in items] == [True, True]
    a, b = items
    assert a.start_frame == 0 and b.end_frame == 125
    assert abs(a.end_frame - 60) <= 1 and b.start_frame == a.end_frame
    assert (a.scene_index, b.scene_index) == (0, 1)
    assert seg.candidate_ids == [a.clip_id, b.clip_id]
    assert b.clip_id == clip_id("s", b.start_frame / 25) == b.parent_id
    assert a.frames.shape == (a.n_frames, 96, 96, 3) and a.audio.shape == (a.n_frames * 640,)


def test_scene_shorter_than_min_is_a_dropped_candidate(tmp_path):
    path = write(tmp_path / "short.mp4", two_shots(30, 70), audio=tone(4.0))
    seg, items = _run(path, SegmentConfig(min_clip_s=2.0, max_clip_s=10.0))
    assert [(it.status, it.reason) for it in items] == [("dropped", "too_short"), ("kept", None)]
    short = items[0]
    assert short.frames is None and short.dropped_by == "segment"
    assert abs(short.end_frame - 30) <= 1
    assert len(seg.candidate_ids) == 2


def test_long_video_bounded_buffer_and_resume_skip(tmp_path):
    # 40 s of slow motion without a cut, max 4 s: pieces in [2, 4] s covering every frame.
    img = (np.indices((32, 32)).sum(0) * 4 % 256).astype(np.uint8)
    frames = np.stack([np.repeat(np.roll(img, k // 5, axis=1)[..., None], 3, axis=2) for k in range(1000)])
    path = write(tmp_path / "long.mp4", frames, audio=tone(40.0))
    cfg = SegmentConfig(min_clip_s=2.0, max_clip_s=4.0, work_max_side=64)
    seg, items = _run(path, cfg)
    assert seg.n_frames == 1000 and seg.n_scenes == 1
    assert seg.peak_buffer_frames <= (4 + 2) * 25 + 1
    spans = [(it.start_frame, it.end_frame) for it in items]
    assert spans[0][0] == 0 and spans[-1][1] == 1000
    assert all(b[0] == a[1] for a, b in zip(spans, spans[1:]))
    assert all(50 <= e - s <= 100 and it.kept for (s, e), it in zip(spans, items))
    # resume: done candidates are listed but neither decoded into items nor yielded
    done = frozenset(seg.candidate_ids[:3])
    seg2, rest = _run(path, cfg, skip=done)
    assert seg2.candidate_ids == seg.candidate_ids
    assert [it.clip_id for it in rest] == seg.candidate_ids[3:]
    np.testing.assert_array_equal(rest[0].frames, items[3].frames)
    np.testing.assert_array_equal(rest[0].audio, items[3].audio)


@pytest.mark.parametrize("n,expected", [(100, [100]), (130, [65, 65]), (101, [51, 50]), (250, [84, 83, 83])])
def test_split_remainder_balances_pieces(n, expected):
    assert split_remainder(n, 50, 100) == expected


def test_split_remainder_when_max_below_twice_min_keeps_full_pieces():
    assert split_remainder(90, 50, 75) == [75, 15]  # the 15-frame tail is dropped as too_short


def test_histogram_threshold_out_of_range_fails_at_construction():
    with pytest.raises(ValueError, match="scene_threshold"):
        Segmenter(SegmentConfig(scene_detector="histogram", scene_threshold=27.0))
