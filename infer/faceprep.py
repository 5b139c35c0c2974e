"""Face preparation for inference: boxes, landmarks, smoothed square crops and mask rectangles.

Everything geometric goes through :mod:`lipforge.pipeline.faces`, the pure functions curation's face,
landmark and crop stages use (same detector default, gap filling, crop margin and smoothing,
SayAnything adaptive mask, mask rasterisation), so a face is cropped and masked at inference
exactly as in the training shards.

Shots are respected: gaps are filled and crop boxes smoothed within a shot only
(:mod:`lipforge.infer.shots`), so a crop never glides across a hard cut.

Two entry points share every step: :func:`prepare_faces` over frames in memory (evaluation,
short clips) and :func:`track_video` over a video streamed twice from disk (inference: a
detection pass, then a landmark + crop pass that spools the crops to a
:class:`~lipforge.infer.framestore.FrameStore`), whose memory does not grow with the video.

>>> track = prepare_faces(frames, crop_size=64)   # doctest: +SKIP
>>> track.crop_boxes.shape, track.mask_rects.shape   # doctest: +SKIP
((T, 4), (T, 4))
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lipforge.errors import UserError
from lipforge.pipeline.faces.recipe import CropRecipe

# Inference crops and masks a face exactly as curation's crop stage does by default.
_CURATION_CROP = CropRecipe()
CROP_MARGIN = _CURATION_CROP.margin
CROP_SMOOTH_WINDOW = _CURATION_CROP.smooth_window
ADAPTIVE_PAD = _CURATION_CROP.adaptive_pad
CHUNK = 16  # frames per detector / landmarker call in the streaming passes
# Inside a shot, a run of frames without a detected face longer than this (25 fps frames: 0.2 s)
# is an occluder (a hand, a microphone, someone passing), not a missed detection: those frames
# pass through untouched, with a cross-fade of FACE_FADE frames in and out of them.
MAX_FACE_GAP = 5
FACE_FADE = 3


class NoFaceError(UserError, RuntimeError):
    """No face was found in the source video (a per-job error, never a crash of a batch)."""


@dataclass
class FaceTrack:
    boxes: np.ndarray  # (T, 4) face boxes x0 y0 x1 y1, frame px, lipforge convention
    landmarks: np.ndarray  # (T, 68, 2) frame px
    crop_boxes: np.ndarray  # (T, 4) square crop boxes, frame px, smoothed within each shot
    mask_rects: np.ndarray  # (T, 4) mask rectangle in crop px
    crop_size: int
    shots: np.ndarray = field(default=None)  # (T,) shot number of each frame
    has_face: np.ndarray = field(default=None)  # (T,) bool: False in a shot without any detection
    mats: np.ndarray | None = None  # (T, 2, 3) frame -> crop matrices of a similarity-aligned recipe

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if self.shots is None:
            self.shots = np.zeros(n, np.int64)
        if self.has_face is None:
            self.has_face = np.ones(n, bool)

    def to_npz(self) -> dict[str, np.ndarray]:
        d = {"boxes": self.boxes, "landmarks": self.landmarks, "crop_boxes": self.crop_boxes,
             "mask_rects": self.mask_rects, "crop_size": np.array(self.crop_size), "shots": self.shots,
             "has_face": self.has_face}
        return d if self.mats is None else {**d, "mats": self.mats}

    @classmethod
    def from_npz(cls, d) -> "FaceTrack":
        get = (lambda k: d[k] if k in d.files else None) if hasattr(d, "files") else d.get
        return cls(d["boxes"], d["landmarks"], d["crop_boxes"], d["mask_rects"], int(d["crop_size"]),
                   get("shots"), get("has_face"), get("mats"))

    def take(self, idx: np.ndarray) -> "FaceTrack":
        """The track at source frame indices ``idx`` (for the length rules)."""
        return FaceTrack(self.boxes[idx], self.landmarks[idx], self.crop_boxes[idx], self.mask_rects[idx],
                         self.crop_size, self.shots[idx], self.has_face[idx],
                         None if self.mats is None else self.mats[idx])


def render_mask_images(mask_rects: np.ndarray, size: int) -> np.ndarray:
    """(T, 4) rectangles in crop px -> (T, size, size) float32 masks (1 = region to generate)."""
    from lipforge.pipeline.faces.masks import render_masks

    return render_masks(mask_rects, size)


def fill_gaps(boxes: np.ndarray) -> np.ndarray:
    """Interpolate NaN rows between detections, hold them at the ends (inference keeps every frame)."""
    ok = np.flatnonzero(np.isfinite(boxes).all(1))
    if len(ok) == 0:
        raise NoFaceError("no face detected in any frame of the source video")
    t = np.arange(len(boxes))
    return np.stack([np.interp(t, ok, boxes[ok, c]) for c in range(4)], 1)


def long_gaps(found: np.ndarray, max_gap: int) -> np.ndarray:
    """(T,) bool: frames inside a run of ``found == False`` longer than ``max_gap`` frames.

    >>> long_gaps(np.array([1, 0, 0, 1, 0, 0, 0, 1], bool), 2).astype(int).tolist()
    [0, 0, 0, 0, 1, 1, 1, 0]
    """
    from lipforge.infer.shots import shot_runs

    out = np.zeros(len(found), bool)
    for a, b in shot_runs(np.asarray(found, bool)):
        if not found[a] and b - a > max_gap:
            out[a:b] = True
    return out


def paste_weights(has_face: np.ndarray, shots: np.ndarray, fade: int = FACE_FADE) -> np.ndarray:
    """(T,) float paste-back strength: 0 where ``has_face`` is False, ramping linearly to 1 over
    ``fade`` frames on either side of such a run, within a shot (a cut is never faded across).

    >>> paste_weights(np.array([1, 1, 1, 0, 1, 1], bool), np.zeros(6, int), fade=2).round(2).tolist()
    [1.0, 0.67, 0.33, 0.0, 0.33, 0.67]
    """
    from lipforge.infer.shots import shot_runs

    has_face = np.asarray(has_face, bool)
    w = has_face.astype(np.float64)
    for a, b in shot_runs(np.asarray(shots)):
        off = np.flatnonzero(~has_face[a:b])
        if len(off) == 0 or len(off) == b - a:
            continue
        t = np.arange(b - a)
        dist = np.min(np.abs(t[:, None] - off[None, :]), axis=1)  # frames to the nearest untouched one
        w[a:b] = np.minimum(1.0, dist / (fade + 1.0))
    return w


def boxes_by_shot(raw: np.ndarray, shots: np.ndarray, recipe=None,
                  max_gap: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gap-filled face boxes and smoothed crop boxes, each shot on its own; (boxes, crop_boxes, has_face).

    ``recipe`` (:class:`lipforge.infer.recipe.Recipe`, a trained model's) sets the crop margin and
    smoothing; without it curation's default crop.

    A shot without any detection keeps boxes interpolated from the whole video only so that its
    frames can be cropped; ``has_face`` is False there and paste-back leaves those frames untouched.
    Inside a shot, gaps of at most ``max_gap`` frames (default :data:`MAX_FACE_GAP`) are missed
    detections and filled; longer ones are occlusions: boxes are interpolated (the crop still
    glides) but ``has_face`` is False, so the occluder is never painted over.
    Raises :class:`NoFaceError` when no frame of the video has a face.
    """
    from lipforge.infer.shots import shot_runs
    from lipforge.pipeline.faces.crop import crop_boxes_from_faces

    crop = recipe.crop_config() if recipe is not None else _CURATION_CROP
    max_gap = MAX_FACE_GAP if max_gap is None else int(max_gap)
    if max_gap < 0:
        raise ValueError(f"max_face_gap must be >= 0 frames, got {max_gap}")
    everywhere = fill_gaps(raw)  # raises NoFaceError when there is no face at all
    boxes = np.empty_like(everywhere)
    crops = np.empty_like(everywhere)
    has_face = np.ones(len(raw), bool)
    for a, b in shot_runs(shots):
        piece = raw[a:b]
        found = np.isfinite(piece).all(1)
        if found.any():
            boxes[a:b] = fill_gaps(piece)
            has_face[a:b] = ~long_gaps(found, max_gap)
        else:
            boxes[a:b] = everywhere[a:b]
            has_face[a:b] = False
        crops[a:b] = crop_boxes_from_faces(boxes[a:b], crop.margin, crop.smooth_window)
    return boxes, crops, has_face


