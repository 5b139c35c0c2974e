"""Pure frame-level helpers of inference: length rules, segment plan and blending, compositing.

No model, no Ray: the pipeline, the batch runner and the tests all call these, so a single job
and a batch of thousands treat lengths, overlaps and paste-back identically.

>>> loop_indices(4, 9).tolist()           # forward then backward, endpoints not repeated
[0, 1, 2, 3, 2, 1, 0, 1, 2]
>>> [(s.start, s.end) for s in plan_segments(40, 16, 4)]
[(0, 16), (12, 28), (24, 40)]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FPS = 25
SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS


# ----------------------------------------------------------------------------- length rules
def frames_for_audio(n_samples: int, sample_rate: int = SAMPLE_RATE, fps: int = FPS) -> int:
    """Number of output frames that cover ``n_samples`` of audio (the last partial frame counts)."""
    if n_samples <= 0:
        raise ValueError(f"audio has {n_samples} samples; inference needs at least one")
    return int(np.ceil(n_samples * fps / sample_rate - 1e-9))


def loop_indices(n_src: int, n_out: int) -> np.ndarray:
    """Source frame index per output frame: truncate, or loop forward then backward (ping-pong).

    The turn points are not repeated (..., T-2, T-1, T-2, ...), so the motion never freezes for a
    frame; the sequence has period 2 (T - 1).
    """
    if n_src < 1 or n_out < 1:
        raise ValueError(f"loop_indices needs n_src >= 1 and n_out >= 1, got n_src={n_src}, n_out={n_out}")
    t = np.arange(n_out)
    if n_src == 1:
        return np.zeros(n_out, np.int64)
    period = 2 * (n_src - 1)
    p = t % period
    return np.where(p < n_src, p, period - p).astype(np.int64)


def loop_positions(n_src: int, n_out: int, smooth: int = 2) -> np.ndarray:
    """Fractional source positions: :func:`loop_indices` with the turn points rounded off.

    A moving average of half-width ``smooth`` leaves the linear stretches unchanged and replaces
    the hard velocity reversal at each join by a short deceleration, so a looped video does not
    visibly bounce. Only frames within ``smooth`` of a join move.
    """
    idx = loop_indices(n_src, n_out).astype(np.float64)
    if smooth <= 0 or n_out <= n_src or n_src < 3:
        return idx
    ext = loop_indices(n_src, n_out + smooth).astype(np.float64)  # continue the ping-pong past the end
    ext = np.concatenate([np.arange(-smooth, 0, dtype=np.float64), ext])  # the start is no join: extend linearly
    k = np.ones(2 * smooth + 1) / (2 * smooth + 1)
    out = np.convolve(ext, k, mode="valid")  # (n_out,)
    return np.clip(out, 0, n_src - 1)


def sample_frames(frames: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(T, H, W, C) frames at fractional ``positions`` by linear blending of the two neighbours."""
    pos = np.asarray(positions, np.float64)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(frames) - 1)
    w = (pos - lo)[:, None, None, None]
    if np.all(w == 0):
        return frames[lo]
    out = frames[lo].astype(np.float32) * (1 - w) + frames[hi].astype(np.float32) * w
    return np.clip(np.rint(out), 0, 255).astype(frames.dtype)


