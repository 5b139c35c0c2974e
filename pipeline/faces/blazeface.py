"""BlazeFace (mediapipe Tasks) as lipforge's default face detector, seeding the 68-point refine.

Google's BlazeFace full-range detector finds faces down to about 14 px at 640 px for about a
fifth of dlib HOG's CPU time (5.5 against 29.5 ms per 640 px frame on one core); the
short-range model runs only on frames where the full-range one finds nothing (it misses faces
under about 15 % of the frame, but is sharper on close-ups). BlazeFace draws a square box
from the brows to the chin, so its box, calibrated (:data:`BLAZEFACE_CALIBRATION`), only seeds
dlib's 68-point shape predictor and the box is the one the landmarks define
(:func:`~lipforge.pipeline.faces.detectors.refine_boxes`): the same convention, and the same
box quality, as the HOG-seeded detector.

Within a clip the detector need not run on every frame it is given (``track_every``, the faces
stage's ``blazeface_track_every``): between detections the refine, seeded from the previous
box, follows the face, and the detector runs again at once where that box degrades
(:meth:`BlazeFaceDetector._track`).

The model files come from set-up (:mod:`~lipforge.pipeline.faces.blazeface_files`); the
runtime is mediapipe's Tasks ``FaceDetector`` (CPU, XNNPACK, one thread per detector).

>>> det = BlazeFaceDetector("~/.cache/lipforge/models/blazeface")   # doctest: +SKIP
>>> det(frames).shape                                              # doctest: +SKIP
(T, 4)
"""
from __future__ import annotations

import atexit
import contextlib
import os
import sys
import weakref
from pathlib import Path

import numpy as np

from lipforge.pipeline.faces.blazeface_files import FULL_RANGE, SHORT_RANGE, require_files
from lipforge.pipeline.faces.boxes import calibrate_boxes, largest_box

MEDIAPIPE_HINT = "pip install 'mediapipe==1.2.2' (scripts/setup.sh installs it and keeps one OpenCV)"
# (dx0/w, dy0/h, dx1/w, dy1/h) from each model's box to the lipforge box, the refine's seed:
# medians over 188-190 frames of the 28 real fixture videos and the portrait fixture against the
# HOG-seeded refined box (benchmarks/blazeface_boxes.py --fit --frames 8 --every 30)
BLAZEFACE_CALIBRATION = {
    FULL_RANGE: (0.066, -0.135, -0.043, 0.037),
    SHORT_RANGE: (0.026, -0.205, -0.048, 0.018),
}


_LIVE: weakref.WeakSet = weakref.WeakSet()  # detectors to close before the interpreter tears down


@atexit.register
def _close_live() -> None:
    """mediapipe's own ``__del__`` fails once its C library is unloaded at exit: close first."""
    for det in list(_LIVE):
        try:
            det.close()
        except RuntimeError:  # mediapipe's dispatcher already shut down (its atexit ran first)
            pass


