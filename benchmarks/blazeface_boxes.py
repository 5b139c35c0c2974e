"""BlazeFace-seeded boxes against the HOG-seeded ones on real video, per video; and the seed's fit.

    python benchmarks/blazeface_boxes.py [--input DIR] [--frames 12] [--every 20] [--fit]

For every video of ``--input`` (default: ../shared/fixtures/real/talking plus the portrait
fixture) takes ``--frames`` working frames (1280 px, as ``segment`` makes them), ``--every``
frames apart, and runs both detectors as the faces stage builds them (640 px detection, 68-point
refine, every frame scanned whole). Prints per video: frames where both found a face, where
only one did, box IoU mean / min, and the CPU ms per frame of each detector. ``--fit`` also
prints each BlazeFace model's per-edge offsets (median) from its raw box to the HOG-seeded
refined box: the ``BLAZEFACE_CALIBRATION`` seed. Prints figures only.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "fixtures" / "real"
OTHER_FACE = 0.3  # IoU below this: not the same face (a two-face frame, each detector's largest)


def default_inputs() -> list[Path]:
    return sorted((REAL / "talking").glob("*.mp4")) + [REAL / "talking_en_1080x1920_25fps.mp4"]


def working_frames(path: Path, n: int, every: int) -> np.ndarray:
    from lipforge.pipeline.source.normalize import FrameStream

    want = set(range(0, n * every, every))
    return np.stack([rgb for _, rgb in FrameStream(str(path), 25, 1280).select(want)])  # (n, H, W, 3)


def timed(det, frames) -> tuple[np.ndarray, float]:
    c0 = time.process_time()
    boxes = det(frames)
    return boxes, 1000 * (time.process_time() - c0) / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--fit", action="store_true")
    a = ap.parse_args()
    from lipforge.env import apply_offline_env

    apply_offline_env()
    from lipforge.pipeline.faces.blazeface import BlazeFaceDetector
    from lipforge.pipeline.faces.blazeface_files import DEFAULT_DIR, FULL_RANGE, SHORT_RANGE
    from lipforge.pipeline.faces.boxes import IDENTITY_CALIBRATION, iou
    from lipforge.pipeline.faces.detectors import DlibHogDetector

    files = sorted(a.input.glob("*.mp4")) if a.input else default_inputs()
    hog = DlibHogDetector(640, refine=True, rescan_every=0)
    blaze = BlazeFaceDetector(DEFAULT_DIR, 640)
    raw = {m: BlazeFaceDetector(DEFAULT_DIR, 640, refine=False, fallback=False) for m in (FULL_RANGE, SHORT_RANGE)}
    if a.fit:
        raw[SHORT_RANGE]._full = raw[SHORT_RANGE]._short = BlazeFaceDetector(DEFAULT_DIR)._short
    offsets = {m: [] for m in raw}
    means, t_hog, t_bf, only_hog, only_bf, n_other = [], [], [], 0, 0, 0
    print(f"{'video':46s} {'both':>4s} {'HOG only':>8s} {'BF only':>7s} {'other':>5s} {'IoU mean':>8s} {'IoU min':>7s} "
          f"{'HOG ms':>7s} {'BF ms':>6s}")
    for path in files:
        frames = working_frames(path, a.frames, a.every)
        bh, th = timed(hog, frames)
        bb, tb = timed(blaze, frames)
        fh, fb = np.isfinite(bh).all(1), np.isfinite(bb).all(1)
        both = fh & fb
        v = iou(bh[both], bb[both]) if both.any() else np.array([np.nan])
        other = v < OTHER_FACE  # two faces: the detectors picked different ones as the largest
        n_other += int(other.sum())
        v = v[~other] if (~other).any() else np.array([np.nan])
        only_hog += int((fh & ~fb).sum())
        only_bf += int((fb & ~fh).sum())
        if np.isfinite(v).all():
            means.append(float(v.mean()))
        t_hog.append(th)
        t_bf.append(tb)
        print(f"{path.name:46s} {both.sum():4d} {(fh & ~fb).sum():8d} {(fb & ~fh).sum():7d} {other.sum():5d} {v.mean():8.3f} "
              f"{v.min():7.3f} {th:7.1f} {tb:6.1f}")
        if a.fit:
            for m, det in raw.items():
                for f, ref in zip(frames[fh], bh[fh]):
                    box = det._largest(det._full, _image(det, f), _scale(det, f), IDENTITY_CALIBRATION)
                    if box is not None:
                        w, h = box[2] - box[0], box[3] - box[1]
                        offsets[m].append((ref - box) / np.array([w, h, w, h]))
    print(f"videos with a face in both: {len(means)}; per-video IoU mean of means {np.mean(means):.3f}, "
          f"lowest video {np.min(means):.3f} (same face); frames where the two picked different faces as the largest {n_other}; frames with a face only by HOG {only_hog}, only by BlazeFace {only_bf}")
    print(f"CPU ms per 1280 px working frame (detection at 640 + refine): HOG {np.mean(t_hog):.1f}, "
          f"BlazeFace {np.mean(t_bf):.1f} (short-range fallback on {blaze.n_fallback} frames)")
    if a.fit:
        for m, o in offsets.items():
            o = np.array(o)
            print(f"seed calibration {m}: {len(o)} frames, median {tuple(np.round(np.median(o, 0), 3))}, "
                  f"IQR {tuple(np.round(np.percentile(o, 75, 0) - np.percentile(o, 25, 0), 3))}")


def _scale(det, frame) -> float:
    return min(1.0, det.max_side / max(frame.shape[:2]))


def _image(det, frame):
    import mediapipe as mp

    from lipforge.pipeline.faces.detectors import downscale

    small, _ = downscale(np.ascontiguousarray(frame), det.max_side)
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(small))


if __name__ == "__main__":
    main()
