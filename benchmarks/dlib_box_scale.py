"""How dlib's HOG box scale depends on the face's size in the pixels the detector sees.

    python benchmarks/dlib_box_scale.py [--steps 12]

For each face (obama.jpg, biden.jpg from the real fixtures, synthetic heads of
:func:`lipforge.testing.synth.render_frames` at two sizes) the reference is the lipforge box the
68 landmarks define on the face's own full-resolution image (the convention itself, a fixed point of
landmarks -> box -> landmarks). The image is then scaled so the reference face is 60-420 px tall
(``--steps`` scales per doubling) and dlib's raw box is compared with the reference scaled alike.

Prints, per raw box height in detection pixels (dlib reports only a few sizes: its 80 px window
over a pyramid stepping by 6/5), the ratio raw height / reference height, and then the lipforge
box of each way of mapping the raw box (the fixed calibration, landmarks refined on the full
frame) against the reference: IoU and height ratio, by face size. Prints figures only.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"


def faces() -> list[tuple[str, np.ndarray]]:
    from skimage import io

    from lipforge.testing.synth import render_frames

    out = []
    for name in ("obama.jpg", "biden.jpg"):
        if (REAL / name).is_file():
            out.append((name, np.ascontiguousarray(io.imread(str(REAL / name))[..., :3])))
    for px in (260, 420):
        frames, _ = render_frames(np.array([0.0, 0.6], np.float32), size=(2 * px, 2 * px), face_px=px)
        out += [(f"synthetic {px}px mouth {o}", f) for o, f in zip((0.0, 0.6), frames)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12, help="scales per doubling of the face size")
    ap.add_argument("--min-face", type=float, default=60.0)
    ap.add_argument("--max-face", type=float, default=420.0)
    ap.add_argument("--passes", type=int, default=1, help="landmark passes of the refined box")
    a = ap.parse_args()
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import cv2
    import dlib

    from lipforge.pipeline.faces.boxes import DLIB_HOG_CALIBRATION, box_from_landmarks, calibrate_boxes, iou
    from lipforge.pipeline.faces.detectors import refine_boxes
    from lipforge.pipeline.faces.landmarks import DlibLandmarker

    det = dlib.get_frontal_face_detector()
    lmk = DlibLandmarker()
    rows = []  # (face, ref_h det px, raw_h det px, ratio, iou_calib, h_calib, iou_refined, h_refined)
    for name, img in faces():
        rects = det(img, 1)
        if not rects:
            print(f"{name}: no face at full size")
            continue
        r = max(rects, key=lambda r: r.area())
        box = calibrate_boxes(np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1]], float),
                              DLIB_HOG_CALIBRATION)
        for _ in range(4):  # fixed point: landmarks -> box -> landmarks
            box = box_from_landmarks(lmk(img[None], box))
        ref = box[0]
        ref_h = ref[3] - ref[1]
        n = int(np.ceil(np.log2(a.max_face / a.min_face) * a.steps)) + 1
        for k in range(n):
            face_px = a.min_face * 2 ** (k / a.steps)
            s = face_px / ref_h
            small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
            rects = det(np.ascontiguousarray(small), 0)
            if not rects:
                continue
            r = max(rects, key=lambda r: r.area())
            raw = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], float) / s  # full-image px
            if iou(raw, ref) < 0.3:
                continue  # another face
            cal = calibrate_boxes(raw[None], DLIB_HOG_CALIBRATION)[0]
            ref_ = refine_boxes(img[None], cal[None], lmk, a.passes)[0]
            rows.append((name, face_px, round((raw[3] - raw[1]) * s), (raw[3] - raw[1]) / ref_h,
                         iou(cal, ref), (cal[3] - cal[1]) / ref_h, iou(ref_, ref), (ref_[3] - ref_[1]) / ref_h, cal, ref))
    if not rows:
        return
    raw_h = np.array([r[2] for r in rows])
    print("raw dlib box height (detection px) -> raw / reference height (all faces)")
    print(f"{'raw px':>7} {'n':>3} {'face px':>13} {'ratio mean':>10} {'min':>6} {'max':>6}")
    for h in np.unique(raw_h):
        sel = [r for r in rows if r[2] == h]
        q = np.array([r[3] for r in sel])
        fp = np.array([r[1] for r in sel])
        print(f"{h:7.0f} {len(sel):3d} {fp.min():6.0f}-{fp.max():<6.0f} {q.mean():10.3f} {q.min():6.3f} {q.max():6.3f}")
    print("\nper face: ratio raw/reference over all scales (mean, min-max)")
    for name in dict.fromkeys(r[0] for r in rows):
        q = np.array([r[3] for r in rows if r[0] == name])
        print(f"  {name:28s} n={len(q):2d} {q.mean():.3f} ({q.min():.3f}-{q.max():.3f})")
    print("\nlipforge box vs the reference, by face height in detection px (all faces)")
    print(f"{'face px':>11} {'n':>3} | fixed calibration: IoU mean/min, height mean (min-max) | "
          "landmark-refined: IoU mean/min, height mean (min-max)")
    edges = a.min_face * 2 ** np.arange(0, np.log2(a.max_face / a.min_face) + 0.5, 0.5)
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = np.array([r[4:8] for r in rows if lo <= r[1] < hi])
        if not len(sel):
            continue
        print(f"{lo:5.0f}-{hi:<5.0f} {len(sel):3d} | {sel[:, 0].mean():.3f}/{sel[:, 0].min():.3f}, {sel[:, 1].mean():.3f} "
              f"({sel[:, 1].min():.3f}-{sel[:, 1].max():.3f}) | {sel[:, 2].mean():.3f}/{sel[:, 2].min():.3f}, "
              f"{sel[:, 3].mean():.3f} ({sel[:, 3].min():.3f}-{sel[:, 3].max():.3f})")
    allr = np.array([r[4:8] for r in rows])
    print(f"{'all':>11} {len(allr):3d} | {allr[:, 0].mean():.3f}/{allr[:, 0].min():.3f}, {allr[:, 1].mean():.3f} "
          f"({allr[:, 1].min():.3f}-{allr[:, 1].max():.3f}) | {allr[:, 2].mean():.3f}/{allr[:, 2].min():.3f}, "
          f"{allr[:, 3].mean():.3f} ({allr[:, 3].min():.3f}-{allr[:, 3].max():.3f})")

    # the best a calibration by raw box height can do: each raw height's mean ratio, fitted on
    # these same rows (in-sample, so optimistic), applied about the box centre
    fit = {h: np.mean([r[5] for r in rows if r[2] == h]) for h in np.unique(raw_h)}
    t_iou, t_h = [], []
    for r in rows:
        cal, ref = r[8], r[9]
        c, half = (cal[:2] + cal[2:]) / 2, (cal[2:] - cal[:2]) / 2 / fit[r[2]]
        tb = np.concatenate([c - half, c + half])
        t_iou.append(iou(tb, ref))
        t_h.append((tb[3] - tb[1]) / (ref[3] - ref[1]))
    t_iou, t_h = np.array(t_iou), np.array(t_h)
    print(f"{'raw-height table (in-sample)':>28}: IoU mean/min {t_iou.mean():.3f}/{t_iou.min():.3f}, "
          f"height {t_h.mean():.3f} ({t_h.min():.3f}-{t_h.max():.3f})")


if __name__ == "__main__":
    main()
