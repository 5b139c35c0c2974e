"""Where each stage runs on Ray: fused operators, pixels kept in the decoding process, no pool for
stages with nothing to do, memory declared from the config. No Ray is started here."""
from __future__ import annotations

import pytest

from lipforge.pipeline.stages.config import RunConfig
from lipforge.pipeline.stages.build import build_stages
from lipforge.pipeline.run.runners.plan import BASE_MEMORY, auto_concurrency, frame_bytes, plan_operators


def plan(d: dict):
    cfg = RunConfig.from_dict(d)
    return cfg, plan_operators(cfg, build_stages(cfg))


def test_default_cpu_run_is_one_operator_named_after_its_stages():
    _, ops = plan({})
    assert [op.name for op in ops] == ["decode+speech+faces+landmarks+crop+quality+asd+sync+write"]
    assert ops[0].source and ops[0].writer and ops[0].num_gpus == 0.0


def test_gpu_stage_after_the_crop_gets_its_own_pool_and_no_op_stage_none():
    _, ops = plan({"stages": {"quality": {"num_gpus": 0.5, "batch_size": 8}}})
    assert [op.name for op in ops] == ["decode+speech+faces+landmarks+crop", "quality+asd", "sync+write"]
    assert [op.num_gpus for op in ops] == [0.0, 0.5, 0.0]
    assert ops[1].batch_size == 8
    # the compact crops (320 px) are what crosses, so the GPU pool needs less than the decoder
    assert ops[1].memory < ops[0].memory


def test_stage_with_weights_is_not_a_no_op(tmp_path):
    w = tmp_path / "asd.model"
    w.write_bytes(b"x")  # construction checks the file exists; setup (never called here) loads it
    _, ops = plan({"stages": {"asd": {"weights": str(w), "num_gpus": 0.1}}})
    assert [op.name for op in ops] == ["decode+speech+faces+landmarks+crop+quality", "asd", "sync+write"]


def test_gpu_detector_runs_where_frames_are_decoded():
    """Full frames never cross a boundary: a GPU face stage makes the decoder request the GPU."""
    _, ops = plan({"stages": {"faces": {"num_gpus": 0.25}}})
    assert ops[0].name == "decode+speech+faces+landmarks+crop" and ops[0].num_gpus == 0.25
    # the CPU stages after the crop do not hold the GPU: they get the compact clip
    assert [op.name for op in ops[1:]] == ["quality+asd+sync+write"] and ops[1].num_gpus == 0.0


def test_writer_after_a_gpu_operator_scales_with_the_decoders(tmp_path):
    w = tmp_path / "asd.model"
    w.write_bytes(b"x")
    _, ops = plan({"stages": {"asd": {"weights": str(w), "num_gpus": 0.1}, "sync": {"num_gpus": 0.1}}})
    assert [op.name for op in ops] == ["decode+speech+faces+landmarks+crop+quality", "asd+sync", "write"]
    src = auto_concurrency(ops[0], 16, 2, 100)
    assert src == 16 and auto_concurrency(ops[-1], 16, 2, 100, source_actors=src) == 16


def test_crop_disabled_keeps_every_stage_with_the_decoder():
    _, ops = plan({"stages": {"crop": {"enabled": False}, "sync": {"num_gpus": 0.5}}})
    assert ops[0].name == "decode+speech+faces+landmarks+quality+asd+sync"


def test_memory_follows_clip_length_and_working_size():
    cfg, ops = plan({})
    seg = cfg.segment
    frames = int((seg.max_clip_s + seg.min_clip_s) * seg.fps) + 1 + 2 * int(seg.max_clip_s * seg.fps)
    assert ops[0].memory == BASE_MEMORY + frames * frame_bytes(cfg)
    _, short = plan({"segment": {"max_clip_s": 5.0}})
    _, small = plan({"segment": {"work_max_side": 640}})
    assert short[0].memory < ops[0].memory and small[0].memory < ops[0].memory


@pytest.mark.parametrize("conc,cpus,n_src,want", [(0, 2, 5, 2), (0, 8, 3, 3), (0, 1, 4, 1), (3, 2, 5, 3)])
def test_decode_workers_auto_from_cluster_cpus(conc, cpus, n_src, want):
    _, ops = plan({"segment": {"concurrency": conc}})
    assert auto_concurrency(ops[0], cpus, 0, n_src) == want


def test_negative_concurrency_is_rejected_naming_the_field():
    with pytest.raises(ValueError, match="SegmentConfig.concurrency"):
        RunConfig.from_dict({"segment": {"concurrency": -1}})
