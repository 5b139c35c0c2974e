"""A worker holds one clip at a time: when the segmenter decodes the next clip, nothing keeps
the previous one (its frames) alive, in the local runner and in the Ray source operator alike.
Otherwise each worker's peak memory carries two clips once a source has more than one."""
from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from tests.pipeline.runners.test_runners import spine_config  # noqa: E402


@pytest.fixture()
def previous_clip_alive(monkeypatch) -> list[bool]:
    """Each time the segmenter has the next clip's frames in hand (it builds the clip's item
    then): is the clip it yielded before still alive? That is the moment a worker's memory peaks."""
    from lipforge.pipeline.stages import segment

    real_run, real_item, refs, alive = segment.Segmenter.run, segment.ClipItem, [], []

    def run(self, *a, **k):
        for item in real_run(self, *a, **k):
            refs.append(weakref.ref(item))
            yield item
            del item

    def clip_item(*a, **k):
        if refs:
            gc.collect()
            alive.append(refs[-1]() is not None)
        return real_item(*a, **k)

    monkeypatch.setattr(segment.Segmenter, "run", run)
    monkeypatch.setattr(segment, "ClipItem", clip_item)
    return alive


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    from lipforge.testing import make_talking_head

    d = tmp_path_factory.mktemp("inputs")
    make_talking_head(d / "a.mp4", seconds=9.0, size=(96, 96), face_px=60, seed=0)  # three 3 s clips
    return d


def test_local_runner_lets_go_of_each_clip(source, tmp_path, previous_clip_alive):
    from lipforge.pipeline.cli import curate

    s = curate(source, tmp_path / "out", spine_config(tmp_path / "c.yaml"), runner="local")
    assert s["clips"]["kept"] == 3
    assert previous_clip_alive == [False, False]  # at the 2nd and 3rd clip


def test_ray_source_operator_lets_go_of_each_clip(source, tmp_path, previous_clip_alive):
    """The operator's own code, called in this process (no Ray needed for what it holds)."""
    from lipforge.pipeline.stages.config import RunConfig
    from lipforge.pipeline.source.inputs import SourceInput
    from lipforge.pipeline.stages.build import build_stages
    from lipforge.pipeline.run.runners.plan import plan_operators
    from lipforge.pipeline.run.runners.ray_runner import _SourceOperator
    from lipforge.pipeline.source.parts import plan_parts
    from lipforge.pipeline.store.work import WorkStore

    cfg = RunConfig.load(spine_config(tmp_path / "c.yaml"))
    op = plan_operators(cfg, build_stages(cfg))[0]
    out = tmp_path / "out"
    src = SourceInput(str(source / "a.mp4"), "a")
    parts = plan_parts([src], cfg.segment.part_length_s, WorkStore(out))
    rows = list(_SourceOperator(op, cfg, str(out))({"input": [p.to_json() for p in parts]}))
    assert [int(r["n_groups"][0]) for r in rows] == [-1, -1, -1, 3]  # three clips, then the part's end
    assert previous_clip_alive == [False, False]  # at the 2nd and 3rd clip
