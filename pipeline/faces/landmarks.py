"""68-point landmark backends, run on the face boxes of the track (no second detection).

Both take RGB frames ``(T, H, W, 3)`` uint8 and boxes ``(T, 4)`` in those frames' pixels
(lipforge forehead-to-chin convention) and return ``(T, 68, 2)`` float32 (x, y) in the same
pixels, in the iBUG 68-point order (0-based: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
mouth 48-67).

* :class:`DlibLandmarker`: dlib's shape_predictor_68 from face-recognition-models. It was
  trained on dlib detector boxes, so each box is first taken back to dlib's convention
  (:func:`lipforge.pipeline.faces.boxes.uncalibrate_boxes`).
* :class:`FanLandmarker`: face_alignment's FAN built from the package's own class, weights
  loaded from a local file with ``torch.load(weights_only=True)`` (the package itself always
  downloads). Its crops follow face_alignment's API (center shifted up 12 % of the box height,
  scale = (w + h) / 195), whose S3FD boxes are WIDER FACE style, like lipforge's.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from lipforge.pipeline.faces.boxes import DLIB_HOG_CALIBRATION, uncalibrate_boxes

FAN_WEIGHTS_HINT = ("the 2D FAN-4 weights are the file 2DFAN4-11f355bf06.pth.tar that the face-alignment "
                    "package downloads into $TORCH_HOME/hub/checkpoints (from adrianbulat.com); copy it to "
                    "the models directory and set stages.landmarks.fan_weights")


@lru_cache(maxsize=4)
def _shape_predictor(path: str):
    """One loaded predictor per file and process (the faces stage's box refinement and the
    landmarks stage share it: loading costs about 0.35 CPU-s); it is read-only when called."""
    import dlib

    return dlib.shape_predictor(path)


class DlibLandmarker:
    name = "dlib"

    def __init__(self, predictor_path: str | Path | None = None) -> None:
        if predictor_path is None:
            try:
                import face_recognition_models as frm
            except ImportError as e:  # pragma: no cover - it is a core dependency
                raise ImportError("the dlib landmark backend needs face-recognition-models: "
                                  "pip install face-recognition-models==0.3.0") from e
            predictor_path = frm.pose_predictor_model_location()
        self._pred = _shape_predictor(str(predictor_path))

    def __call__(self, frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        import dlib

        dboxes = uncalibrate_boxes(boxes, DLIB_HOG_CALIBRATION)
        out = np.zeros((len(frames), 68, 2), np.float32)
        for i, (frame, b) in enumerate(zip(frames, dboxes)):
            x0, y0, x1, y1 = (int(round(v)) for v in b)
            rect = dlib.rectangle(x0, y0, max(x1 - 1, x0 + 1), max(y1 - 1, y0 + 1))
            shape = self._pred(np.ascontiguousarray(frame), rect)
            out[i] = [(p.x, p.y) for p in shape.parts()]
        return out


class FanLandmarker:
    """face_alignment's FAN from a local state dict (2D FAN-4 by default)."""

    name = "face_alignment"

    def __init__(self, weights: str | Path, num_modules: int = 4, device: str = "cpu",
                 batch_size: int = 8, flip_input: bool = False) -> None:
        import torch
        from face_alignment.models import FAN

        self.device, self.batch_size, self.flip_input = device, batch_size, flip_input
        net = FAN(num_modules)
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        net.load_state_dict(state)
        self.net = net.to(device).eval()

    def __call__(self, frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        import torch
        from face_alignment.utils import CENTER_Y_OFFSET, crop, flip, get_preds_fromhm

        b = np.asarray(boxes, np.float64)
        centers = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=-1)
        centers[:, 1] -= (b[:, 3] - b[:, 1]) * CENTER_Y_OFFSET
        scales = ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1])) / 195.0
        out = np.zeros((len(frames), 68, 2), np.float32)
        for s in range(0, len(frames), self.batch_size):
            idx = range(s, min(s + self.batch_size, len(frames)))
            crops = np.stack([crop(np.ascontiguousarray(frames[i]), centers[i], scales[i]) for i in idx])
            x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255.0).to(self.device)  # (B, 3, 256, 256)
            with torch.no_grad():
                hm = self.net(x)[-1]  # (B, 68, 64, 64)
                if self.flip_input:
                    hm = hm + flip(self.net(flip(x))[-1], is_label=True)
            hm = hm.float().cpu().numpy()
            for j, i in enumerate(idx):
                _, pts_img, _ = get_preds_fromhm(hm[j:j + 1], centers[i], scales[i])
                out[i] = pts_img.reshape(68, 2)
        return out
