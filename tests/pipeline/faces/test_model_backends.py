"""The weights-file backends with tiny random-init models in the real formats, loaded from paths."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.manifests.ids import clip_id  # noqa: E402
from lipforge.pipeline.stages.base import ClipItem  # noqa: E402
from lipforge.pipeline.stages.faces import FaceDetectStage  # noqa: E402
from lipforge.pipeline.stages.landmarks import LandmarksStage  # noqa: E402


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def tiny_yolo(models_dir):
    """A random-init YOLOv8n built from ultralytics' yaml, saved as a .pt like a real checkpoint."""
    from lipforge.pipeline.faces.detectors import _quiet_ultralytics_env

    _quiet_ultralytics_env()
    from ultralytics import YOLO

    YOLO("yolov8n.yaml").save(str(models_dir / "face.pt"))
    return "face.pt"  # relative to models_dir


@pytest.fixture(scope="module")
def tiny_fan(models_dir):
    import torch
    from face_alignment.models import FAN

    torch.manual_seed(0)
    torch.save(FAN(1).state_dict(), models_dir / "fan1.pth")
    return "fan1.pth"


def test_missing_weights_fail_at_construction_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.pt.*" + str(tmp_path)):
        FaceDetectStage(FaceDetectStage.Config(backend="ultralytics", weights="nope.pt", models_dir=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match=r"2DFAN4\.pth.*expected at .*2DFAN4\.pth.*2DFAN4-11f355bf06"):
        LandmarksStage(LandmarksStage.Config(backend="face_alignment", fan_weights=str(tmp_path / "2DFAN4.pth")))
    with pytest.raises(ValueError, match="no weights path"):
        FaceDetectStage(FaceDetectStage.Config(backend="ultralytics"))


def test_ultralytics_backend_loads_from_path_batches_and_maps_boxes(tiny_yolo, models_dir):
    import torch

    torch.set_num_threads(1)
    cfg = FaceDetectStage.Config(backend="ultralytics", weights=tiny_yolo, models_dir=str(models_dir),
                                 detect_max_side=64, conf=0.0, predict_batch=2, detect_every=1)
    stage = FaceDetectStage(cfg)
    stage.setup()
    calls = []
    predict = stage.detector.model.predict
    stage.detector.model.predict = lambda batch, **kw: calls.append(len(batch)) or predict(batch, **kw)
    frames = np.random.default_rng(0).integers(0, 255, (5, 48, 64, 3), dtype=np.uint8)
    boxes = stage.detect(frames, work_scale=0.5)  # (5, 4) source px
    assert calls == [2, 2, 1]
    assert boxes.shape == (5, 4)
    ok = np.isfinite(boxes).all(1)
    assert ok.any(), "a random model at conf 0 still returns boxes"
    b = boxes[ok]
    # working frame 64x48 at work_scale 0.5 is a 128x96 source
    assert (b[:, 0] >= 0).all() and (b[:, 2] <= 128 + 1e-3).all() and (b[:, 3] <= 96 + 1e-3).all()
    assert (b[:, 2] > 64).any(), "boxes are in source pixels, not working pixels"


def test_ultralytics_stage_end_to_end_on_a_batch(tiny_yolo, models_dir):
    cfg = FaceDetectStage.Config(backend="ultralytics", weights=str(models_dir / tiny_yolo),
                                 detect_max_side=64, conf=0.99, min_clip_s=0.1)
    frames = np.zeros((6, 48, 64, 3), np.uint8)
    cid = clip_id("s", 0.0)
    item = ClipItem(cid, "s", cid, 0, 6, frames=frames, audio=np.zeros(6 * 640, np.float32))
    (out,) = FaceDetectStage(cfg)([item])
    assert (out.reason, out.measurements["face_backend"]) == ("face_missing", "ultralytics")


def test_face_alignment_backend_with_random_fan(tiny_fan, models_dir):
    import torch

    torch.set_num_threads(1)
    cfg = LandmarksStage.Config(backend="face_alignment", fan_weights=tiny_fan, models_dir=str(models_dir),
                                fan_modules=1, fan_batch=2)
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    cid = clip_id("s", 0.0)
    item = ClipItem(cid, "s", cid, 0, 3, frames=frames, work_scale=0.5)
    face = np.array([40.0, 30.0, 90.0, 100.0], np.float32)  # source px (20..45, 15..50 working)
    item.arrays["face_boxes.npy"] = np.tile(face, (3, 1))
    (out,) = LandmarksStage(cfg)([item])
    lm = out.arrays["landmarks.npy"]
    assert lm.shape == (3, 68, 2) and lm.dtype == np.float16 and np.isfinite(lm).all()
    assert out.measurements["landmark_backend"] == "face_alignment"
    # every heatmap peak maps back inside FAN's crop square around the box (source px)
    w, h = 50 * 0.5, 70 * 0.5
    cx, cy = (20 + 45) / 2, (15 + 50) / 2 - 0.12 * h
    half = 200 * (w + h) / 195 / 2
    lo, hi = (np.array([cx, cy]) - half - 1) / 0.5, (np.array([cx, cy]) + half + 1) / 0.5
    assert (lm >= lo).all() and (lm <= hi).all()
    # the state dict really was loaded: a wrong-size FAN fails to load
    with pytest.raises(RuntimeError):
        LandmarksStage(LandmarksStage.Config(backend="face_alignment", fan_weights=tiny_fan,
                                             models_dir=str(models_dir), fan_modules=2)).setup()
