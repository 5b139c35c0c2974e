"""What the faces stage costs beside a plain decode of the same files, per video-second, and where.

    python benchmarks/face_speed.py [--input DIR] [--set backend=dlib ...] [--profile 25] [--boxes]

For every video (default: ../shared/fixtures/real/talking plus the portrait fixture) measures
the CPU seconds of decode-only (``curate_throughput.decode_file``: every frame to RGB at full
size, audio to 16 kHz mono) and of :class:`~lipforge.pipeline.stages.faces.FaceDetectStage`
(``process``: detection, refine, tracks, verdicts) on the candidate clips
:class:`~lipforge.pipeline.stages.segment.Segmenter` makes of the file (working frames, as the
pipeline hands them over; segment's own cost is not counted, and every candidate is given to the
faces stage, also ones ``speech`` would drop, so the figure is an upper bound of the stage's
share). Both are per video-second of input, side by side, in one process, alternated per file
so machine load falls on both alike. ``--set KEY=VALUE`` (repeatable) changes a
``FaceDetectConfig`` field; ``--base KEY=VALUE`` (repeatable) times a second stage with those
fields on the same clips (before / after in one run). ``--boxes`` also runs the HOG-seeded default
(``backend=dlib``, every frame scanned whole) on the same clips and prints per video the IoU of
the two stages' boxes over frames where both have one (the default's box quality) and whether
their pieces and verdicts are the same (frames where the two boxes hardly overlap, a two-face
frame where each picked another face as the largest, are counted apart); ``--ref-cache DIR`` keeps those reference boxes for
the next run. ``--profile
N`` prints the N functions with the most own time inside the faces stage (cProfile, a second
pass). Runs on one thread. Prints figures only.
"""
from __future__ import annotations

import argparse
import ast
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from blazeface_boxes import OTHER_FACE, default_inputs  # noqa: E402
from curate_throughput import decode_file  # noqa: E402


def candidates(path: Path):
    """The kept candidate clips ``segment`` makes of ``path`` (working frames), one at a time."""
    from lipforge.manifests.schema import SourceRecord
    from lipforge.pipeline.stages.config import SegmentConfig
    from lipforge.pipeline.stages.segment import Segmenter

    seg = Segmenter(SegmentConfig())
    for it in seg.run(str(path), SourceRecord(source_id="s", path=str(path))):
        if it.kept:
            yield it


def stage_boxes(stage, item) -> tuple[np.ndarray, list]:
    """Run the stage on a copy of ``item``: per-frame boxes (source px, NaN where none), verdicts."""
    import dataclasses

    boxes, verdicts = np.full((item.n_frames, 4), np.nan), []
    for child in stage.process([dataclasses.replace(item, measurements=dict(item.measurements), arrays={})]):
        verdicts.append((child.start_frame, child.end_frame, child.reason))
        b = child.arrays.get("face_boxes.npy")
        if b is not None:
            boxes[child.start_frame - item.start_frame:child.end_frame - item.start_frame] = b
    return boxes, verdicts


def faces_file(stage, ref, path: Path, cache: Path | None) -> tuple[float, np.ndarray, list, np.ndarray | None, list]:
    """CPU-s of ``stage`` on the candidates of ``path`` (not segment's), its boxes and verdicts,
    and those of ``ref`` (None: not run; read from / written to ``cache`` when given)."""
    import pickle

    cached = cache / f"{path.name}.ref.pkl" if cache else None
    if ref is not None and cached is not None and cached.is_file():
        ref, (rb_all, rverdicts) = None, pickle.loads(cached.read_bytes())
    cpu, boxes, verdicts, rboxes, rverdicts_new = 0.0, [], [], [], []
    for it in candidates(path):
        c0 = time.process_time()
        b, v = stage_boxes(stage, it)
        cpu += time.process_time() - c0
        boxes.append(b)
        verdicts += v
        if ref is not None:
            rb, rv = stage_boxes(ref, it)
            rboxes.append(rb)
            rverdicts_new += rv
    cat = (lambda x: np.concatenate(x) if x else np.zeros((0, 4)))
    if ref is not None:
        rb_all, rverdicts = cat(rboxes), rverdicts_new
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(pickle.dumps((rb_all, rverdicts)))
    elif cached is None or not cached.is_file():
        rb_all, rverdicts = None, []
    return cpu, cat(boxes), verdicts, rb_all, rverdicts


def counts(det) -> tuple[int, int, int]:
    """Detections, tracked frames and tracks lost so far (BlazeFace's counters; 0 elsewhere)."""
    return tuple(int(getattr(det, k, 0)) for k in ("n_full", "n_track", "n_track_lost"))


