"""Face detection at the detection size (``faces.detect_max_side``, default 640) against full-size
detection: per-frame box IoU and every verdict, on the real fixture (plus a synthetic head).

    python benchmarks/detect_size.py [--video PATH] [--full 1280] [--source-stride 2] [--boxes-only]

Full size is both the full working frame (``--full``, the default ``segment.work_max_side``
1280) and the source's own size (working frames decoded at the source resolution, 1920 for the
fixture, every ``--source-stride``-th frame). Boxes are compared in source pixels, with the
default dlib detector (``dlib_refine``: the landmarks' box) and with the calibrated raw HOG box
(``dlib_refine: false``, the detector before this change) side by side. Then ``lipforge curate
--runner local`` runs at each size (and at 640 with ``dlib_refine: false``) on the same inputs
and the status and reason of every clip are compared. Prints figures only.
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


def detect_all(groups, side: int, refine: bool, stride: int = 1):
    """(N, 4) source-px boxes of every stride-th frame of every group; frames/s."""
    import numpy as np

    from lipforge.pipeline.stages.faces import FaceDetectStage

    st = FaceDetectStage(FaceDetectStage.Config(detect_max_side=side, detect_every=1, dlib_refine=refine))
    st.setup()
    t0 = time.perf_counter()
    boxes = [st.detect(g[0].frames[::stride], g[0].work_scale) for g in groups]
    n = sum(len(b) for b in boxes)
    return np.concatenate(boxes), n / (time.perf_counter() - t0)


def compare(name: str, a, b) -> None:
    import numpy as np

    from lipforge.pipeline.faces.boxes import iou

    both = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    if not both.any():
        print(f"  {name}: no frame with a face at both sizes")
        return
    v = iou(a[both], b[both])
    ha, hb = a[both, 3] - a[both, 1], b[both, 3] - b[both, 1]
    print(f"  {name}: {both.sum()} frames; IoU mean {v.mean():.3f}, min {v.min():.3f}, 5th pct "
          f"{np.percentile(v, 5):.3f}; height ratio median {np.median(hb / ha):.3f}; "
          f"box height median {np.median(ha):.0f} / {np.median(hb):.0f} px (source)")


def verdicts(inp: Path, tmp: Path, side: int, work: int | None, refine: bool = True) -> dict:
    import pyarrow.parquet as pq
    import yaml

    cfg = {"stages": {"faces": {"detect_max_side": side, "dlib_refine": refine}}}
    if work:
        cfg["segment"] = {"work_max_side": work}
    c = tmp / f"run{side}{refine}.yaml"
    c.write_text(yaml.safe_dump(cfg))
    out = tmp / f"out{side}{refine}"
    subprocess.run([sys.executable, "-m", "lipforge.cli", "curate", "--input", str(inp), "--output", str(out),
                    "--config", str(c), "--runner", "local"], cwd=REPO, check=True, capture_output=True)
    return {r["clip_id"]: (r["status"], r["reason"]) for r in
            pq.read_table(out / "manifests" / "clips.parquet").to_pylist()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", default=str(FIXTURE))
    ap.add_argument("--full", type=int, default=1280, help="the full working size to compare against")
    ap.add_argument("--source-stride", type=int, default=2, help="every k-th frame at the source's size")
    ap.add_argument("--boxes-only", action="store_true", help="skip the curate runs")
    a = ap.parse_args()
    if not Path(a.video).exists():
        sys.exit(f"{a.video} not found (the real fixture lives in ../shared/fixtures)")
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import numpy as np

    from lipforge.pipeline.config import RunConfig
    from lipforge.pipeline.curate import SourceInput, iter_source_groups
    from lipforge.pipeline.media import decode_video
    from lipforge.pipeline.store import WorkStore

    tmp = Path(tempfile.mkdtemp(prefix="lipforge-detsize-"))
    src_side = max(decode_video(a.video, max_frames=1).shape[1:3])  # upright, as the segmenter shows it
    groups = list(iter_source_groups(SourceInput(a.video, "fixture"), RunConfig(), WorkStore(tmp / "w")))
    k = a.source_stride
    print(f"{a.video}: {sum(len(g[0].frames) for g in groups)} frames, working {groups[0][0].frames.shape[1:3]}, "
          f"source side {src_side} (every {k}th frame at the source size)")
    res = {}
    for refine in (True, False):
        for side in (640, a.full):
            res[refine, side], fps = detect_all(groups, side, refine)
            print(f"dlib_refine {str(refine):5s} detect_max_side {side:5d}: {fps:6.1f} frames/s")
    del groups
    cfg = RunConfig.from_dict({"segment": {"work_max_side": src_side}})
    groups = list(iter_source_groups(SourceInput(a.video, "fixture"), cfg, WorkStore(tmp / "w_src")))
    for refine in (True, False):
        res[refine, src_side], fps = detect_all(groups, src_side, refine, stride=k)
        print(f"dlib_refine {str(refine):5s} detect_max_side {src_side:5d} (source frames): {fps:6.1f} frames/s")
    del groups
    for refine, label in ((True, "default (dlib_refine: landmarks' box)"), (False, "calibrated raw HOG box")):
        print(f"{label}:")
        found = {s: int(np.isfinite(res[refine, s]).all(1).sum()) for s in (640, a.full, src_side)}
        print(f"  frames with a face: {found}")
        compare(f"640 vs {a.full}", res[refine, 640], res[refine, a.full])
        compare(f"640 vs {src_side} (source)", res[refine, 640][::k], res[refine, src_side])
        compare(f"{a.full} vs {src_side} (source)", res[refine, a.full][::k], res[refine, src_side])
    if a.boxes_only:
        return
    # every verdict, through the command users run
    inp = tmp / "in"
    inp.mkdir()
    (inp / "real_fixture.mp4").symlink_to(Path(a.video).resolve())
    from lipforge.testing import make_talking_head

    make_talking_head(inp / "synth.mp4", seconds=6.0, seed=0)
    rows = {640: verdicts(inp, tmp, 640, None), a.full: verdicts(inp, tmp, a.full, None),
            src_side: verdicts(inp, tmp, src_side, src_side), "raw": verdicts(inp, tmp, 640, None, refine=False)}
    for side in (a.full, src_side, "raw"):
        same = rows[640] == rows[side]
        what = {src_side: f"{side} (source-size working frames)", "raw": "640 with dlib_refine: false"}.get(side, side)
        print(f"verdicts: {len(rows[640])} clips at 640, {len(rows[side])} at {what}; identical: {same}")
        for cid in sorted(set(rows[640]) | set(rows[side])):
            if not same and rows[640].get(cid) != rows[side].get(cid):
                print(f"  {cid}: 640 {rows[640].get(cid)}  {side} {rows[side].get(cid)}")
    for cid, v in sorted(rows[640].items()):
        print(f"  {cid}: {v}")


if __name__ == "__main__":
    main()
