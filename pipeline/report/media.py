"""Pictures and clips for the report, read back from the sources: contact sheets and short videos.

Dropped clips have no pixels anywhere (a rejected clip's frames are freed), so the report decodes
the few frames it shows from the source file, normalized exactly as curation does
(:class:`lipforge.pipeline.source.normalize.FrameStream`: 25 fps, upright), and draws the face box stored
in the clip row (``sheet_face_boxes``, source pixels). Each source is decoded once, up to the last
frame any sample clip needs; everything comes back as base64 data for inline ``<img>`` /
``<video>`` tags, so the report still works when its folder moves.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np

TILE = 112  # contact-sheet tile height, px
CLIP_PX = 160  # playable clip size, px
CLIP_FRAMES = 75  # 3 s at 25 fps


@dataclass
class SourceNeeds:
    path: str
    frames: set[int] = field(default_factory=set)
    clip_ranges: list[tuple[int, int]] = field(default_factory=list)


def decode_needed(needs: SourceNeeds, work_max_side: int = 640):
    """(frames by index (H, W, 3) RGB at the working scale, work_scale, audio by range start)."""
    from lipforge.pipeline.source.normalize import AudioStream, FrameStream

    want = set(needs.frames)
    for s, e in needs.clip_ranges:
        want.update(range(s, e))
    if not want:
        return {}, 1.0, {}
    fs = FrameStream(needs.path, 25, work_max_side)
    got = dict(fs.select(want))  # frames in between are decoded, never converted
    audio = {}
    if needs.clip_ranges and fs.t0 is not None:
        a = AudioStream(needs.path, fs.t0)
        for s, e in sorted(needs.clip_ranges):
            audio[s] = a.read(s * 640, e * 640)
    return got, fs.work_scale, audio


def _square(box, frame_shape, margin: float = 0.45):
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = frame_shape[:2]
    side = min(side, w, h)
    sx = int(round(min(max(cx - side / 2, 0), w - side)))
    sy = int(round(min(max(cy - side / 2, 0), h - side)))
    return sx, sy, int(round(side))


def face_tile(frame: np.ndarray, box_work, colour=(0, 200, 0)) -> np.ndarray:
    """A TILE-px square around the face with its box drawn, or the whole frame without a box."""
    import cv2

    if box_work is None or not np.isfinite(box_work).all():
        h, w = frame.shape[:2]
        s = TILE / h
        return cv2.resize(frame, (max(1, int(round(w * s))), TILE), interpolation=cv2.INTER_AREA)
    sx, sy, side = _square(box_work, frame.shape)
    s = TILE / max(side, 1)
    tile = cv2.resize(frame[sy:sy + side, sx:sx + side], (TILE, TILE), interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = box_work
    p0 = (int(round((x0 - sx) * s)), int(round((y0 - sy) * s)))
    p1 = (int(round((x1 - sx) * s)), int(round((y1 - sy) * s)))
    tile = np.ascontiguousarray(tile)
    cv2.rectangle(tile, p0, p1, colour, 2)
    return tile


def jpeg_b64(rgb: np.ndarray, quality: int = 82) -> str:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return base64.b64encode(buf.tobytes()).decode() if ok else ""


def contact_sheet(frames: list[np.ndarray | None], boxes_work: list, kept: bool) -> str | None:
    """Base64 JPEG of the tiles side by side (missing frames left out); None when nothing decoded."""
    colour = (0, 200, 0) if kept else (230, 40, 40)
    tiles = [face_tile(f, b, colour) for f, b in zip(frames, boxes_work) if f is not None]
    if not tiles:
        return None
    pad = np.full((TILE, 4, 3), 255, np.uint8)
    row = [t for tile in tiles for t in (tile, pad)][:-1]
    return jpeg_b64(np.concatenate(row, axis=1))


def playable_clip(frames: list[np.ndarray], audio: np.ndarray | None, box_work) -> tuple[str, str] | None:
    """(base64 H.264/AAC MP4 of up to 3 s around the face (CLIP_PX square), base64 JPEG of its first
    frame for the poster), or None."""
    import cv2

    from lipforge.pipeline.media import encode_video

    frames = [f for f in frames if f is not None][:CLIP_FRAMES]
    if not frames:
        return None
    if box_work is not None and np.isfinite(box_work).all():
        sx, sy, side = _square(box_work, frames[0].shape, margin=0.6)
        frames = [f[sy:sy + side, sx:sx + side] for f in frames]
    h, w = frames[0].shape[:2]
    s = CLIP_PX / max(h, w)
    size = (max(2, int(round(w * s)) // 2 * 2), max(2, int(round(h * s)) // 2 * 2))
    small = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
    a = None if audio is None else audio[: len(small) * 640]
    data = encode_video(small, fps=25, crf=28, audio=a, sample_rate=16000)
    return base64.b64encode(data).decode(), jpeg_b64(small[0])