def fit_length(frames: np.ndarray, n_out: int, smooth: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Apply the length rules; returns (frames (n_out, H, W, C), source positions (n_out,))."""
    pos = np.arange(n_out, dtype=np.float64) if n_out <= len(frames) else loop_positions(len(frames), n_out, smooth)
    return sample_frames(frames, pos), pos


def fit_audio(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Pad the audio with silence to a whole number of frames (never cut speech)."""
    need = n_frames * SAMPLES_PER_FRAME
    return np.pad(np.asarray(audio, np.float32), (0, max(0, need - len(audio))))


# ----------------------------------------------------------------------------- segments
@dataclass(frozen=True)
class Segment:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start


def plan_segments(n_frames: int, length: int = 16, overlap: int = 4) -> list[Segment]:
    """Windows of ``length`` frames, consecutive ones sharing at least ``overlap`` frames.

    The last window is aligned to the end (it may overlap more); a video shorter than one window
    is a single short window.
    """
    if length < 1 or not 0 <= overlap < length:
        raise ValueError(f"plan_segments needs length >= 1 and 0 <= overlap < length, got length={length}, "
                         f"overlap={overlap}")
    if n_frames < 1:
        raise ValueError(f"plan_segments needs n_frames >= 1, got {n_frames}")
    if n_frames <= length:
        return [Segment(0, n_frames)]
    stride = length - overlap
    starts = list(range(0, n_frames - length + 1, stride))
    if starts[-1] + length < n_frames:
        starts.append(n_frames - length)
    return [Segment(s, s + length) for s in starts]


def segment_weights(segments: list[Segment], n_frames: int) -> list[np.ndarray]:
    """Per-segment blending weights (length of each segment) that sum to 1 on every frame.

    In the frames shared by two neighbours, the earlier one ramps down linearly and the later one
    ramps up (r_i = (i + 1) / (m + 1)), so a segment-wise difference turns into a gentle ramp
    instead of a step.
    """
    ws = [np.ones(s.length, np.float64) for s in segments]
    for k in range(len(segments) - 1):
        a, b = segments[k], segments[k + 1]
        m = a.end - b.start
        if m <= 0:
            continue
        r = (np.arange(m) + 1) / (m + 1)  # ramp up for b
        ws[k][a.length - m:] *= 1 - r
        ws[k + 1][:m] *= r
    total = np.zeros(n_frames)
    for s, w in zip(segments, ws):
        total[s.start:s.end] += w
    if np.any(total <= 0):
        raise ValueError("segments do not cover every frame")
    return [w / total[s.start:s.end] for s, w in zip(segments, ws)]


def blend_segments(parts: list, segments: list[Segment], n_frames: int, axis: int = 0, weights: list | None = None):
    """Weighted sum of per-segment arrays (numpy or torch) along the frame ``axis``.

    ``weights``: per-segment weights (default :func:`segment_weights`; the pipeline passes the
    shot-aware ones of :func:`lipforge.infer.shots.plan_shot_segments`). The sampling loop blends
    the segments' network outputs with this function at every step.
    """
    ws = segment_weights(segments, n_frames) if weights is None else weights
    out = None
    for part, s, w in zip(parts, segments, ws):
        shape = [1] * part.ndim
        shape[axis] = s.length
        if hasattr(part, "new_tensor"):  # torch
            wt = (w.to(part) if hasattr(w, "to") else part.new_tensor(w)).reshape(shape)
            if out is None:
                full = list(part.shape)
                full[axis] = n_frames
                out = part.new_zeros(full)
            idx = [slice(None)] * part.ndim
            idx[axis] = slice(s.start, s.end)
            out[tuple(idx)] += part * wt
        else:
            wt = w.reshape(shape)
            if out is None:
                full = list(part.shape)
                full[axis] = n_frames
                out = np.zeros(full, np.float64)
            idx = [slice(None)] * part.ndim
            idx[axis] = slice(s.start, s.end)
            out[tuple(idx)] += part * wt
    return out


# ----------------------------------------------------------------------------- crops and compositing
def dilate_box(box, ratio: float, width: int, height: int) -> np.ndarray:
    """Grow x0 y0 x1 y1 by ``ratio`` of its size on every side, clipped to the frame."""
    x0, y0, x1, y1 = [float(v) for v in box]
    dx, dy = (x1 - x0) * ratio, (y1 - y0) * ratio
    return np.array([max(0.0, x0 - dx), max(0.0, y0 - dy), min(float(width), x1 + dx), min(float(height), y1 + dy)])


def composite_mask(height: int, width: int, boxes, crop_box, dilate: float = 0.08,
                   feather: int = 6) -> np.ndarray:
    """(H, W) float32 alpha: 1 deep inside the union of dilated ``boxes``, 0 outside it.

    The region is intersected with ``crop_box`` (the generated crop has no pixels elsewhere);
    alpha ramps from 0 at the region's edge to 1 at ``feather`` px inside, so every pixel outside
    the region is exactly the source's.
    """
    import cv2

    m = np.zeros((height, width), np.uint8)
    for b in boxes:
        if b is None or not np.all(np.isfinite(b)):
            continue
        x0, y0, x1, y1 = dilate_box(b, dilate, width, height)
        m[int(np.ceil(y0)):int(np.floor(y1)), int(np.ceil(x0)):int(np.floor(x1))] = 1
    cx0, cy0, cx1, cy1 = [float(v) for v in crop_box]
    clip = np.zeros_like(m)
    clip[max(0, int(np.ceil(cy0))):max(0, int(np.floor(cy1))), max(0, int(np.ceil(cx0))):max(0, int(np.floor(cx1)))] = 1
    m &= clip
    if feather <= 0:
        return m.astype(np.float32)
    pad = cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    dist = cv2.distanceTransform(pad, cv2.DIST_L2, 3)[1:-1, 1:-1]
    return np.clip(dist / float(feather), 0.0, 1.0).astype(np.float32)


def aligned_crop_box(matrix, size: int) -> np.ndarray:
    """The frame-pixel bounding box of an aligned crop (its corners through the inverse matrix)."""
    from lipforge.pipeline.faces.align import apply_affine, invert_affine

    c = apply_affine(invert_affine(matrix), np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64))
    return np.array([c[:, 0].min(), c[:, 1].min(), c[:, 0].max(), c[:, 1].max()])