def align_of(recipe) -> float | None:
    """The recipe's crop margin when it aligns faces by similarity (None: box crops)."""
    c = recipe.crop_config() if recipe is not None else _CURATION_CROP
    return c.margin if c.align == "similarity" else None


def mask_rects_of(landmarks: np.ndarray, crop_boxes: np.ndarray, crop_size: int, recipe=None,
                  mats: np.ndarray | None = None) -> np.ndarray:
    """(T, 4) mask rectangles in crop px: the recipe's mask type (curation's adaptive mask without one);
    ``mats``: the aligned crops' frame -> crop matrices (else the box crops')."""
    from lipforge.pipeline.faces.align import apply_affine
    from lipforge.pipeline.faces.crop import points_to_crop
    from lipforge.pipeline.faces.masks import adaptive_mask_rects

    lm_crop = points_to_crop(landmarks, crop_boxes, crop_size) if mats is None else apply_affine(mats, landmarks)
    rects = recipe.mask_rects(lm_crop, crop_size) if recipe is not None else \
        adaptive_mask_rects(lm_crop, crop_size, ADAPTIVE_PAD)
    return np.asarray(rects, np.float64)


def _detector(detector=None):
    from lipforge.pipeline.faces.detectors import DlibHogDetector

    return detector or DlibHogDetector()


