"""Face detection at the detection size (``faces.detect_max_side``, default 640) against the full
working frame: per-frame box IoU and every verdict, on the real fixture (plus synthetic heads).

    python benchmarks/detect_size.py [--video PATH] [--full 1280]

Runs the faces stage on the real fixture's candidate clips twice (boxes in source pixels after
the detector's calibration), then ``lipforge curate --runner local`` with both settings on the
same inputs and compares status and reason of every clip. Prints figures only.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO.parent / "shared" / "fixtures" / "real" / "talking_en_1080x1920_25fps.mp4"


def iou(a, b):
    import numpy as np

    x0, y0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x1, y1 = np.minimum(a[:, 2], b[:, 2]), np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", default=str(FIXTURE))
    ap.add_argument("--full", type=int, default=1280, help="the full working size to compare against")
    ap.add_argument("--boxes-only", action="store_true", help="skip the two curate runs")
    a = ap.parse_args()
    if not Path(a.video).exists():
        sys.exit(f"{a.video} not found (the real fixture lives in ../shared/fixtures)")
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import numpy as np
    import pyarrow.parquet as pq
    import yaml

    from lipforge.pipeline.config import RunConfig
    from lipforge.pipeline.curate import SourceInput, iter_source_groups
    from lipforge.pipeline.stages.faces import FaceDetectStage
    from lipforge.pipeline.store import WorkStore

    tmp = Path(tempfile.mkdtemp(prefix="lipforge-detsize-"))
    cfg = RunConfig()
    groups = list(iter_source_groups(SourceInput(a.video, "fixture"), cfg, WorkStore(tmp / "w")))
    res = {}
    for side in (640, a.full):
        st = FaceDetectStage(FaceDetectStage.Config(detect_max_side=side))
        st.setup()
        t0 = time.perf_counter()
        res[side] = [st.detect(g[0].frames, g[0].work_scale) for g in groups]
        print(f"detect_max_side {side:5d}: {sum(len(b) for b in res[side]) / (time.perf_counter() - t0):6.1f} frames/s")
    small, full = np.concatenate(res[640]), np.concatenate(res[a.full])
    both = np.isfinite(small).all(1) & np.isfinite(full).all(1)
    v = iou(small[both], full[both])
    print(f"{len(small)} frames; face found at 640: {np.isfinite(small).all(1).sum()}, at {a.full}: "
          f"{np.isfinite(full).all(1).sum()}; IoU where both: mean {v.mean():.3f}, min {v.min():.3f}, "
          f"5th percentile {np.percentile(v, 5):.3f}")
    hs, hf = small[both, 3] - small[both, 1], full[both, 3] - full[both, 1]
    cs, cf = (small[both, :2] + small[both, 2:]) / 2, (full[both, :2] + full[both, 2:]) / 2
    print(f"box height at {a.full} / at 640: median {np.median(hf / hs):.3f}; centre shift median "
          f"{np.median(np.linalg.norm(cf - cs, axis=1) / hs):.3f} box heights; calibrated box height at 640: "
          f"median {np.median(hs):.0f} px (source)")
    # the same boxes after matching the median scale: what remains is per-frame jitter
    k = np.median(hf / hs)
    half = (small[both, 2:] - small[both, :2]) * k / 2
    scaled = np.concatenate([cs - half, cs + half], axis=1)
    print(f"IoU after matching the median size (centres unchanged): mean {iou(scaled, full[both]).mean():.3f}")
    # which detection size the dlib calibration fits: each box against the box the 68 landmarks
    # define (the convention itself), landmarks placed from the 640 px boxes
    from lipforge.pipeline.faces.boxes import box_from_landmarks
    from lipforge.pipeline.faces.landmarks import DlibLandmarker

    lmk = DlibLandmarker()
    truth = []
    for g, b in zip(groups, res[640]):
        s_ = g[0].work_scale
        truth.append(box_from_landmarks(lmk(g[0].frames, b * s_) / s_))
    truth = np.concatenate(truth)[both]
    for side, bx in ((640, small[both]), (a.full, full[both])):
        print(f"calibrated box at {side:5d} vs the landmarks' box: IoU mean {iou(bx, truth).mean():.3f}, "
              f"height ratio median {np.median((bx[:, 3] - bx[:, 1]) / (truth[:, 3] - truth[:, 1])):.3f}")
    if a.boxes_only:
        return
    # every verdict, through the command users run
    inp = tmp / "in"
    inp.mkdir()
    (inp / "real_fixture.mp4").symlink_to(Path(a.video).resolve())
    from lipforge.testing import make_talking_head

    make_talking_head(inp / "synth.mp4", seconds=6.0, seed=0)
    rows = {}
    for side in (640, a.full):
        c = tmp / f"run{side}.yaml"
        c.write_text(yaml.safe_dump({"stages": {"faces": {"detect_max_side": side}}}))
        out = tmp / f"out{side}"
        subprocess.run([sys.executable, "-m", "lipforge.cli", "curate", "--input", str(inp), "--output", str(out),
                        "--config", str(c), "--runner", "local"], cwd=REPO, check=True, capture_output=True)
        rows[side] = {r["clip_id"]: (r["status"], r["reason"]) for r in
                      pq.read_table(out / "manifests" / "clips.parquet").to_pylist()}
    same = rows[640] == rows[a.full]
    print(f"verdicts: {len(rows[640])} clips at 640, {len(rows[a.full])} at {a.full}; identical: {same}")
    if not same:
        for k in sorted(set(rows[640]) | set(rows[a.full])):
            if rows[640].get(k) != rows[a.full].get(k):
                print(f"  {k}: 640 {rows[640].get(k)}  {a.full} {rows[a.full].get(k)}")


if __name__ == "__main__":
    main()