def composite(frame: np.ndarray, crop: np.ndarray, crop_box, boxes, dilate: float = 0.08,
              feather: int = 6, strength: float = 1.0, matrix: np.ndarray | None = None) -> np.ndarray:
    """Paste a generated (S, S, 3) face crop back into the (H, W, 3) ``frame``.

    ``boxes`` are the face boxes in frame pixels to cover (the source's and the generated one's);
    outside their dilated union the result is bit-identical to ``frame``. ``strength`` scales the
    alpha (a cross-fade into and out of frames left untouched). ``matrix``: the 2x3 frame -> crop
    matrix of a similarity-aligned crop (:mod:`lipforge.pipeline.faces.align`), pasted back with its
    exact inverse and only where the crop has pixels; without it the square ``crop_box``.
    """
    import cv2

    from lipforge.pipeline.faces.crop import crop_affine

    h, w = frame.shape[:2]
    size = crop.shape[0]
    if matrix is not None:
        crop_box = aligned_crop_box(matrix, size)
    alpha = composite_mask(h, w, boxes, crop_box, dilate, feather) * np.float32(strength)
    ys, xs = np.nonzero(alpha)
    if len(ys) == 0:
        return frame.copy()
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    # frame px -> crop px: the aligned crop's matrix, or the box crop's (same as curation)
    m = np.array(matrix, np.float64) if matrix is not None else crop_affine(np.asarray(crop_box, np.float64), size)
    m[:, 2] += m[:, 0] * x0 + m[:, 1] * y0  # warp only the bounding rectangle of the region
    back = cv2.warpAffine(crop, m, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    if matrix is not None:  # a rotated crop covers only part of its bounding box
        inside = cv2.warpAffine(np.ones((size, size), np.float32), m, (int(x1 - x0), int(y1 - y0)),
                                flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0)
        alpha = alpha.copy()
        alpha[y0:y1, x0:x1] *= inside
    out = frame.copy()
    a = alpha[y0:y1, x0:x1, None]
    region = frame[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(np.rint(region * (1 - a) + back.astype(np.float32) * a), 0, 255).astype(np.uint8)
    return out


def box_from_crop(crop_box_frame, box_in_crop, size: int) -> np.ndarray:
    """Map a box in crop pixels (e.g. the generated face's) back to frame pixels."""
    x0, y0, x1, y1 = [float(v) for v in crop_box_frame]
    s = (x1 - x0) / size
    b = np.asarray(box_in_crop, np.float64)
    return np.array([x0 + b[0] * s, y0 + b[1] * s, x0 + b[2] * s, y0 + b[3] * s])
