"""Frames per second per core of face detection and 68-point landmarks at the default settings.

Working frames are what the stages see: the real fixture talking video (1080x1920) scaled to the
default working size (longer side 1280), or a synthetic talking head when the fixture is absent.
Runs on one thread, so the figures are per core.

    python benchmarks/face_speed.py [--frames 100] [--video PATH]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from lipforge.env import apply_offline_env  # noqa: E402

apply_offline_env()

import numpy as np  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real" / "talking_en_1080x1920_25fps.mp4"


def load_frames(path: Path | None, n: int, work_max_side: int) -> tuple[np.ndarray, float, str]:
    import cv2

    from lipforge.pipeline.media import decode_video

    if path is None or not path.is_file():
        import tempfile

        from lipforge.testing import make_talking_head

        path = Path(tempfile.mkdtemp()) / "head.mp4"
        make_talking_head(path, seconds=n / 25 + 0.2, size=(720, 1280), face_px=300)
    src = decode_video(path, max_frames=n)
    ws = min(1.0, work_max_side / max(src.shape[1:3]))
    frames = np.stack([cv2.resize(f, None, fx=ws, fy=ws, interpolation=cv2.INTER_AREA) for f in src]) if ws < 1 else src
    return frames, ws, f"{path.name} {src.shape[2]}x{src.shape[1]} -> working {frames.shape[2]}x{frames.shape[1]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--video", type=Path, default=FIXTURE)
    ap.add_argument("--work-max-side", type=int, default=1280)
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    from lipforge.pipeline.stages.faces import FaceDetectStage
    from lipforge.pipeline.stages.landmarks import LandmarksStage

    frames, ws, desc = load_frames(args.video, args.frames, args.work_max_side)
    print(f"input: {desc}, {len(frames)} frames, 1 thread")
    det = FaceDetectStage()
    det.setup()
    t0 = time.perf_counter()
    boxes = det.detect(frames, ws)
    dt = time.perf_counter() - t0
    found = np.isfinite(boxes).all(1)
    cfg = det.config
    print(f"detection  {cfg.backend} (max side {cfg.detect_max_side}, every {cfg.detect_every}): "
          f"{len(frames) / dt:7.1f} frames/s per core  ({found.mean():.0%} frames with a face)")
    if not found.any():
        print("landmarks: skipped, no face found")
        return
    ok = np.flatnonzero(found)
    boxes = np.stack([np.interp(np.arange(len(frames)), ok, boxes[ok, c]) for c in range(4)], 1)
    lms = LandmarksStage()
    lms.setup()
    t0 = time.perf_counter()
    lms.landmarker(frames, boxes * ws)
    dt = time.perf_counter() - t0
    print(f"landmarks  {lms.config.backend}: {len(frames) / dt:7.1f} frames/s per core")


if __name__ == "__main__":
    main()
