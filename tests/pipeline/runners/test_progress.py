"""The live progress line: counts add up, and the local runner shows it while it runs."""
from __future__ import annotations

import yaml

from lipforge.pipeline.run.runners.progress import CurateProgress


def test_counts_and_postfix():
    p = CurateProgress(total_sources=3, enabled=False)
    p.group(judged=2, kept=1, video_s=7200.0, kept_s=3600.0)
    p.group(judged=1, kept=1, video_s=1800.0, kept_s=1800.0)
    p.source_done()
    assert (p.sources_done, p.judged, p.kept) == (1, 3, 2)
    assert "clips 2/3 kept" in p.postfix() and "2.500 h in / 1.500 h kept" in p.postfix()


def test_local_runner_shows_sources_and_clips(tmp_path, capsys):
    from lipforge.pipeline.stages.config import RunConfig
    from lipforge.pipeline.run.curate import list_inputs
    from lipforge.pipeline.stages.registry import stage_classes
    from lipforge.pipeline.run.runners.local import LocalRunner
    from lipforge.testing import make_talking_head

    make_talking_head(tmp_path / "in" / "a.mp4", seconds=2.5, size=(64, 64), face_px=40)
    cfg = RunConfig.from_dict(yaml.safe_load(yaml.safe_dump(
        {"stages": {n: {"enabled": False} for n in stage_classes()}})))
    LocalRunner(cfg, progress=True).run(list_inputs(str(tmp_path / "in")), str(tmp_path / "out"))
    err = capsys.readouterr().err
    assert "curate/local" in err and "1/1" in err and "clips 1/1 kept" in err and "video-s/s" in err
