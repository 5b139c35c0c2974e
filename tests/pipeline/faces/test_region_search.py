"""dlib detection between whole-frame scans searches only around the last face (``dlib_rescan_every``)."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.pipeline.faces.boxes import iou  # noqa: E402

N = 60


@pytest.fixture(scope="module")
def head():
    """60 frames, 640x360, a 150 px face swaying by up to 20 px; and its box."""
    from lipforge.testing.synth import render_frames

    mouth = 0.5 + 0.5 * np.sin(np.arange(N) / 3.0)
    return render_frames(mouth, size=(640, 360), face_px=150, sway_px=20.0)


def detector(rescan: int):
    from lipforge.pipeline.faces.detectors import DlibHogDetector

    return DlibHogDetector(max_side=640, rescan_every=rescan)


def test_region_search_keeps_the_boxes_of_whole_frame_scans(head):
    frames, _ = head
    whole, region = detector(0), detector(12)
    a, b = whole(frames), region(frames)
    assert np.isfinite(a).all() and np.isfinite(b).all()
    v = np.array([iou(x, y) for x, y in zip(a, b)])
    # the landmarks' box moves a little with its seed box (whole-frame scans: height 196-229 px
    # over these frames as the jaw drops), hence no exact match
    assert v.mean() > 0.95 and v.min() > 0.75, v.round(3)
    assert (whole.n_full, whole.n_roi) == (N, 0)
    assert (region.n_full, region.n_roi) == (5, N - 5)  # whole frames 0, 12, 24, 36, 48


def test_without_region_search_each_frame_is_detected_on_its_own(head):
    frames, _ = head
    det = detector(0)
    together = det(frames[:8])
    alone = np.concatenate([det(frames[i:i + 1]) for i in range(8)])
    np.testing.assert_array_equal(together, alone)


def test_a_larger_face_elsewhere_is_taken_at_the_next_whole_frame_scan(head):
    import cv2

    frames, _ = head
    b0 = detector(0)(frames[:1])[0]
    x0, y0, x1, y1 = (int(v) for v in b0)
    patch = cv2.resize(frames[0, max(0, y0 - 20):y1 + 20, max(0, x0 - 20):x1 + 20], None, fx=1.3, fy=1.3)
    patch = patch[:360, :max(1, x0 - 30)]
    two = frames.copy()
    two[30:, :patch.shape[0], :patch.shape[1]] = patch  # a 1.3x copy of the face, at the left edge, from frame 30

    def first_on_copy(boxes):
        return int(np.flatnonzero([iou(b, b0) < 0.3 for b in boxes])[0])

    assert first_on_copy(detector(0)(two)) == 30
    assert first_on_copy(detector(12)(two)) == 36  # the first whole-frame scan after it appears
    assert first_on_copy(detector(5)(two)) == 30  # frames 0, 5, ..., 30 are whole-frame scans


def test_a_lost_face_falls_back_to_whole_frame_scans(head):
    frames, _ = head
    gone = frames.copy()
    gone[20:] = 0
    det = detector(12)
    boxes = det(gone)
    assert np.isfinite(boxes[:20]).all() and np.isnan(boxes[20:]).all()
    # whole frames 0 and 12; the search fails on frame 20, which is then scanned whole, as is
    # every later frame (no face to search around)
    assert det.n_full == 2 + (N - 20) and det.n_roi == 11 + 7 + 1  # frames 1-11, 13-19, 20


def test_the_stage_passes_the_setting_and_checks_it():
    from lipforge.pipeline.stages.faces import FaceDetectStage

    st = FaceDetectStage(FaceDetectStage.Config(backend="dlib"))
    st.setup()
    assert st.config.dlib_rescan_every == 12 and st.detector.rescan_every == 12
    with pytest.raises(ValueError, match="dlib_rescan_every"):
        FaceDetectStage.Config(dlib_rescan_every=-1)
