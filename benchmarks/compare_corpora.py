"""Compare two curated outputs clip by clip: verdicts, the measurements that decide them, boxes.

    python benchmarks/compare_corpora.py OUT_A OUT_B

For two ``lipforge curate`` outputs of the same inputs (e.g. before and after a change of code
or config) prints how many clips each has, every clip whose status or reason differs, the
largest differences of the numeric measurements of clips both kept, and the mean / minimum IoU
of their face boxes (``face_boxes.npy`` read from the shards). Prints figures only.
"""
from __future__ import annotations

import argparse
import io
from pathlib import Path


def clip_rows(out: Path) -> dict[str, dict]:
    import pyarrow.parquet as pq

    return {r["clip_id"]: r for r in pq.read_table(out / "manifests" / "clips.parquet").to_pylist()}


def face_boxes(out: Path) -> dict[str, "object"]:
    import numpy as np

    from lipforge.manifests.container import read_tar_samples

    boxes = {}
    for tar in sorted((out / "shards").glob("*.tar")):
        for s in read_tar_samples(tar):
            if "face_boxes.npy" in s:
                boxes[s["__key__"]] = np.load(io.BytesIO(s["face_boxes.npy"]))
    return boxes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    a = ap.parse_args()
    import numpy as np

    from lipforge.pipeline.faces.boxes import iou

    ra, rb = clip_rows(a.a), clip_rows(a.b)
    print(f"clips: {len(ra)} in A, {len(rb)} in B, {len(set(ra) & set(rb))} in both")
    diff = [k for k in sorted(set(ra) | set(rb))
            if (ra.get(k) or {}).get("status") != (rb.get(k) or {}).get("status")
            or (ra.get(k) or {}).get("reason") != (rb.get(k) or {}).get("reason")]
    print(f"verdicts that differ: {len(diff)}")
    for k in diff:
        va = (ra[k]["status"], ra[k]["reason"]) if k in ra else None
        vb = (rb[k]["status"], rb[k]["reason"]) if k in rb else None
        print(f"  {k}: A {va}  B {vb}")
    kept = [k for k in ra if k in rb and ra[k]["status"] == "kept" and rb[k]["status"] == "kept"]
    deltas: dict[str, float] = {}
    for k in kept:
        for f, v in ra[k].items():
            w = rb[k].get(f)
            if isinstance(v, float) and isinstance(w, float) and np.isfinite(v) and np.isfinite(w):
                deltas[f] = max(deltas.get(f, 0.0), abs(v - w))
    print("largest difference of each numeric column over clips kept in both:")
    for f, d in sorted(deltas.items()):
        if d > 0:
            print(f"  {f:28s} {d:.4g}")
    ba, bb = face_boxes(a.a), face_boxes(a.b)
    both = [k for k in ba if k in bb and len(ba[k]) == len(bb[k])]
    if both:
        v = np.concatenate([iou(ba[k], bb[k]) for k in both])
        print(f"face boxes of {len(both)} clips ({len(v)} frames): IoU mean {v.mean():.3f}, min {v.min():.3f}, "
              f"5th percentile {np.percentile(v, 5):.3f}")


if __name__ == "__main__":
    main()
