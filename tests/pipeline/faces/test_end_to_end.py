"""faces -> landmarks -> crop on a synthetic talking head, checked against what drove it."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.manifests.ids import clip_id  # noqa: E402
from lipforge.manifests.layout import decode_sample, encode_sample  # noqa: E402
from lipforge.pipeline.stages.base import ClipItem  # noqa: E402


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    from lipforge.testing import make_talking_head

    return make_talking_head(tmp_path_factory.mktemp("faces") / "head.mp4", seconds=2.4, size=(384, 384),
                             face_px=260)


def test_faces_landmarks_crop_end_to_end(head):
    import cv2

    from lipforge.pipeline.faces import render_masks
    from lipforge.pipeline.media import decode_audio, decode_video
    from lipforge.pipeline.stages.crop import CropStage
    from lipforge.pipeline.stages.faces import FaceDetectStage
    from lipforge.pipeline.stages.landmarks import LandmarksStage

    src = decode_video(head.path)  # (60, 384, 384, 3)
    audio = decode_audio(head.path)[: len(src) * 640]
    ws = 0.75  # working frames 288 px: boxes must come back in source pixels
    frames = np.stack([cv2.resize(f, (288, 288), interpolation=cv2.INTER_AREA) for f in src])
    cid = clip_id("head", 0.0)
    item = ClipItem(cid, "head", cid, 0, len(src), frames=frames, audio=audio, work_scale=ws,
                    source_width=384, source_height=384)
    items = [item]
    for stage in (FaceDetectStage(), LandmarksStage(), CropStage()):
        items = stage(items)
    (out,) = items
    assert out.kept, (out.reason, out.measurements)
    T = len(src)
    assert out.frames_are_crop and out.frames.shape == (T, 320, 320, 3) and out.frames.dtype == np.uint8
    m = out.measurements
    assert m["face_detected_ratio"] > 0.9 and m["face_max_px"] > 228
    assert m["landmark_backend"] == "dlib" and m["face_backend"] == "blazeface"

    # boxes and landmarks in source pixels agree with the synthetic face (dlib landmark extent)
    x0, y0, x1, y1 = head.face_box
    lm = out.arrays["landmarks.npy"].astype(np.float64)
    assert np.abs(lm[..., 0].min(1) - x0).mean() < 10
    chin = lm[..., 1].max(1)  # the synthetic jaw drops by up to ~45 px when the mouth opens
    assert (chin > y1 - 10).all() and (chin < y1 + 60).all() and np.abs(chin - y1).min() < 10
    fb = out.arrays["face_boxes.npy"]
    assert (np.abs(fb[:, 3] - y1) < 0.25 * (y1 - y0)).all()

    # crop-space landmarks: face centred, mouth inside both masks
    lmc = out.arrays["landmarks_crop.npy"].astype(np.float64)
    assert np.abs(lmc.reshape(-1, 2).mean(0) - 160).max() < 50
    ada, key = out.arrays["mask_adaptive.npy"], out.arrays["mask_keysync.npy"]
    mouth = lmc[:, 48:68]
    for r in (ada, key):
        assert (mouth[..., 0].min(1) >= r[:, 0]).all() and (mouth[..., 0].max(1) <= r[:, 2]).all()
        assert (mouth[..., 1].min(1) >= r[:, 1]).all() and (mouth[..., 1].max(1) <= r[:, 3]).all()
    assert (key[:, 3] == 320).all() and (ada[:, 1] > lmc[:, 36:48, 1].max(1)).all()  # below the eyes
    masks = render_masks(ada, 320)
    mouth_px = np.round(mouth.mean(1)).astype(int)  # (T, 2) x, y
    assert masks[np.arange(T), mouth_px[:, 1], mouth_px[:, 0]].all()
    # the crop shows the same pixels as the source under the crop box
    cb = out.arrays["crop_boxes.npy"]
    assert np.allclose(cb[:, 2] - cb[:, 0], cb[:, 3] - cb[:, 1], atol=1e-3)
    # every array is valid against the one shard layout
    fields = {"mp4": b"x", "wav": b"x", "json": {}}
    fields.update(out.arrays)
    back = decode_sample(encode_sample(out.clip_id, fields))
    assert back["landmarks_crop.npy"].shape == (T, 68, 2)
    assert out.audio.shape == (T * 640,)
