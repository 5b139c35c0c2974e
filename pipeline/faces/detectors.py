"""Face detector backends: one box per frame (the largest face) in the lipforge convention.

Both backends take RGB frames ``(T, H, W, 3)`` uint8 and return ``(T, 4)`` float64 boxes in the
pixels of the frames given (NaN rows where no face was found), already calibrated to the
forehead-to-chin convention of :mod:`lipforge.pipeline.faces.boxes`.

* :class:`DlibHogDetector`: dlib's HOG frontal face detector, on a frame downscaled so its
  longer side is at most ``max_side`` (HOG finds faces from about 80 px, and lipforge keeps only
  faces above 228 px, so 640 is enough for 1280 px working frames), then (``refine``, the
  default) the box the 68 landmarks define, placed in that box on the frame given. No weights
  file beyond the packaged shape predictor.
* :class:`UltralyticsDetector`: a YOLO face model (.pt) from a local path, batched predict on
  frames downscaled to ``imgsz``; never downloads (``YOLO_OFFLINE`` and sync off before
  ultralytics is imported) and never unpickles code (ultralytics' weights-only safe load).

The default detector, BlazeFace seeding the same 68-point refine, lives in
:mod:`lipforge.pipeline.faces.blazeface`. Model files are checked by
:func:`lipforge.pipeline.models.require_model_file` when a stage is constructed.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from lipforge.pipeline.faces.boxes import (
    DLIB_HOG_CALIBRATION,
    IDENTITY_CALIBRATION,
    box_from_landmarks,
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


def refine_boxes(frames: np.ndarray, boxes: np.ndarray, landmarker, passes: int = 1) -> np.ndarray:
    """lipforge boxes ``(T, 4)`` from the 68 landmarks placed in each box of ``frames`` (T, H, W, 3).

    The convention is defined by the landmarks (:func:`box_from_landmarks`), so this is the box
    itself rather than a box-to-box mapping; rows that are NaN (no face) stay NaN.
    """
    out = np.array(boxes, np.float64)
    for i in np.flatnonzero(np.isfinite(out).all(1)):
        b = out[i:i + 1]
        for _ in range(passes):
            b = box_from_landmarks(landmarker(frames[i:i + 1], b))
        out[i] = b[0]
    return out


class DlibHogDetector:
    """dlib HOG detector on downscaled frames; boxes in the lipforge convention.

    dlib's raw box is not scale-invariant: its size steps with the HOG pyramid (an 80 px window,
    levels 6/5 apart), so for one face it moves by up to 20 % with the detection size, and the
    face-to-box ratio also varies from face to face (``benchmarks/dlib_box_scale.py``: raw height
    / landmark height 0.66-1.15 over photos and synthetic heads at 60-420 px; no calibration by
    raw box height can undo that, the best one fitted in-sample reaches IoU 0.83 mean). With
    ``refine`` (default) the calibrated raw box only seeds dlib's 68-point shape predictor on the
    frame given (the working frame, not the downscaled one) and the box is the one the landmarks
    define, the convention itself (:func:`refine_boxes`): IoU 0.98 mean with the face's reference
    box at every size measured. ``refine=False`` returns the calibrated raw box.

    ``rescan_every`` > 0 treats the frames given as one clip in time order: HOG scans the whole
    frame on the first one, on every ``rescan_every``-th one after a whole-frame scan and on any
    frame where the search below fails; on the others it searches only the region around the
    previous frame's face (the box grown by ``ROI_MARGIN`` of its height on each side), at a
    scale that makes that face about ``ROI_FACE_PX`` tall (never finer than the whole-frame
    scan; with ``refine=False`` exactly the whole-frame scale, so raw boxes keep their size).
    That costs about a quarter of a whole-frame scan. What it gives up: a larger face appearing
    away from the tracked one is found at the next whole-frame scan, not on its first frame.
    ``rescan_every=0`` scans every frame whole (each frame on its own).

    >>> det = DlibHogDetector(max_side=640)          # doctest: +SKIP
    >>> det(frames).shape                            # doctest: +SKIP
    (T, 4)
    """

    name = "dlib"
    calibration = DLIB_HOG_CALIBRATION
    ROI_MARGIN = 0.4  # search region: the previous box grown by this share of its height per side
    ROI_FACE_PX = 112  # the previous face's height (lipforge box) in the search region's pixels

    def __init__(self, max_side: int = 640, upsample: int = 0, refine: bool = True, rescan_every: int = 0) -> None:
        import dlib

        self.max_side = max_side
        self.upsample = upsample
        self.rescan_every = int(rescan_every)
        self._det = dlib.get_frontal_face_detector()
        self._landmarker = None
        self.n_full = self.n_roi = 0  # whole-frame scans and region searches so far
        if refine:
            from lipforge.pipeline.faces.landmarks import DlibLandmarker

            self._landmarker = DlibLandmarker()

    def _largest(self, small: np.ndarray, s: float, offset: tuple[int, int] = (0, 0)) -> np.ndarray | None:
        """The largest HOG face of ``small`` (a frame or region scaled by ``s``), calibrated, in frame px."""
        rects = self._det(small, self.upsample)
        raw = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float64)
        best = largest_box(raw)
        if best is None:
            return None
        return calibrate_boxes(best / s + np.array([*offset, *offset], np.float64), self.calibration)

    def _full(self, frame: np.ndarray) -> np.ndarray | None:
        self.n_full += 1
        small, s = downscale(frame, self.max_side)
        return self._largest(small, s)

    def _region(self, frame: np.ndarray, prev: np.ndarray) -> np.ndarray | None:
        """Search around ``prev`` (the previous frame's box, frame px) only."""
        import cv2

        h, w = frame.shape[:2]
        bh = max(prev[3] - prev[1], 1.0)
        m = self.ROI_MARGIN * bh
        x0, y0 = max(0, int(prev[0] - m)), max(0, int(prev[1] - m))
        x1, y1 = min(w, int(np.ceil(prev[2] + m))), min(h, int(np.ceil(prev[3] + m)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        s = min(1.0, self.max_side / max(h, w))  # the whole-frame scan's scale
        if self._landmarker is not None:
            s = min(s, self.ROI_FACE_PX / bh)
        roi = frame[y0:y1, x0:x1]
        size = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))
        small = cv2.resize(roi, size, interpolation=cv2.INTER_AREA) if s < 1.0 else np.ascontiguousarray(roi)
        self.n_roi += 1
        # the region's own scale: its pixel size over the resized size, per axis as resized
        return self._largest(small, size[0] / (x1 - x0), (x0, y0))

    def __call__(self, frames) -> np.ndarray:
        out = np.full((len(frames), 4), np.nan)
        prev, since_full = None, 0
        for i, frame in enumerate(frames):
            frame = np.ascontiguousarray(frame)
            box = None
            if self.rescan_every and prev is not None and since_full < self.rescan_every - 1:
                box = self._region(frame, prev)
                since_full += 1
            if box is None:
                box, since_full = self._full(frame), 0
            if box is not None and self._landmarker is not None:
                box = refine_boxes(frame[None], box[None], self._landmarker)[0]
            if box is not None:
                out[i] = box
            prev = box
        return out


def _quiet_ultralytics_env() -> None:
    """Keep ultralytics off the network and its settings file out of the user's home, and make
    it load checkpoints weights-only (see :func:`_require_safe_load`)."""
    os.environ.setdefault("YOLO_OFFLINE", "true")
    # Not setdefault: loading a .pt without unpickling code is not a preference a user's
    # environment may turn off.
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    cfg = os.path.join(tempfile.gettempdir(), "lipforge-runtime", "ultralytics")
    os.makedirs(cfg, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", cfg)


def _require_safe_load() -> None:
    """Ultralytics' safe-load switch: ``torch.load(weights_only=True)`` with an allow-list of its
    own model classes, never a fallback to a full unpickle. The switch is read when ultralytics is
    imported (``ULTRALYTICS_SAFE_LOAD``); set it on the loader module too in case ultralytics was
    imported before :func:`_quiet_ultralytics_env` ran."""
    import ultralytics.nn.tasks as tasks

    if not getattr(tasks._SafeLoad, "SUPPORTED", False):
        raise RuntimeError("ultralytics' weights-only loading needs torch >= 2.6; refusing to unpickle a YOLO .pt")
    tasks.SAFE_LOAD = True


class UltralyticsDetector:
    """A YOLO face model from a local .pt file; the largest box per frame.

    ``calibration`` defaults to identity: YOLO face models (WIDER FACE style) already draw
    forehead-to-chin boxes. ``imgsz`` is the detection resolution: frames are downscaled to it
    on the CPU (the same :func:`downscale` as the dlib backend, so only detection-size frames go to
    the device), ultralytics letterboxes them, and boxes are mapped back to the frame's pixels.

    The .pt is loaded weights-only (ultralytics' safe load, :func:`_require_safe_load`): a
    checkpoint that would need code unpickled is refused with a ValueError naming the file.
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
        _require_safe_load()
        try:
            self.model = YOLO(str(weights), task="detect")
        except TypeError as e:  # ultralytics' error for globals outside its weights-only allow-list
            raise ValueError(f"stages.faces (ultralytics): {weights} cannot be loaded weights-only, so it is "
                             f"not loaded ({str(e).splitlines()[0]}); use a checkpoint saved by ultralytics "
                             "(YOLO(...).save) that holds only its own model classes") from e
        self.imgsz, self.conf, self.device = imgsz, conf, device
        self.batch_size = batch_size
        self.classes = list(classes) if classes else None
        self.calibration = calibration

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = np.full((len(frames), 4), np.nan)
        for s in range(0, len(frames), self.batch_size):
            small = [downscale(np.ascontiguousarray(f), self.imgsz) for f in frames[s:s + self.batch_size]]
            batch = [np.ascontiguousarray(f[..., ::-1]) for f, _ in small]  # RGB -> BGR, detection size
            results = self.model.predict(batch, imgsz=self.imgsz, conf=self.conf, device=self.device,
                                         classes=self.classes, verbose=False)
            for j, r in enumerate(results):
                xyxy = r.boxes.xyxy.cpu().numpy() if r.boxes is not None else np.zeros((0, 4))
                best = largest_box(xyxy)
                if best is not None:
                    out[s + j] = calibrate_boxes(best / small[j][1], self.calibration)  # frame px
        return out
