"""A tightened sync threshold on the Ray runner: re-judged from stored scores (Ray never starts,
nothing is decoded) and published exactly as a fresh Ray run with that threshold."""
from __future__ import annotations

import json

import pytest

from lipforge.testing.corpus import curate, path_list, published, stage_config


@pytest.mark.ray
@pytest.mark.slow
def test_ray_runner_rejudges_a_tightened_sync_threshold(tmp_path, monkeypatch):
    from lipforge.cli import main
    from lipforge.pipeline.run.runners.ray_runner import RayRunner
    from lipforge.testing.av_models import av_heads

    files, w = av_heads(tmp_path / "in")
    lst = path_list(tmp_path / "lists", files)

    def config(name: str, min_conf: float):
        sync = {"backend": "syncnet", "syncnet_weights": str(w["syncnet"]), "min_conf": min_conf, "vshift": 4,
                "max_offset": 4}
        return stage_config(tmp_path / f"{name}.yaml", {"speech": {"min_speech_ratio": 0.0}, "sync": sync},
                            segment={"max_clip_s": 1.0, "min_clip_s": 1.0})

    out = tmp_path / "out"
    assert curate(out, "--input", str(lst), cfg=config("base", 0.0), runner="ray") == 0
    rows = published(out)["clips"]
    confs = sorted(r["sync_conf"] for r in rows)
    assert all(r["status"] == "kept" for r in rows) and confs[0] < confs[-1]
    tight = config("tight", (confs[0] + confs[-1]) / 2)
    with monkeypatch.context() as m:  # re-judging needs no runner: nothing to decode (and Ray never starts here)
        m.setattr(RayRunner, "run", lambda *a, **k: pytest.fail("the Ray runner was started"))
        assert main(["curate", "--output", str(out), "--input", str(lst), "--config", str(tight),
                     "--runner", "ray", "--num-cpus", "2"]) == 0
    st = json.loads((out / "summary.json").read_text())["store"]
    assert (st["candidates_rejudged"], st["candidates_recomputed"]) == (len({r["parent_id"] for r in rows}), 0)
    got = published(out)
    assert any(r["reason"] == "av_unsynced" for r in got["clips"])
    assert curate(tmp_path / "fresh", "--input", str(lst), cfg=tight, runner="ray") == 0
    assert got == published(tmp_path / "fresh")