@contextlib.contextmanager
def _quiet_fd2():
    """mediapipe's LiteRT logs about 60 INFO/WARNING lines per model load straight to file
    descriptor 2 (no setting turns them off in 1.2.2); hide them while the models load. A load
    that fails still raises its Python exception with the message."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _thumb(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The gray 16x16 thumbnail of ``box`` (clipped to the frame) in ``frame``, float32: every
    step-th pixel of the box (at least 64 per side) averaged down, never a copy of the box."""
    import cv2

    h, w = frame.shape[:2]
    x0, y0 = min(max(0, int(box[0])), w - 1), min(max(0, int(box[1])), h - 1)
    x1, y1 = max(min(w, int(np.ceil(box[2]))), x0 + 1), max(min(h, int(np.ceil(box[3]))), y0 + 1)
    step = max(1, min(x1 - x0, y1 - y0) // 64)
    small = cv2.resize(np.ascontiguousarray(frame[y0:y1:step, x0:x1:step]), (16, 16), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


class BlazeFaceDetector:
    """Largest BlazeFace face per frame, refined by the 68 landmarks; boxes in the lipforge convention.

    Frames ``(T, H, W, 3)`` RGB uint8 are downscaled so their longer side is at most ``max_side``
    before detection (the models see 192 or 128 px anyway; the 68-point refine runs on the frame
    given). ``refine=False`` returns the calibrated BlazeFace box. ``rescan_every`` > 0 treats
    the frames as one clip and searches only around the last face between whole-frame searches.
    """

    name = "blazeface"
    ROI_MARGIN = 0.4  # region search: the last box grown by this share of its height per side
    ROI_SIDE = 256  # the region is downscaled to at most this side (the short-range model sees 128)
    # tracking: the refined box seeded from the last one is kept only while, against that seed,
    # its IoU is at least TRACK_MIN_IOU and its height within a factor TRACK_MAX_SCALE
    TRACK_MIN_IOU = 0.7
    TRACK_MAX_SCALE = 1.2
    # ... and where the picture inside it differs from the one inside the last box by at most this
    # mean gray level (0-255, 16x16 thumbnails): on the real fixtures, frames 2 apart differ by 3.9
    # (median; 12.8 at the 99th percentile), a face against the refined box on another video's
    # frame or a blank one by 20-43 (5th percentile 23.5); above it the detector runs again
    TRACK_MAX_CHANGE = 16.0
    TRACK_HOLD = 2  # after a lost track, frames detected before tracking is tried again
    # the short-range fallback (asked only where the full-range model finds nothing) must be this
    # sure: on x264-compressed noise it reports "faces" at 0.58-0.69 (23 of 30 frames at the 0.5
    # default, where the full-range model and HOG find none); on the real fixtures' frames the
    # full-range model misses (close-ups: PCAVS_00015, PCAVS_741400163) it scores 0.89-0.95
    FALLBACK_MIN_CONFIDENCE = 0.8

    def __init__(self, model_dir: str | Path, max_side: int = 640, min_confidence: float = 0.5,
                 refine: bool = True, fallback: bool = True, rescan_every: int = 0, track_every: int = 1) -> None:
        files = require_files(model_dir)
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as e:
            raise ImportError(f"the blazeface face detector needs mediapipe's Tasks runtime: {MEDIAPIPE_HINT}") from e

        def make(path: Path):
            opts = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(path)),
                                              running_mode=vision.RunningMode.IMAGE,
                                              min_detection_confidence=float(min_confidence))
            return vision.FaceDetector.create_from_options(opts)

        self.max_side = int(max_side)
        self.calibration: tuple[float, ...] | None = None  # a config's override for both models
        with _quiet_fd2():
            self._full = make(files[FULL_RANGE])
            self._short = make(files[SHORT_RANGE]) if fallback else None
            import mediapipe as mp  # its first detect logs once more: run one on a blank image

            self._full.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8)))
        self._landmarker = None
        self.rescan_every = int(rescan_every)
        self.track_every = int(track_every)
        self.n_track = self.n_track_lost = 0  # tracked frames, and those that fell back to detection
        self.n_fallback = 0  # whole frames the short-range model was asked about
        self.n_full = self.n_roi = 0  # whole-frame and region searches so far
        _LIVE.add(self)
        if refine:
            from lipforge.pipeline.faces.landmarks import DlibLandmarker

            self._landmarker = DlibLandmarker()

    def _largest(self, model, image, s: float, calib, min_score: float = 0.0) -> np.ndarray | None:
        dets = [d for d in model.detect(image).detections if d.categories[0].score >= min_score]
        raw = np.array([[d.bounding_box.origin_x, d.bounding_box.origin_y,
                         d.bounding_box.origin_x + d.bounding_box.width,
                         d.bounding_box.origin_y + d.bounding_box.height] for d in dets], np.float64)
        best = largest_box(raw)
        return None if best is None else calibrate_boxes(best / s, calib)

    def detect_one(self, frame: np.ndarray) -> np.ndarray | None:
        """The calibrated (unrefined) box of one frame in its pixels, or None."""
        import mediapipe as mp

        from lipforge.pipeline.faces.detectors import downscale

        small, s = downscale(np.ascontiguousarray(frame), self.max_side)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(small))
        box = self._largest(self._full, image, s, self.calibration or BLAZEFACE_CALIBRATION[FULL_RANGE])
        if box is None and self._short is not None:
            self.n_fallback += 1
            box = self._largest(self._short, image, s, self.calibration or BLAZEFACE_CALIBRATION[SHORT_RANGE],
                                self.FALLBACK_MIN_CONFIDENCE)
        return box

    def _region(self, frame: np.ndarray, prev: np.ndarray) -> np.ndarray | None:
        """The short-range model on the region around ``prev`` (last box, frame px) only: there
        the face fills about half the picture, the short-range model's range (2.0 against 5.5 ms)."""
        import mediapipe as mp

        from lipforge.pipeline.faces.detectors import downscale

        h, w = frame.shape[:2]
        m = self.ROI_MARGIN * max(prev[3] - prev[1], 1.0)
        x0, y0 = max(0, int(prev[0] - m)), max(0, int(prev[1] - m))
        x1, y1 = min(w, int(np.ceil(prev[2] + m))), min(h, int(np.ceil(prev[3] + m)))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        small, s = downscale(np.ascontiguousarray(frame[y0:y1, x0:x1]), self.ROI_SIDE)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(small))
        box = self._largest(self._short, image, s, self.calibration or BLAZEFACE_CALIBRATION[SHORT_RANGE])
        self.n_roi += 1
        return None if box is None else box + np.array([x0, y0, x0, y0], np.float64)

    def _track(self, frame: np.ndarray, prev: np.ndarray, prev_frame: np.ndarray,
               prev_thumb: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray]:
        """The refine seeded from the previous frame's box (no detection), or None where it
        degrades: the refined box moved or changed size against the seed by more than the
        limits, or the picture inside it is not the face the last box held (a cut, the face gone).
        Also returns the box's thumbnail (``prev_thumb``: the last box's, None: made here)."""
        from lipforge.pipeline.faces.boxes import box_height, iou
        from lipforge.pipeline.faces.detectors import refine_boxes

        self.n_track += 1
        box = refine_boxes(frame[None], prev[None], self._landmarker)[0]
        ratio = box_height(box) / max(float(box_height(prev)), 1e-6)
        thumb = _thumb(frame, box)
        change = np.abs(thumb - (_thumb(prev_frame, prev) if prev_thumb is None else prev_thumb)).mean()
        if not (iou(box, prev) >= self.TRACK_MIN_IOU and 1 / self.TRACK_MAX_SCALE <= ratio <= self.TRACK_MAX_SCALE
                and change <= self.TRACK_MAX_CHANGE):
            self.n_track_lost += 1
            return None, thumb
        return box, thumb

    def __call__(self, frames) -> np.ndarray:
        """``frames`` in time order (one clip). With ``track_every`` > 1 (and the refine) the
        detector runs on the first frame, on every ``track_every``-th frame after a detection and
        wherever the tracked box degrades (then on the next ``TRACK_HOLD`` frames too); in
        between the refine, seeded from the previous box, follows the face. Otherwise the whole
        frame is searched on the first one, on every ``rescan_every``-th after a whole-frame
        search and wherever the region search finds nothing; in between only the region around
        the last face (as dlib's detector does)."""
        from lipforge.pipeline.faces.detectors import refine_boxes

        out = np.full((len(frames), 4), np.nan)
        prev, prev_frame, prev_thumb, since_full, hold = None, None, None, 0, 0
        tracking = self.track_every > 1 and self._landmarker is not None
        for i, frame in enumerate(frames):
            frame = np.ascontiguousarray(frame)
            box, refined = None, False
            if tracking and prev is not None and since_full < self.track_every - 1 and not hold:
                box, thumb = self._track(frame, prev, prev_frame, prev_thumb)
                since_full += 1
                refined = box is not None
                if not refined:  # lost: the detector runs on the next TRACK_HOLD frames too (where
                    hold = self.TRACK_HOLD  # the refine cannot follow, a try costs a refine more)
            elif self.rescan_every and self._short is not None and prev is not None and since_full < self.rescan_every - 1:
                box = self._region(frame, prev)
                since_full += 1
            elif hold:
                hold -= 1
            if box is None:
                box, since_full = self.detect_one(frame), 0
                self.n_full += 1
            if box is not None and self._landmarker is not None and not refined:
                box = refine_boxes(frame[None], box[None], self._landmarker)[0]
            if box is not None:
                out[i] = box
            prev, prev_frame = box, frame
            prev_thumb = thumb if refined else None  # a tracked box's thumbnail serves the next frame
        return out

    def close(self) -> None:
        for m in (self._full, self._short):
            if m is not None:
                m.close()
