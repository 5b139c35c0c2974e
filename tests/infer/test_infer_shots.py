"""Shots: a hard cut splits the face track, its smoothing, the segments and the reference frame."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.infer.shots import plan_shot_segments, shot_runs

CROP = 32


def test_shot_segments_never_cross_a_cut():
    shots = np.array([0] * 30 + [1] * 5 + [2] * 40)
    segs, ws = plan_shot_segments(shots, 16, 4)
    total = np.zeros(len(shots))
    for s, w in zip(segs, ws):
        assert len(set(shots[s.start:s.end])) == 1, (s, shots[s.start:s.end])
        total[s.start:s.end] += w
    np.testing.assert_allclose(total, 1.0)
    assert shot_runs(shots) == [(0, 30), (30, 35), (35, 75)]


@pytest.fixture(scope="module")
def two_shot_video(tmp_path_factory):
    """1.2 s of a big centred face, then 1.2 s of a smaller face further right: one hard cut at frame 30."""
    from lipforge.pipeline.media import encode_video
    from lipforge.testing.synth import render_frames

    d = tmp_path_factory.mktemp("shots")
    n = 30
    mouth = 0.5 + 0.5 * np.sin(np.arange(n) / 3.0)
    a, _ = render_frames(mouth, (160, 160), 110)
    b, _ = render_frames(mouth[::-1].copy(), (160, 160), 80)
    b = np.roll(b, 30, axis=2)  # the second camera frames the face elsewhere
    path = d / "two_shots.mp4"
    encode_video(np.concatenate([a, b]), fps=25, path=path)
    return path, n


def test_two_shot_video_no_box_glides_across_the_cut(two_shot_video, infer_media):
    from lipforge.infer.prepare import prepare_job

    path, cut = two_shot_video
    prep = prepare_job(path, infer_media["long"].path, CROP)  # 2.0 s audio over 2.4 s video: no loop
    assert prep.shots[:cut].tolist() == [0] * cut and set(prep.shots[cut:].tolist()) == {1}
    step = np.abs(np.diff(prep.crop_boxes, axis=0)).max(1)  # (T-1,) largest coordinate change per frame
    # the crop jumps at the cut in one frame and only sways (HOG boxes, the synthetic head's sway)
    # elsewhere; smoothed across the cut it would glide there over the 7-frame window in steps of 1/7
    assert step[cut - 1] > 20, step[cut - 1]
    assert step[cut - 1] > 3 * np.delete(step, cut - 1).max(), step
    # each shot's reference comes from that shot: it matches its own shot's crops better
    crops = np.asarray(prep.crops).astype(np.float32)
    for s, (a, b) in enumerate([(0, cut), (cut, len(crops))]):
        ref = prep.references[s].astype(np.float32)
        own = np.abs(crops[a:b] - ref).mean((1, 2, 3)).min()
        other = np.abs(np.delete(crops, np.s_[a:b], 0) - ref).mean((1, 2, 3)).min()
        assert own < other, (s, own, other)


def test_a_shot_without_a_face_is_left_alone(tmp_path, infer_media):
    from lipforge.infer.prepare import prepare_job
    from lipforge.pipeline.media import encode_video
    from lipforge.testing.synth import render_frames

    a, _ = render_frames(0.5 + 0.5 * np.sin(np.arange(30) / 3.0), (160, 160), 110)
    b = np.random.default_rng(0).integers(0, 255, (30, 160, 160, 3), np.uint8)  # a second shot, no face
    encode_video(np.concatenate([a, b]), fps=25, path=tmp_path / "v.mp4")
    prep = prepare_job(tmp_path / "v.mp4", infer_media["long"].path, CROP)
    assert prep.has_face[:30].all() and not prep.has_face[30:].any()  # paste-back skips those frames
