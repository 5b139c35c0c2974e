"""Whole-frame HOG scans against the region search (``faces.dlib_rescan_every``) on the same frames.

    python benchmarks/face_rescan.py [--rescan 0,6,12,24] [--seconds 10]

For each input (the real fixture at the default 1280 px working size when ../shared/fixtures is
present, and synthetic 720p talking heads, landscape and portrait), the faces stage's ``detect``
runs at each ``dlib_rescan_every`` with the default ``detect_every`` (2); printed: detection
CPU-ms per frame of video, box IoU against whole-frame scans (``0``) on every frame, region
searches against whole-frame scans, and frames with a face. A last input puts a second, larger
face into the frame half-way through (a still copy of the head's face, 1.25x, pasted beside it): the frame
where the box first moves onto it, per setting, shows the delay the region search allows. Prints
figures only.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from lipforge.env import apply_offline_env  # noqa: E402

apply_offline_env()

import numpy as np  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real" / "talking_en_1080x1920_25fps.mp4"


def working_frames(path: Path, seconds: float) -> tuple[np.ndarray, float]:
    from lipforge.pipeline.source.normalize import FrameStream

    fs = FrameStream(str(path), 25, 1280)
    frames = []
    for i, rgb in fs:
        if i >= seconds * 25:
            break
        frames.append(rgb)
    return np.stack(frames), fs.work_scale


def with_second_face(frames: np.ndarray, box: np.ndarray, at: int) -> np.ndarray:
    """From frame ``at`` on, a still copy of the first frame's face, 1.25x as large, at the left edge
    (``box``: that face's box in working px)."""
    import cv2

    h, w = frames.shape[1:3]
    x0, y0, x1, y1 = (int(v) for v in box)
    m = (x1 - x0) // 6
    patch = frames[0, max(0, y0 - m):min(h, y1 + m), max(0, x0 - m):min(w, x1 + m)]
    patch = cv2.resize(patch, None, fx=1.25, fy=1.25, interpolation=cv2.INTER_LINEAR)[:h, :max(1, x0 - 8)]
    out = frames.copy()
    top = (h - patch.shape[0]) // 2
    out[at:, top:top + patch.shape[0], :patch.shape[1]] = patch
    return out


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from lipforge.pipeline.faces.boxes import iou as box_iou

    return np.array([box_iou(x, y) for x, y in zip(a, b)])


def run(frames: np.ndarray, ws: float, rescan: int):
    from lipforge.pipeline.stages.faces import FaceDetectStage

    st = FaceDetectStage(FaceDetectStage.Config(dlib_rescan_every=rescan))
    st.setup()
    c0 = time.process_time()
    boxes = st.detect(frames, ws)
    cpu = time.process_time() - c0
    return boxes, cpu, st.detector.n_full, st.detector.n_roi


def filled(boxes: np.ndarray) -> np.ndarray:
    ok = np.flatnonzero(np.isfinite(boxes).all(1))
    t = np.arange(len(boxes))
    return np.stack([np.interp(t, ok, boxes[ok, c]) for c in range(4)], 1) if len(ok) else boxes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rescan", default="0,6,12,24")
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    settings = [int(v) for v in a.rescan.split(",")]
    if 0 not in settings:
        settings = [0] + settings
    from lipforge.testing import make_talking_head

    tmp = Path(tempfile.mkdtemp(prefix="lipforge-rescan-"))
    inputs = {}
    if FIXTURE.exists():
        inputs["real fixture 1080x1920"] = FIXTURE
    else:
        print(f"(real fixture {FIXTURE} absent: synthetic inputs only)")
    for name, size in (("synthetic 1280x720", (1280, 720)), ("synthetic 720x1280", (720, 1280))):
        p = tmp / f"{size[0]}x{size[1]}.mp4"
        make_talking_head(p, seconds=a.seconds + 0.2, seed=len(inputs), size=size)
        inputs[name] = p
    for name, path in inputs.items():
        frames, ws = working_frames(path, a.seconds)
        print(f"{name}: {len(frames)} working frames {frames.shape[2]}x{frames.shape[1]}")
        ref = None
        for r in settings:
            boxes, cpu, n_full, n_roi = run(frames, ws, r)
            if ref is None:
                ref = filled(boxes)
            v = iou(filled(boxes), ref)
            print(f"  rescan_every {r:3d}: {cpu / len(frames) * 1000:5.2f} CPU-ms per frame, {n_full} whole-frame "
                  f"scans + {n_roi} region searches, IoU vs whole-frame mean {np.nanmean(v):.3f} "
                  f"min {np.nanmin(v):.3f}, frames with a face {np.isfinite(boxes).all(1).mean():.0%}")
    frames, ws = working_frames(inputs["synthetic 1280x720"], a.seconds)
    first_box = run(frames[:1], ws, 0)[0][0]  # source px
    at = len(frames) // 2 + 1
    two = with_second_face(frames, first_box * ws, at)
    print(f"a second, 1.25x larger still face from frame {at} (synthetic 1280x720, detect_every 2):")
    for r in settings:
        boxes = run(two, ws, r)[0]  # detected frames only (every 2nd), not interpolated
        hit = np.isfinite(boxes).all(1)
        moved = np.flatnonzero(hit & (np.nan_to_num(iou(boxes, np.tile(first_box, (len(boxes), 1))), nan=1.0) < 0.3))
        first = int(moved[0]) if len(moved) else None
        print(f"  rescan_every {r:3d}: the box is on the larger face from frame {first} "
              f"({'never' if first is None else f'{first - at} frames after it appears'})")


if __name__ == "__main__":
    main()
