"""A dataset's face box seeds detection (only its region is searched) or checks the track
(a face outside it is dropped); both off by default, the overlap always recorded."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.manifests.ids import clip_id  # noqa: E402
from lipforge.pipeline.faces.dataset_box import box_px, overlap, seed_region  # noqa: E402
from lipforge.pipeline.stages.base import ClipItem  # noqa: E402
from lipforge.pipeline.stages.faces import FaceDetectStage  # noqa: E402

W, H, N = 400, 300, 60  # source pixels; working frames at half size


def item(dataset_box=None) -> ClipItem:
    m = {"work_scale": 0.5}
    if dataset_box is not None:
        m["dataset_box"] = list(dataset_box)
    cid = clip_id("s", 0.0)
    return ClipItem(clip_id=cid, source_id="s", parent_id=cid, start_frame=0, end_frame=N,
                    frames=np.zeros((N, H // 2, W // 2, 3), np.uint8), audio=np.zeros(N * 640, np.float32),
                    work_scale=0.5, source_width=W, source_height=H, measurements=m)


def stage_with(box_px_seen, seen: list, **cfg) -> FaceDetectStage:
    """A stage whose detector stand-in reports one face at ``box_px_seen`` (source pixels,
    relative to the frames it is shown) and records the shape of those frames."""
    st = FaceDetectStage(FaceDetectStage.Config(backend="dlib", min_face_px=50, **cfg))

    def detect(frames, ws):
        seen.append(frames.shape)
        return np.tile(np.asarray(box_px_seen, np.float64), (len(frames), 1))

    st.detect = detect  # the detector itself is tested elsewhere
    st._ready = True
    return st


def test_overlap_is_the_share_of_the_face_inside_the_box():
    assert overlap(np.array([10., 10., 20., 20.]), np.array([0., 0., 100., 100.])) == 1.0
    assert overlap(np.array([10., 10., 20., 20.]), np.array([15., 0., 100., 100.])) == 0.5
    assert overlap(np.array([10., 10., 20., 20.]), np.array([30., 30., 40., 40.])) == 0.0
    np.testing.assert_allclose(box_px((0.25, 0.5, 0.75, 1.0), 400, 300), [100, 150, 300, 300])
    assert seed_region((0.25, 0.5, 0.75, 1.0), 200, 150, 0.1) == (40, 67, 160, 150)  # grown (floor/ceil), clamped


def test_off_by_default_but_the_overlap_is_recorded():
    seen = []
    st = stage_with([20, 20, 120, 140], seen)
    assert not st.config.dataset_box_seed and not st.config.dataset_box_check
    (out,) = st([item((0.5, 0.0, 1.0, 1.0))])  # the dataset says: the face is in the right half
    assert out.kept and seen == [(N, H // 2, W // 2, 3)]  # the whole frame was searched
    assert out.measurements["dataset_box_overlap"] == 0.0
    (plain,) = stage_with([20, 20, 120, 140], [])([item()])
    assert "dataset_box_overlap" not in plain.measurements


def test_check_drops_a_track_outside_the_dataset_box():
    st = stage_with([20, 20, 120, 140], [], dataset_box_check=True, dataset_box_min_overlap=0.5)
    (out,) = st([item((0.5, 0.0, 1.0, 1.0))])
    assert (out.status, out.reason, out.dropped_by) == ("dropped", "face_outside_dataset_box", "faces")
    (inside,) = stage_with([20, 20, 120, 140], [], dataset_box_check=True)([item((0.0, 0.0, 0.5, 1.0))])
    assert inside.kept and inside.measurements["dataset_box_overlap"] == 1.0


def test_seed_searches_only_the_dataset_region_and_maps_boxes_back():
    seen = []
    # the region starts at x = 100 working px = 200 source px: the stand-in sees the face at x 50..150
    st = stage_with([50, 60, 150, 180], seen, dataset_box_seed=True, dataset_box_margin=0.0)
    (out,) = st([item((0.5, 0.0, 1.0, 1.0))])
    assert seen == [(N, H // 2, W // 4, 3)]  # the right half of the working frames
    np.testing.assert_allclose(out.arrays["face_boxes.npy"][0], [250, 60, 350, 180])  # source px again
    assert out.kept and out.measurements["dataset_box_overlap"] == 1.0


def test_seed_without_a_dataset_box_searches_the_whole_frame():
    seen = []
    stage_with([20, 20, 120, 140], seen, dataset_box_seed=True)([item()])
    assert seen == [(N, H // 2, W // 2, 3)]


@pytest.mark.parametrize("field,value", [("dataset_box_min_overlap", 1.5), ("dataset_box_margin", -0.1)])
def test_config_validation(field, value):
    with pytest.raises(ValueError, match=f"{field}.*{value}"):
        FaceDetectStage.Config(**{field: value})


def test_with_dlib_seed_tracks_the_datasets_face_not_the_largest():
    """Two faces: the larger on the left, the dataset's (smaller) on the right. The default
    tracks the larger one (and a check drops it); seeding with the dataset box tracks the right one."""
    from lipforge.testing.synth import render_frames

    n = 12
    left, _ = render_frames(np.zeros(n, np.float32), size=(320, 320), face_px=200, sway_px=0)
    right, _ = render_frames(np.zeros(n, np.float32), size=(320, 320), face_px=130, sway_px=0)
    frames = np.ascontiguousarray(np.concatenate([left, right], axis=2))  # (n, 320, 640, 3)
    cid = clip_id("two", 0.0)

    def run(**cfg):
        it = ClipItem(clip_id=cid, source_id="two", parent_id=cid, start_frame=0, end_frame=n, frames=frames.copy(),
                      audio=np.zeros(n * 640, np.float32), source_width=640, source_height=320,
                      measurements={"dataset_box": [0.5, 0.0, 1.0, 1.0]})
        (out,) = FaceDetectStage(FaceDetectStage.Config(min_face_px=60, min_clip_s=0.4, **cfg))([it])
        return out

    plain = run()
    cx = plain.arrays["face_boxes.npy"][:, [0, 2]].mean()
    assert plain.kept and cx < 320 and plain.measurements["dataset_box_overlap"] < 0.1
    checked = run(dataset_box_check=True)
    assert checked.reason == "face_outside_dataset_box"
    seeded = run(dataset_box_seed=True, dataset_box_check=True, dataset_box_margin=0.05)
    cx = seeded.arrays["face_boxes.npy"][:, [0, 2]].mean()
    assert seeded.kept and 320 < cx < 640 and seeded.measurements["dataset_box_overlap"] > 0.9