def _landmarker(landmarker=None):
    from lipforge.pipeline.faces.landmarks import DlibLandmarker

    return landmarker or DlibLandmarker()


def prepare_faces(frames: np.ndarray, crop_size: int, detector=None, landmarker=None,
                  detect_every: int = 1, shots: np.ndarray | None = None, recipe=None,
                  max_gap: int | None = None) -> FaceTrack:
    """Detect, fill gaps, landmark, crop and mask frames in memory (T, H, W, 3).

    Raises :class:`NoFaceError` when no frame has a face. Unlike curation, inference cannot
    drop frames: every frame belongs to its shot's track; gaps longer than ``max_gap`` are
    marked ``has_face=False`` (left untouched), shorter ones filled.
    ``recipe`` (a trained model's :class:`lipforge.infer.recipe.Recipe`) sets crop and mask type.
    """
    from lipforge.pipeline.faces.tracks import sample_indices, scatter_samples

    detector, landmarker = _detector(detector), _landmarker(landmarker)
    n = len(frames)
    shots = np.zeros(n, np.int64) if shots is None else np.asarray(shots, np.int64)
    idx = sample_indices(n, detect_every)
    boxes, crop_boxes, has_face = boxes_by_shot(scatter_samples(idx, detector(frames[idx]), n), shots, recipe,
                                                max_gap)
    lm = np.asarray(landmarker(frames, boxes), np.float64)  # (T, 68, 2)
    return FaceTrack(boxes, lm, crop_boxes, mask_rects_of(lm, crop_boxes, crop_size, recipe), crop_size, shots,
                     has_face)


def detect_pass(info, detector=None, split_shots: bool = True,
                limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Streaming pass 1 over the 25 fps timeline: raw boxes (T, 4) (NaN = no face) and shot ids (T,);
    with ``limit``, only the first ``limit`` frames are decoded (what a short output uses)."""
    from lipforge.infer.shots import ShotDetector
    from lipforge.infer.source import iter_model_frames

    detector = _detector(detector)
    cuts = ShotDetector() if split_shots else None
    out, chunk = [], []
    for _, rgb in iter_model_frames(info, limit):
        if cuts is not None:
            cuts.feed(rgb)
        chunk.append(rgb)
        if len(chunk) == CHUNK:
            out.append(np.asarray(detector(np.stack(chunk)), np.float64))
            chunk = []
    if chunk:
        out.append(np.asarray(detector(np.stack(chunk)), np.float64))
    raw = np.concatenate(out)
    shots = cuts.ids if cuts is not None else np.zeros(len(raw), np.int64)
    return raw, shots


def crop_pass(info, crop_boxes: np.ndarray, crop_size: int, store, boxes: np.ndarray | None = None,
              landmarker=None, landmarks: np.ndarray | None = None,
              align_margin: float | None = None) -> np.ndarray | None:
    """Streaming pass 2: crops of every 25 fps frame appended to ``store``; with ``boxes``, the
    landmarks (T, 68, 2) of those frames too (else None: a cached track has them, ``landmarks``).
    ``align_margin``: similarity-aligned crops (:mod:`lipforge.pipeline.faces.align`) at that
    margin, from each frame's landmarks, instead of the square crop boxes."""
    from lipforge.infer.source import iter_model_frames
    from lipforge.pipeline.faces.align import align_matrices, warp_to_crop
    from lipforge.pipeline.faces.crop import crop_frames

    if boxes is not None:
        landmarker = _landmarker(landmarker)
    lms, chunk, start = [], [], 0

    def flush():
        frames = np.stack(chunk)
        sl = slice(start, start + len(chunk))
        lm = np.asarray(landmarker(frames, boxes[sl]), np.float64) if boxes is not None else None
        if boxes is not None:
            lms.append(lm)
        if align_margin is None:
            store.append(crop_frames(frames, crop_boxes[sl], crop_size))
        else:
            mats = align_matrices(lm if lm is not None else landmarks[sl], crop_size, align_margin)
            store.append(np.stack([warp_to_crop(f, m, crop_size) for f, m in zip(frames, mats)]))

    for _, rgb in iter_model_frames(info, len(crop_boxes)):  # a limited track: the frames it covers
        chunk.append(rgb)
        if len(chunk) == CHUNK:
            flush()
            start += len(chunk)
            chunk = []
    if chunk:
        flush()
    return np.concatenate(lms) if boxes is not None else None
