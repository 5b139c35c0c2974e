"""A YOLO .pt is loaded weights-only: a crafted checkpoint runs nothing, a real one still loads."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()


class _Payload:
    """Unpickling this creates the marker file: what a crafted ``yolov8n-face.pt`` would do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_pt_runs_no_code(tmp_path):
    import torch

    from lipforge.pipeline.stages.faces import FaceDetectStage

    marker = tmp_path / "pwned"
    pt = tmp_path / "yolov8n-face.pt"
    torch.save({"model": _Payload(str(marker)), "train_args": {}}, pt)
    # the file really is hostile: a plain (unsafe) unpickle runs its code
    torch.load(pt, weights_only=False)
    assert marker.exists()
    marker.unlink()

    stage = FaceDetectStage(FaceDetectStage.Config(backend="ultralytics", weights=str(pt)))
    with pytest.raises(ValueError, match=r"yolov8n-face\.pt cannot be loaded weights-only"):
        stage.setup()
    assert not marker.exists(), "loading the crafted checkpoint ran its code"


def test_ultralytics_checkpoint_loads_and_detects_on_downscaled_frames(tmp_path):
    import torch

    from lipforge.pipeline.faces.detectors import UltralyticsDetector, _quiet_ultralytics_env

    _quiet_ultralytics_env()
    from ultralytics import YOLO

    YOLO("yolov8n.yaml").save(str(tmp_path / "face.pt"))  # random init, ultralytics' own format
    torch.set_num_threads(1)
    det = UltralyticsDetector(tmp_path / "face.pt", imgsz=64, conf=0.0, batch_size=2)
    seen = []
    predict = det.model.predict
    det.model.predict = lambda batch, **kw: seen.extend(f.shape for f in batch) or predict(batch, **kw)
    frames = np.random.default_rng(0).integers(0, 255, (3, 96, 128, 3), dtype=np.uint8)
    boxes = det(frames)
    assert seen == [(48, 64, 3)] * 3  # the device gets detection-size frames, not the working frames
    ok = np.isfinite(boxes).all(1)
    assert ok.any()
    assert (boxes[ok][:, 2] > 64).any(), "boxes are mapped back to the frame's 128 px, not the 64 px input"
