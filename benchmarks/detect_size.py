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

    st = FaceDetectStage(FaceDetectStage.Config(detect_max_side=side, detect_every=1, dlib_refine=refine,
                                                dlib_rescan_every=0))  # every frame scanned whole
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
    p = subprocess.run([sys.executable, "-m", "lipforge.cli", "curate", "--input", str(inp), "--output", str(out),
                        "--config", str(c), "--runner", "local"], cwd=REPO, capture_output=True, text=True)
    if p.returncode:
        print(f"curate at {side} (refine {refine}) failed, exit {p.returncode}:\n{p.stderr[-2000:]}")
        return {}
    return {r["clip_id"]: (r["status"], r["reason"]) for r in
            pq.read_table(out / "manifests" / "clips.parquet").to_pylist()}


def compare_boxes(video: str, full: int, src_side: int, k: int, tmp: Path) -> None:
    import numpy as np

    from lipforge.pipeline.stages.config import RunConfig
    from lipforge.pipeline.run.curate import SourceInput, iter_source_groups
    from lipforge.pipeline.store.work import WorkStore

    groups = list(iter_source_groups(SourceInput(video, "fixture"), RunConfig(), WorkStore(tmp / "w")))
    print(f"{video}: {sum(len(g[0].frames) for g in groups)} frames, working {groups[0][0].frames.shape[1:3]}, "
          f"source side {src_side} (every {k}th frame at the source size)")
    res = {}
    for refine in (True, False):
        for side in (640, full):
            res[refine, side], fps = detect_all(groups, side, refine)
            print(f"dlib_refine {str(refine):5s} detect_max_side {side:5d}: {fps:6.1f} frames/s")
    del groups
    cfg = RunConfig.from_dict({"segment": {"work_max_side": src_side}})
    groups = list(iter_source_groups(SourceInput(video, "fixture"), cfg, WorkStore(tmp / "w_src")))
    for refine in (True, False):
        res[refine, src_side], fps = detect_all(groups, src_side, refine, stride=k)
        print(f"dlib_refine {str(refine):5s} detect_max_side {src_side:5d} (source frames): {fps:6.1f} frames/s")
    del groups
    for refine, label in ((True, "default (dlib_refine: landmarks' box)"), (False, "calibrated raw HOG box")):
        print(f"{label}:")
        found = {s: int(np.isfinite(res[refine, s]).all(1).sum()) for s in (640, full, src_side)}
        print(f"  frames with a face: {found}")
        compare(f"640 vs {full}", res[refine, 640], res[refine, full])
        compare(f"640 vs {src_side} (source)", res[refine, 640][::k], res[refine, src_side])
        compare(f"{full} vs {src_side} (source)", res[refine, full][::k], res[refine, src_side])


def compare_verdicts(video: str, full: int, src_side: int, tmp: Path) -> None:
    """Every verdict, through the command users run."""
    from lipforge.testing import make_talking_head

    inp = tmp / "in"
    inp.mkdir()
    (inp / "real_fixture.mp4").symlink_to(Path(video).resolve())
    make_talking_head(inp / "synth.mp4", seconds=6.0, seed=0)
    obama = FIXTURE.parent / "obama.jpg"
    if obama.is_file():  # another face, another frame size
        make_talking_head(inp / "synth_obama.mp4", seconds=5.0, size=(360, 640), face_px=220, photo=str(obama), seed=1)
    rows = {640: verdicts(inp, tmp, 640, None), full: verdicts(inp, tmp, full, None),
            src_side: verdicts(inp, tmp, src_side, src_side), "raw": verdicts(inp, tmp, 640, None, refine=False),
            "raw_full": verdicts(inp, tmp, full, None, refine=False)}
    what = {src_side: f"{src_side} (source-size working frames)", "raw": "640 with dlib_refine: false",
            "raw_full": f"{full} with dlib_refine: false"}
    for base, side in ((640, full), (640, src_side), (640, "raw"), ("raw", "raw_full")):
        same = rows[base] == rows[side]
        print(f"verdicts: {len(rows[base])} clips at {what.get(base, base)}, {len(rows[side])} at "
              f"{what.get(side, side)}; identical: {same}")
        for cid in sorted(set(rows[base]) | set(rows[side])):
            if not same and rows[base].get(cid) != rows[side].get(cid):
                print(f"  {cid}: {rows[base].get(cid)} -> {rows[side].get(cid)}")
    for cid, v in sorted(rows[640].items()):
        print(f"  {cid}: {v}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", default=str(FIXTURE))
    ap.add_argument("--full", type=int, default=1280, help="the full working size to compare against")
    ap.add_argument("--source-stride", type=int, default=2, help="every k-th frame at the source's size")
    ap.add_argument("--boxes-only", action="store_true", help="skip the curate runs")
    ap.add_argument("--verdicts-only", action="store_true", help="skip the box comparison")
    a = ap.parse_args()
    if not Path(a.video).exists():
        sys.exit(f"{a.video} not found (the real fixture lives in ../shared/fixtures)")
    from lipforge.env import apply_offline_env

    apply_offline_env()
    from lipforge.pipeline.media import decode_video

    tmp = Path(tempfile.mkdtemp(prefix="lipforge-detsize-"))
    src_side = max(decode_video(a.video, max_frames=1).shape[1:3])  # upright, as the segmenter shows it
    if not a.verdicts_only:
        compare_boxes(a.video, a.full, src_side, a.source_stride, tmp)
    if not a.boxes_only:
        compare_verdicts(a.video, a.full, src_side, tmp)


if __name__ == "__main__":
    main()
