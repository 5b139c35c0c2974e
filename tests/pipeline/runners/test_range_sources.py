"""Range sources on the Ray runner: the whole input (range, dataset, box) reaches the workers,
and the manifests equal the local runner's."""
from __future__ import annotations

import csv

import pyarrow.parquet as pq
import pytest
import yaml

from lipforge.pipeline.registry import stage_classes


@pytest.mark.ray
@pytest.mark.slow
def test_ray_and_local_agree_on_range_sources(tmp_path):
    from lipforge.pipeline.cli import curate
    from lipforge.testing import make_talking_head

    v = make_talking_head(tmp_path / "talk.mp4", seconds=4.0, size=(96, 96), face_px=60).path
    listing = tmp_path / "list.csv"
    with open(listing, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "start_s", "end_s", "dataset", "box_x0", "box_y0", "box_x1", "box_y1"])
        w.writeheader()
        w.writerow({"path": v, "start_s": 0.4, "end_s": 2.6, "dataset": "hdtf",
                    "box_x0": 0.1, "box_y0": 0.1, "box_x1": 0.9, "box_y1": 0.9})
        w.writerow({"path": v, "start_s": 2.0, "end_s": 4.0, "dataset": "hdtf"})  # overlaps the first
        w.writerow({"path": v})
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"segment": {"min_clip_s": 1.0, "max_clip_s": 3.0, "scene_detector": "none",
                                               "work_max_side": 96},
                                   "stages": {n: {"enabled": False} for n in stage_classes()}}))
    outs = {}
    for runner in ("local", "ray"):
        curate(listing, tmp_path / runner, cfg, runner=runner, num_cpus=2)
        clips = pq.read_table(tmp_path / runner / "manifests" / "clips.parquet").to_pylist()
        srcs = pq.read_table(tmp_path / runner / "manifests" / "sources.parquet").to_pylist()
        outs[runner] = ([(c["clip_id"], c["start_s"], c["end_s"], c["status"], c["dataset"], c["dataset_box"])
                         for c in clips], [(s["source_id"], s["start_s"], s["end_s"], s["span_s"]) for s in srcs])
    assert outs["ray"] == outs["local"]
    clips, srcs = outs["ray"]
    assert len(srcs) == 3 and len({c[0] for c in clips}) == len(clips)  # overlapping ranges: distinct clip ids
    first = [c for c in clips if c[4] == "hdtf" and c[1] < 1.0]
    assert first and first[0][1] == pytest.approx(0.4) and first[0][5] == [0.1, 0.1, 0.9, 0.9]
