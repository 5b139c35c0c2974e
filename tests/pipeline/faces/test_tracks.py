"""Synthetic tracks: gap filling, jump splits, the size rule, child clips, masks and crops."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.manifests.ids import clip_id  # noqa: E402
from lipforge.pipeline.faces import (  # noqa: E402
    DLIB_HOG_CALIBRATION,
    adaptive_mask_rects,
    build_tracks,
    calibrate_boxes,
    crop_boxes_from_faces,
    crop_frames,
    keysync_mask_rects,
    points_from_crop,
    points_to_crop,
    render_masks,
    smooth_boxes,
    smooth_forward,
    uncalibrate_boxes,
    uncrop_frames,
)
from lipforge.pipeline.stages.base import ClipItem  # noqa: E402
from lipforge.pipeline.stages.faces import FaceDetectStage  # noqa: E402

BOX = np.array([100.0, 80.0, 300.0, 330.0])  # 250 px tall


def track(n: int, box=BOX) -> np.ndarray:
    return np.tile(np.asarray(box, np.float64), (n, 1))


def test_gap_of_8_is_filled_by_interpolation():
    b = track(40)
    b[20:] += 10.0  # the face drifts 10 px during the gap
    b[12:20] = np.nan  # 8 frames without a face
    pieces = build_tracks(b, max_gap=8)
    assert len(pieces) == 1 and pieces[0].has_face
    p = pieces[0]
    assert (p.start, p.end, p.filled) == (0, 40, 8)
    assert p.detected[12:20].tolist() == [0] * 8 and p.detected[:12].all() and p.detected[20:].all()
    # linear between frame 11 (offset 0) and frame 20 (offset 10)
    np.testing.assert_allclose(p.boxes[15, 0] - BOX[0], 10.0 * (15 - 11) / 9)


def test_gap_of_9_splits_and_leaves_a_face_missing_piece():
    b = track(40)
    b[12:21] = np.nan  # 9 frames
    pieces = build_tracks(b, max_gap=8)
    assert [(p.start, p.end, p.has_face) for p in pieces] == [(0, 12, True), (12, 21, False), (21, 40, True)]
    assert all(p.filled == 0 for p in pieces if p.has_face)


def test_short_gaps_at_the_ends_are_held_long_ones_cut():
    b = track(30)
    b[:3] = np.nan
    b[-12:] = np.nan
    pieces = build_tracks(b, max_gap=8)
    assert [(p.start, p.end, p.has_face) for p in pieces] == [(0, 18, True), (18, 30, False)]
    np.testing.assert_allclose(pieces[0].boxes[0], BOX)
    assert pieces[0].detected[:3].tolist() == [0, 0, 0]


def test_jump_splits_where_the_box_moves():
    b = track(50)
    b[25:] += [150.0, 0.0, 150.0, 0.0]  # another face 150 px to the right (0.6 of the height)
    b[10:] += np.arange(40)[:, None] * 2.0  # slow drift: 2 px / frame never splits
    pieces = build_tracks(b, jump_threshold=0.35)
    assert [(p.start, p.end) for p in pieces] == [(0, 25), (25, 50)]
    assert all(p.max_jump < 0.35 for p in pieces)
    assert len(build_tracks(b, jump_threshold=0.7)) == 1


def test_every_k_schedule_marks_skipped_frames_detected():
    b = np.full((13, 4), np.nan)
    b[[0, 3, 6, 9, 12]] = BOX
    (p,) = build_tracks(b, every=3)
    assert p.detected.all() and p.filled == 0


def test_no_face_at_all():
    (p,) = build_tracks(np.full((10, 4), np.nan))
    assert not p.has_face and (p.start, p.end) == (0, 10)


# --- the stage's verdicts on synthetic detections --------------------------------------------

def make_item(n: int, start_frame: int = 50, work_scale: float = 0.5) -> ClipItem:
    frames = np.zeros((n, 8, 8, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(n) % 256  # frame index, to check slicing
    audio = np.arange(n * 640, dtype=np.float32)
    cid = clip_id("src", start_frame / 25)
    return ClipItem(clip_id=cid, source_id="src", parent_id=cid, start_frame=start_frame,
                    end_frame=start_frame + n, frames=frames, audio=audio, work_scale=work_scale,
                    measurements={"work_scale": work_scale})


def run_stage(boxes: np.ndarray, item: ClipItem, **cfg) -> list[ClipItem]:
    # the detector is tested elsewhere (dlib: constructing the stage needs no model file)
    stage = FaceDetectStage(FaceDetectStage.Config(**{"backend": "dlib", **cfg}))
    stage.detect = lambda frames, ws: boxes
    stage._ready = True
    return stage([item])


@pytest.mark.parametrize("height,kept", [(228.0, False), (228.5, True)])
def test_size_rule_at_the_boundary(height, kept):
    b = track(60, [10.0, 20.0, 200.0, 20.0 + height])
    (out,) = run_stage(b, make_item(60))
    assert out.kept is kept
    assert out.measurements["face_max_px"] == pytest.approx(height)
    if not kept:
        assert (out.reason, out.dropped_by) == ("face_too_small", "faces")


def test_stage_splits_into_children_with_ids_audio_and_reasons():
    n = 190
    b = track(n)
    b[60:70] = np.nan  # 10-frame gap: split
    b[150:] += [200.0, 0.0, 200.0, 0.0]  # jump at frame 150: the last piece is 40 frames (1.6 s)
    item = make_item(n, start_frame=50)
    out = run_stage(b, item)
    got = [(o.start_frame, o.end_frame, o.status, o.reason) for o in out]
    assert got == [(50, 110, "kept", None), (110, 120, "dropped", "face_missing"),
                   (120, 200, "kept", None), (200, 240, "dropped", "too_short")]
    first, _, third, _ = out
    assert first.clip_id == item.clip_id  # starts where the parent starts
    assert third.clip_id == clip_id("src", 120 / 25) and third.parent_id == item.parent_id
    assert type(third.start_frame) is int and third.frames.shape[0] == 80 and third.frames[0, 0, 0, 0] == 70
    assert third.audio.shape == (80 * 640,) and third.audio[0] == 70 * 640
    assert third.arrays["face_boxes.npy"].dtype == np.float32 and third.arrays["face_boxes.npy"].shape == (80, 4)
    assert third.arrays["detected.npy"].dtype == np.uint8
    assert third.measurements["work_scale"] == 0.5 and third.measurements["face_backend"] == "dlib"


def test_stage_maps_boxes_to_source_pixels():
    from lipforge.pipeline.faces.tracks import scatter_samples

    stage = FaceDetectStage(FaceDetectStage.Config(backend="dlib", detect_every=1))
    stage.detector = lambda frames: np.tile([10.0, 20.0, 110.0, 140.0], (len(frames), 1))
    boxes = stage.detect(np.zeros((5, 8, 8, 3), np.uint8), work_scale=0.5)
    np.testing.assert_allclose(boxes, np.tile([20.0, 40.0, 220.0, 280.0], (5, 1)))
    s = scatter_samples([0, 2], np.ones((2, 4)), 3)
    assert np.isnan(s[1]).all() and (s[[0, 2]] == 1).all()
    every3 = FaceDetectStage(FaceDetectStage.Config(backend="dlib"))  # the default detects every 3rd frame (and the last); NaN between
    every3.detector = stage.detector
    sparse = every3.detect(np.zeros((5, 8, 8, 3), np.uint8), work_scale=0.5)
    assert np.isfinite(sparse).all(1).tolist() == [True, False, False, True, True]


def test_config_validation_names_field_and_value():
    with pytest.raises(ValueError, match="backend.*'yolo'"):
        FaceDetectStage.Config(backend="yolo")
    with pytest.raises(ValueError, match="detect_every.*12"):
        FaceDetectStage.Config(detect_every=12)


# --- boxes, masks, crops ---------------------------------------------------------------------

def test_calibration_round_trip():
    b = np.array([[10.0, 20.0, 110.0, 120.0], [5.0, 5.0, 55.0, 65.0]])
    np.testing.assert_allclose(uncalibrate_boxes(calibrate_boxes(b, DLIB_HOG_CALIBRATION), DLIB_HOG_CALIBRATION), b)


def test_adaptive_mask_smoothing_formula():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 100, (6, 4))
    y = smooth_forward(x, 0.75)
    for t in range(5):
        np.testing.assert_allclose(y[t], 0.75 * x[t] + 0.25 * x[t + 1])
    np.testing.assert_allclose(y[-1], x[-1])
    # adaptive_mask_rects applies it to the raw (clipped) rectangles
    lm = synthetic_landmarks(6, rng)
    raw = adaptive_mask_rects(lm, 320, pad=0.1, alpha=1.0)
    np.testing.assert_allclose(adaptive_mask_rects(lm, 320, pad=0.1, alpha=0.75), smooth_forward(raw, 0.75))


def synthetic_landmarks(t: int, rng) -> np.ndarray:
    base = np.zeros((68, 2))
    base[0:17] = np.stack([np.linspace(80, 240, 17), 150 + 80 * np.sin(np.linspace(0, np.pi, 17))], -1)  # jaw
    base[17:27] = np.stack([np.linspace(100, 220, 10), np.full(10, 110.0)], -1)  # brows
    base[27:36] = np.stack([np.full(9, 160.0), np.linspace(125, 185, 9)], -1)  # nose
    base[36:48] = np.stack([np.linspace(110, 210, 12), np.full(12, 130.0)], -1)  # eyes
    base[48:68] = np.stack([np.linspace(130, 190, 20), np.full(20, 205.0)], -1)  # mouth
    return base[None] + rng.normal(0, 2, (t, 68, 2))


def test_keysync_mask_spans_landmarks_from_nose_top_to_bottom_edge():
    lm = synthetic_landmarks(3, np.random.default_rng(1))
    r = keysync_mask_rects(lm, 320)
    np.testing.assert_allclose(r[:, 0], lm[..., 0].min(1))
    np.testing.assert_allclose(r[:, 2], lm[..., 0].max(1))
    np.testing.assert_allclose(r[:, 1], lm[:, 27, 1])  # iBUG point 28, 1-based
    assert (r[:, 3] == 320).all()
    m = render_masks(r, 320)
    assert m.shape == (3, 320, 320) and m.dtype == np.float32
    assert m[:, -1].sum() > 0 and m[:, :100].sum() == 0  # reaches the bottom, nothing above the eyes


def test_render_masks_area():
    m = render_masks(np.array([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 64.0, 64.0]]), 64)
    assert m[0].sum() == 20 * 40 and m[1].all()


def test_crop_and_uncrop_invert_each_other():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 64, 80, 3), dtype=np.uint8)
    faces = np.array([[20.0, 10.0, 44.0, 40.0]] * 3)
    boxes = crop_boxes_from_faces(faces, margin=0.1, smooth_window=3)
    side = boxes[:, 2] - boxes[:, 0]
    np.testing.assert_allclose(side, 30 * 1.2) and np.testing.assert_allclose(boxes[:, 3] - boxes[:, 1], side)
    crops = crop_frames(frames, boxes, 36)  # 1:1 scale, integer offsets
    x0, y0 = int(boxes[0, 0]), int(boxes[0, 1])
    np.testing.assert_array_equal(crops[0], frames[0, y0:y0 + 36, x0:x0 + 36])
    back = uncrop_frames(crops, boxes, np.zeros_like(frames))
    np.testing.assert_array_equal(back[0, y0:y0 + 36, x0:x0 + 36], frames[0, y0:y0 + 36, x0:x0 + 36])
    assert back[0, :y0].sum() == 0
    pts = rng.uniform(0, 60, (3, 68, 2))
    np.testing.assert_allclose(points_from_crop(points_to_crop(pts, boxes, 320), boxes, 320), pts)


def test_smooth_boxes_moving_average():
    b = np.zeros((5, 4))
    b[2] = 3.0
    np.testing.assert_allclose(smooth_boxes(b, 3)[1:4, 0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="window"):
        smooth_boxes(b, 4)
