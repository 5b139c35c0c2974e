"""Face detector backends: one box per frame (the largest face) in the lipforge convention.

Both backends take RGB frames ``(T, H, W, 3)`` uint8 and return ``(T, 4)`` float64 boxes in the
pixels of the frames given (NaN rows where no face was found), already calibrated to the
forehead-to-chin convention of :mod:`lipforge.pipeline.faces.boxes`.

* :class:`DlibHogDetector`: dlib's HOG frontal face detector, on a frame downscaled so its
  longer side is at most ``max_side`` (HOG finds faces from about 80 px, and lipforge keeps only
  faces above 228 px, so 640 is enough for 1280 px working frames). No weights file.
* :class:`UltralyticsDetector`: a YOLO face model (.pt) from a local path, batched predict;
  never downloads (``YOLO_OFFLINE`` and sync off before ultralytics is imported).

Model files are checked by :func:`lipforge.pipeline.models.require_model_file` when a stage is constructed.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from lipforge.pipeline.faces.boxes import (
    DLIB_HOG_CALIBRATION,
    IDENTITY_CALIBRATION,
    calibrate_boxes,
    largest_box,
)


def downscale(frame: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Frame resized so its longer side is at most ``max_side``; returns (frame, scale <= 1)."""
    import cv2

    h, w = frame.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s >= 1.0:
        return frame, 1.0
    small = cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return small, s


class DlibHogDetector:
    """dlib HOG detector on downscaled frames; boxes calibrated to the lipforge convention.

    >>> det = DlibHogDetector(max_side=640)          # doctest: +SKIP
    >>> det(frames).shape                            # doctest: +SKIP
    (T, 4)
    """

    name = "dlib"
    calibration = DLIB_HOG_CALIBRATION

    def __init__(self, max_side: int = 640, upsample: int = 0) -> None:
        import dlib

        self.max_side = max_side
        self.upsample = upsample
        self._det = dlib.get_frontal_face_detector()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = np.full((len(frames), 4), np.nan)
        for i, frame in enumerate(frames):
            small, s = downscale(np.ascontiguousarray(frame), self.max_side)
            rects = self._det(small, self.upsample)
            raw = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float64)
            best = largest_box(raw)
            if best is not None:
                out[i] = calibrate_boxes(best / s, self.calibration)
        return out


def _quiet_ultralytics_env() -> None:
    """Keep ultralytics off the network and its settings file out of the user's home."""
    os.environ.setdefault("YOLO_OFFLINE", "true")
    cfg = os.path.join(tempfile.gettempdir(), "lipforge-runtime", "ultralytics")
    os.makedirs(cfg, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", cfg)


class UltralyticsDetector:
    """A YOLO face model from a local .pt file; the largest box per frame.

    ``calibration`` defaults to identity: YOLO face models (WIDER FACE style) already draw
    forehead-to-chin boxes. ``imgsz`` is the detection resolution (letterboxed by ultralytics,
    boxes come back in the frame's pixels).
    """

    name = "ultralytics"

    def __init__(self, weights: str | Path, imgsz: int = 640, conf: float = 0.25, device: str = "cpu",
                 batch_size: int = 16, classes: tuple[int, ...] | None = None,
                 calibration: tuple[float, float, float, float] = IDENTITY_CALIBRATION) -> None:
        _quiet_ultralytics_env()
        from ultralytics import YOLO
        from ultralytics.utils import SETTINGS

        if SETTINGS.get("sync", False):
            SETTINGS.update(sync=False)
        self.model = YOLO(str(weights), task="detect")
        self.imgsz, self.conf, self.device = imgsz, conf, device
        self.batch_size = batch_size
        self.classes = list(classes) if classes else None
        self.calibration = calibration

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = np.full((len(frames), 4), np.nan)
        for s in range(0, len(frames), self.batch_size):
            batch = [np.ascontiguousarray(f[..., ::-1]) for f in frames[s:s + self.batch_size]]  # RGB -> BGR
            results = self.model.predict(batch, imgsz=self.imgsz, conf=self.conf, device=self.device,
                                         classes=self.classes, verbose=False)
            for j, r in enumerate(results):
                xyxy = r.boxes.xyxy.cpu().numpy() if r.boxes is not None else np.zeros((0, 4))
                best = largest_box(xyxy)
                if best is not None:
                    out[s + j] = calibrate_boxes(best, self.calibration)
        return out
