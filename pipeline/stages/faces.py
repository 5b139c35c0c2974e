"""Face detection stage: the largest face per frame, tracks, the 228 px rule (SayAnything).

For each candidate clip the detector finds the largest face per frame (every ``detect_every``-th
frame, interpolated between), boxes are put in the forehead-to-chin convention and mapped to
source pixels, then :func:`lipforge.pipeline.faces.build_tracks` fills gaps of up to ``max_gap`` frames
and cuts the clip at longer gaps and at box jumps. Each piece becomes a clip (same parent_id,
sliced frames and audio); pieces are dropped as ``face_missing`` (no face), ``too_short``
(< ``min_clip_s``) or ``face_too_small`` (the face box never taller than ``min_face_px``).
A dataset's face box (an input list's ``box_*``) can seed detection or drop a track outside it
as ``face_outside_dataset_box``; both are off by default (:mod:`lipforge.pipeline.faces.dataset_box`).

Arrays: ``face_boxes.npy`` (T, 4) float32 source px and ``detected.npy`` (T,) uint8.

>>> stage = FaceDetectStage(FaceDetectStage.Config(backend="blazeface", detect_max_side=640))
>>> kept = [it for it in stage([item]) if it.kept]          # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from lipforge.manifests.ids import clip_id
from lipforge.pipeline.stages.base import ClipItem, Stage, StageConfig

BACKENDS = ("blazeface", "dlib", "ultralytics")
YOLO_WEIGHTS_HINT = ("a YOLO face detector .pt (for example a yolov8n-face or yolo11n-face checkpoint trained "
                     "on WIDER FACE) that you place in the models directory; lipforge never downloads it")


@dataclass(frozen=True)
class FaceDetectConfig(StageConfig):
    # blazeface (default: BlazeFace full-range, short-range fallback; model files from set-up) |
    # dlib (HOG, no file beyond the package's) | ultralytics (your own YOLO face .pt)
    backend: str = "blazeface"
    detect_max_side: int = 640  # detection resolution: longer side of the frame the detector sees
    # blazeface: the folder holding both .tflite files (scripts/setup.sh fills the default one)
    blazeface_dir: str = "~/.cache/lipforge/models/blazeface"
    blazeface_min_confidence: float = 0.5
    # blazeface: search the whole frame on every k-th detection (and wherever the face is lost);
    # between, the short-range model on the region around the last face: 1.3-2.4x less detection
    # CPU, but boxes differ more from whole-frame ones on close-up crops (IoU 0.87 on one), so off
    blazeface_rescan_every: int = 0
    # blazeface: the detector runs on every k-th detection (the first of each clip, and wherever
    # the tracked box degrades); between, the 68-point refine seeded from the previous box tracks
    # the face (1: the detector on every detection)
    blazeface_track_every: int = 8
    dlib_upsample: int = 0  # HOG pyramid upsampling (1 finds faces half as large, 4x slower)
    # blazeface and dlib: the box the 68 landmarks define, the detector's box only seeding them
    # (the convention itself; HOG's own box steps with the detection size)
    dlib_refine: bool = True
    # dlib: scan the whole frame on every k-th detection (and wherever the face is lost); between,
    # search only around the last face, about 4x cheaper (0: every detection scans the whole frame)
    dlib_rescan_every: int = 12
    weights: str = ""  # ultralytics: path of the .pt, relative to models_dir unless absolute
    models_dir: str | None = None  # the runner copies RunConfig.models_dir here
    device: str = "cpu"
    conf: float = 0.4  # ultralytics confidence threshold
    predict_batch: int = 16  # frames per ultralytics predict call
    # (dx0/w, dy0/h, dx1/w, dy1/h); None: backend's own; with dlib_refine only the landmarks' seed
    calibration: tuple[float, ...] | None = None
    # detect on every k-th frame (and the last), interpolate between: 3 cuts the CPU's largest
    # per-frame cost to a third (README "Per-frame cost on the CPU"); the GPU config detects
    # every frame
    detect_every: int = 3
    max_gap: int = 8  # frames without a face that are filled; a longer gap splits
    jump_threshold: float = 0.35  # box_jump (edge move / box height) that splits the clip
    min_face_px: float = 228.0  # drop face_too_small unless the face box height ever exceeds this
    min_clip_s: float = 2.0  # pieces shorter than this are dropped too_short
    # --- a dataset's face box (issue 16; lipforge.pipeline.faces.dataset_box), off by default
    dataset_box_seed: bool = False  # detect only inside the dataset box grown by dataset_box_margin
    dataset_box_check: bool = False  # drop face_outside_dataset_box when the overlap is below the minimum
    dataset_box_min_overlap: float = 0.5  # share of the median face box inside the dataset box
    dataset_box_margin: float = 0.25  # seed region: the box grown by this share of its size per side

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.dataset_box_min_overlap <= 1.0:
            raise ValueError(f"FaceDetectConfig.dataset_box_min_overlap must be in [0, 1], got {self.dataset_box_min_overlap}")
        if self.dataset_box_margin < 0:
            raise ValueError(f"FaceDetectConfig.dataset_box_margin must be >= 0, got {self.dataset_box_margin}")
        if self.backend not in BACKENDS:
            raise ValueError(f"FaceDetectConfig.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.detect_max_side < 32:
            raise ValueError(f"FaceDetectConfig.detect_max_side must be >= 32, got {self.detect_max_side}")
        if not 0 <= self.blazeface_rescan_every <= 1000:
            raise ValueError(f"FaceDetectConfig.blazeface_rescan_every must be in [0, 1000], got {self.blazeface_rescan_every}")
        if not 1 <= self.blazeface_track_every <= 1000:
            raise ValueError(f"FaceDetectConfig.blazeface_track_every must be in [1, 1000], got {self.blazeface_track_every}")
        if not 0 <= self.dlib_rescan_every <= 1000:
            raise ValueError(f"FaceDetectConfig.dlib_rescan_every must be in [0, 1000], got {self.dlib_rescan_every}")
        if self.dlib_upsample not in (0, 1, 2):
            raise ValueError(f"FaceDetectConfig.dlib_upsample must be 0, 1 or 2, got {self.dlib_upsample}")
        if not 0.0 < self.blazeface_min_confidence < 1.0:
            raise ValueError("FaceDetectConfig.blazeface_min_confidence must be in (0, 1), "
                             f"got {self.blazeface_min_confidence}")
        if not 0.0 <= self.conf <= 1.0:
            raise ValueError(f"FaceDetectConfig.conf must be in [0, 1], got {self.conf}")
        if self.predict_batch < 1:
            raise ValueError(f"FaceDetectConfig.predict_batch must be >= 1, got {self.predict_batch}")
        if self.calibration is not None:
            if len(self.calibration) != 4:
                raise ValueError(f"FaceDetectConfig.calibration must have 4 numbers, got {self.calibration!r}")
            object.__setattr__(self, "calibration", tuple(float(v) for v in self.calibration))
        if not 1 <= self.detect_every <= 9:
            raise ValueError(f"FaceDetectConfig.detect_every must be in [1, 9] (gaps stay <= 8), got {self.detect_every}")
        if self.max_gap < 0:
            raise ValueError(f"FaceDetectConfig.max_gap must be >= 0, got {self.max_gap}")
        if self.jump_threshold <= 0:
            raise ValueError(f"FaceDetectConfig.jump_threshold must be > 0, got {self.jump_threshold}")
        if self.min_face_px < 0:
            raise ValueError(f"FaceDetectConfig.min_face_px must be >= 0, got {self.min_face_px}")
        if self.min_clip_s < 0:
            raise ValueError(f"FaceDetectConfig.min_clip_s must be >= 0, got {self.min_clip_s}")


def slice_item(item: ClipItem, s: int, e: int) -> ClipItem:
    """A child clip of frames [s, e) of ``item``: same parent, own id, sliced pixels and arrays.

    A child starting where its parent starts keeps the parent's id.
    """
    n = len(item.frames) if item.frames is not None else item.n_frames
    if s == 0 and e == n:
        return item
    s, e = int(s), int(e)
    start = item.start_frame + s
    cid = item.clip_id if s == 0 else clip_id(item.source_id, start / item.fps, track=0)
    spf = int(round(item.sample_rate / item.fps))
    audio = None if item.audio is None else np.array(item.audio[s * spf:e * spf])
    frames = None if item.frames is None else np.array(item.frames[s:e])
    arrays = {k: (np.array(v[s:e]) if getattr(v, "ndim", 0) >= 1 and len(v) == n else v)
              for k, v in item.arrays.items()}
    return dataclasses.replace(item, clip_id=cid, start_frame=start, end_frame=item.start_frame + e,
                               frames=frames, audio=audio, arrays=arrays,
                               measurements=dict(item.measurements))


class FaceDetectStage(Stage):
    """Largest-face tracks per clip; see the module docstring."""

    name = "faces"
    Config = FaceDetectConfig
    VERSION = 2  # 2: BlazeFace's short-range fallback counts only detections scoring >= 0.8
    # Re-judging (lipforge.pipeline.stages.rejudge): these fields only decide which pieces are dropped,
    # from the stored piece length, face_max_px and dataset_box_overlap (measured whatever they
    # are). Everything that moves boxes or cuts pieces (backend, detection size, detect_every,
    # max_gap, jump_threshold, calibration, the dataset-box seed) is a measurement. The stage
    # SPLITS a candidate into pieces: when an earlier stage now drops it, its pieces become the one
    # candidate row a fresh run writes.
    THRESHOLDS = ("min_face_px", "min_clip_s", "dataset_box_check", "dataset_box_min_overlap")
    MEASURES = ("face_backend", "face_max_px", "face_median_px", "face_detected_ratio", "face_filled_frames",
                "face_max_jump", "dataset_box_overlap", "sheet_face_boxes")
    SPLITS = True

    def __init__(self, config: FaceDetectConfig | None = None) -> None:
        super().__init__(config)
        self._weights = None
        if self.config.backend == "blazeface":
            self._weights = self._blazeface_dir()
        elif self.config.backend == "ultralytics":
            from lipforge.pipeline.models import require_model_file as resolve_model_path

            self._weights = resolve_model_path(self.config.weights, self.config.models_dir,
                                               "stages.faces (ultralytics)", YOLO_WEIGHTS_HINT)
        self.detector = None

    def _blazeface_dir(self) -> str:
        """The model folder (relative to models_dir unless absolute), both files checked now."""
        import importlib.util
        import os

        from lipforge.pipeline.faces.blazeface import MEDIAPIPE_HINT
        from lipforge.pipeline.faces.blazeface_files import require_files

        d = os.path.expanduser(self.config.blazeface_dir)
        if not os.path.isabs(d) and self.config.models_dir:
            d = os.path.join(os.path.expanduser(self.config.models_dir), d)
        require_files(d)
        if importlib.util.find_spec("mediapipe") is None:
            raise ImportError(f"stages.faces (blazeface) needs mediapipe's Tasks runtime: {MEDIAPIPE_HINT}")
        return d

    def setup(self) -> None:
        from lipforge.pipeline.faces.detectors import DlibHogDetector, UltralyticsDetector

        c = self.config
        if c.backend == "blazeface":
            from lipforge.pipeline.faces.blazeface import BlazeFaceDetector

            self.detector = BlazeFaceDetector(self._weights, c.detect_max_side, c.blazeface_min_confidence,
                                              refine=c.dlib_refine, rescan_every=c.blazeface_rescan_every,
                                              track_every=c.blazeface_track_every)
        elif c.backend == "dlib":
            self.detector = DlibHogDetector(c.detect_max_side, c.dlib_upsample, refine=c.dlib_refine,
                                            rescan_every=c.dlib_rescan_every)
        else:
            self.detector = UltralyticsDetector(self._weights, imgsz=c.detect_max_side, conf=c.conf,
                                                device=c.device, batch_size=c.predict_batch)
        if c.calibration is not None:
            self.detector.calibration = c.calibration

    def detect(self, frames: np.ndarray, work_scale: float) -> np.ndarray:
        """(T, H, W, 3) working frames -> (T, 4) boxes in source px, NaN where not detected/sampled."""
        from lipforge.pipeline.faces.tracks import sample_indices, scatter_samples

        idx = sample_indices(len(frames), self.config.detect_every)
        # a list of views, not frames[idx]: that fancy index would copy every sampled frame
        boxes = self.detector([frames[i] for i in idx]) / work_scale  # (k, 4) source px
        return scatter_samples(idx, boxes, len(frames))

    def process(self, items: list[ClipItem]) -> list[ClipItem]:
        out: list[ClipItem] = []
        for item in items:
            if item.frames is None:
                raise ValueError(f"faces: kept clip {item.clip_id} has no frames")
            out.extend(self._judge(item, self._detect_item(item)))
        return out

    def _detect_item(self, item: ClipItem) -> np.ndarray:
        """Boxes of the clip; with ``dataset_box_seed`` only the dataset box's region is searched."""
        ds_box = item.measurements.get("dataset_box")
        if not (self.config.dataset_box_seed and ds_box is not None):
            return self.detect(item.frames, item.work_scale)
        from lipforge.pipeline.faces.dataset_box import seed_region

        h, w = item.frames.shape[1:3]
        x0, y0, x1, y1 = seed_region(ds_box, w, h, self.config.dataset_box_margin)  # working px
        boxes = self.detect(item.frames[:, y0:y1, x0:x1], item.work_scale)  # source px of the region
        return boxes + np.array([x0, y0, x0, y0], np.float64) / item.work_scale

    @staticmethod
    def _dataset_box_overlap(child: ClipItem, boxes: np.ndarray) -> float | None:
        """Record (and return) how much of the piece's median face box lies in the dataset box."""
        ds_box = child.measurements.get("dataset_box")
        if ds_box is None or not child.source_width:
            return None
        from lipforge.pipeline.faces.dataset_box import box_px, median_box, overlap

        ov = overlap(median_box(boxes), box_px(ds_box, child.source_width, child.source_height))
        child.measurements["dataset_box_overlap"] = ov
        return ov

    def _judge(self, item: ClipItem, boxes: np.ndarray) -> list[ClipItem]:
        from lipforge.pipeline.faces.boxes import box_height
        from lipforge.pipeline.faces.tracks import build_tracks

        c = self.config
        pieces = build_tracks(boxes, c.max_gap, c.jump_threshold, c.detect_every)
        children = []
        for p in pieces:
            child = slice_item(item, p.start, p.end)
            m = child.measurements
            m["face_backend"] = c.backend
            if not p.has_face:
                m.update(face_detected_ratio=0.0, face_filled_frames=0)
                children.append(child.drop("face_missing", by=self.name))
                continue
            h = box_height(p.boxes)
            m.update(face_max_px=float(h.max()), face_median_px=float(np.median(h)),
                     face_detected_ratio=float(p.detected.mean()), face_filled_frames=int(p.filled),
                     face_max_jump=float(p.max_jump))
            child.arrays["face_boxes.npy"] = p.boxes.astype(np.float32)  # (T, 4) source px
            child.arrays["detected.npy"] = p.detected.astype(np.uint8)  # (T,)
            overlap = self._dataset_box_overlap(child, p.boxes)
            reason = self.rule(p.n_frames, item.fps, m["face_max_px"], overlap)
            if reason:
                child.drop(reason, by=self.name)
            children.append(child)
        return children

    def rule(self, n_frames: int, fps: float, face_max_px: float, overlap: float | None) -> str | None:
        """The verdict on a piece with a face, shared by :meth:`_judge` and :meth:`judge`."""
        c = self.config
        if n_frames < int(math.ceil(c.min_clip_s * fps - 1e-9)):
            return "too_short"
        if not face_max_px > c.min_face_px:
            return "face_too_small"
        if c.dataset_box_check and overlap is not None and overlap < c.dataset_box_min_overlap:
            return "face_outside_dataset_box"
        return None

    def judge(self, measurements: dict):
        """This config's verdict on a stored piece row (``UNKNOWN`` when it cannot tell)."""
        from lipforge.pipeline.stages.rejudge import UNKNOWN

        m = measurements
        if m.get("face_backend") != self.config.backend or not m.get("duration_s"):
            return UNKNOWN
        if m.get("face_max_px") is None:
            return "face_missing"  # no face in the piece: no threshold decides that
        n = int(m["end_frame"]) - int(m["start_frame"])
        fps = float(round(n / m["duration_s"]))  # the normalized rate (25): frames / seconds, exact
        return self.rule(n, fps, float(m["face_max_px"]), m.get("dataset_box_overlap"))