def parse_sets(pairs: list[str]) -> dict:
    out = {}
    for p in pairs:
        k, _, v = p.partition("=")
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--base", action="append", default=None, metavar="KEY=VALUE",
                    help="also time a second stage with these fields (before/after in one run)")
    ap.add_argument("--boxes", action="store_true")
    ap.add_argument("--ref-cache", type=Path, help="keep the HOG-seeded stage's boxes here (per video) for later runs")
    ap.add_argument("--profile", type=int, default=0)
    a = ap.parse_args()
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import torch

    torch.set_num_threads(1)
    from lipforge.pipeline.faces.boxes import iou
    from lipforge.pipeline.run.threads import keep_freed_memory
    from lipforge.pipeline.stages.faces import FaceDetectConfig, FaceDetectStage

    keep_freed_memory()  # as the runners' workers do
    files = sorted(a.input.glob("*.mp4")) if a.input else default_inputs()
    cfg = FaceDetectConfig(**parse_sets(a.set))
    stage = FaceDetectStage(cfg)
    stage.setup()
    base = None
    if a.base is not None:
        base = FaceDetectStage(FaceDetectConfig(**parse_sets(a.base)))
        base.setup()
    ref = None
    if a.boxes:
        ref = FaceDetectStage(FaceDetectConfig(backend="dlib", dlib_rescan_every=0))
        ref.setup()
    print(f"faces: {', '.join(f'{k}={v}' for k, v in parse_sets(a.set).items()) or 'default config'} "
          f"(backend {cfg.backend}, detect_every {cfg.detect_every}); 1 thread")
    tot = {"decode": 0.0, "faces": 0.0, "video_s": 0.0, "base": 0.0}
    ious, verdict_diffs, n_other = [], 0, 0
    print(f"{'video':46s} {'video-s':>7s} {'decode CPU-s/vs':>15s} {'faces CPU-s/vs':>14s} {'ratio':>6s} {'det/track/lost':>15s}"
          + (f" {'IoU mean':>8s} {'IoU min':>7s} {'frames':>6s} {'other':>5s} {'verdicts':>8s}" if ref else ""))
    for p in files:
        c0 = time.process_time()
        v = decode_file(str(p))
        c1 = time.process_time()
        n0 = counts(stage.detector)
        fac, boxes, verdicts, rb, rv = faces_file(stage, ref, p, a.ref_cache)
        n = [b - a for a, b in zip(n0, counts(stage.detector))]
        if base is not None:
            tot["base"] += faces_file(base, None, p, None)[0]
        dec = c1 - c0
        tot["decode"] += dec
        tot["faces"] += fac
        tot["video_s"] += v
        line = f"{p.name:46s} {v:7.1f} {dec / v:15.4f} {fac / v:14.4f} {fac / dec:6.2f} {'/'.join(map(str, n)):>15s}"
        if rb is not None:
            both = np.isfinite(boxes).all(1) & np.isfinite(rb).all(1)
            vv = iou(boxes[both], rb[both])
            other = vv < OTHER_FACE  # two faces: the stages picked different ones as the largest
            n_other += int(other.sum())
            vv = vv[~other] if (~other).any() else np.array([np.nan])
            same = verdicts == rv
            verdict_diffs += not same
            if np.isfinite(vv).all():
                ious.append(float(vv.mean()))
            line += (f" {vv.mean():8.3f} {vv.min():7.3f} {int(both.sum()):6d} {int(other.sum()):5d} "
                     f"{'same' if same else 'DIFFER':>8s}")
        print(line, flush=True)
    print(f"all {len(files)} files, {tot['video_s']:.1f} video-s: decode-only {tot['decode']:.1f} CPU-s "
          f"({tot['decode'] / tot['video_s']:.4f} per video-s), faces {tot['faces']:.1f} CPU-s "
          f"({tot['faces'] / tot['video_s']:.4f} per video-s), faces / decode-only = {tot['faces'] / tot['decode']:.2f}")
    if base is not None:
        print(f"base ({', '.join(a.base)}): faces {tot['base']:.1f} CPU-s ({tot['base'] / tot['video_s']:.4f} per video-s), "
              f"base / decode-only = {tot['base'] / tot['decode']:.2f}; this config / base = {tot['faces'] / tot['base']:.2f}")
    if ref is not None and ious:
        print(f"box IoU against the HOG-seeded stage (every frame scanned whole): mean of per-video means "
              f"{np.mean(ious):.3f}, lowest video {np.min(ious):.3f} (frames where the two picked different faces as the "
              f"largest, IoU < {OTHER_FACE}, left out: {n_other}); videos whose pieces/verdicts differ: {verdict_diffs}")
    if a.profile:
        prof = cProfile.Profile(time.process_time)  # CPU time, not wall (a shared machine)
        for p in files:
            for it in candidates(p):
                prof.enable()
                stage_boxes(stage, it)
                prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(a.profile)


if __name__ == "__main__":
    main()
