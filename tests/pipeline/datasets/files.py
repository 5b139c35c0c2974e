"""Helpers of the dataset-adapter tests: place videos under download names, read the listing."""
from __future__ import annotations

import csv
import shutil


def videos(root, clip, *names):
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / n)
    return root


def skipped(out):
    with open(out.with_name(out.stem + ".skipped.csv"), newline="") as f:
        return {r["dataset_key"]: r for r in csv.DictReader(f)}


def box(src):
    return tuple(src[c] for c in ("box_x0", "box_y0", "box_x1", "box_y1"))
