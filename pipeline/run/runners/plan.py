"""How a stage list becomes Ray Data operators: fuse what can share a process, so pixels stay put.

The stage list stays the unit of configuration; this module decides where each stage runs.
The rules (see docs/scaling.md for why):

1. The **source operator** probes, decodes and segments a source and runs, in the same process,
   every stage up to and including ``crop`` (the stage that replaces the working frames by the
   square face crop). Full-resolution frames therefore never leave the process that decoded
   them. A GPU stage among these (a YOLO face detector) makes the source operator request its
   GPU fraction instead of getting a pool of its own that would need full frames shipped to it;
   the detector reads frames downscaled to ``faces.detect_max_side`` in that process.
2. After ``crop``, consecutive stages with the same resources (CPUs, GPU fraction) run fused in
   one operator; a change of resources starts a new operator, which receives the compact clip
   (crops, audio, small arrays).
3. A stage with nothing to do (``has_work`` False, e.g. the active speaker check without
   weights) never starts an operator: it runs where the previous stage ran.
4. The shard writer joins the last operator when its resources match (CPU-only runs are one
   operator end to end), else it is an operator of its own.

Each operator is named after its stages (``decode+speech+faces+...+write``), and requests the
``memory`` its clips can take (:func:`operator_memory_bytes`). Nothing here imports Ray.

>>> ops = plan_operators(RunConfig(), build_stages(RunConfig()))     # doctest: +SKIP
>>> [op.name for op in ops]                                           # doctest: +SKIP
['decode+speech+faces+landmarks+crop+quality+asd+sync+write']
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lipforge.pipeline.stages.config import RunConfig
from lipforge.pipeline.stages.base import Stage

SOURCE_NAME = "decode"
WRITER_NAME = "write"
COMPACT_STAGE = "crop"  # after it, item.frames are the square face crops
# Interpreter, numpy/cv2/av, torch, dlib, the default CPU models and allocator slack: a decode
# worker on 384 px sources peaks at about 1.5 GB (benchmarks/curate_throughput.py); see
# docs/scaling.md.
BASE_MEMORY = 3 << 29  # 1.5 GiB
ASPECT = 9 / 16  # frame area assumed for memory: 16:9 or 9:16 sources (square ones use 1.78x)


@dataclass
class Operator:
    """One Ray Data operator: the stages it runs in one process and what it requests."""

    stages: list[Stage] = field(default_factory=list)
    source: bool = False  # probes, decodes and segments sources (the first operator)
    writer: bool = False  # persists the groups (the last operator)
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    concurrency: int = 1  # 0: as many as the cluster's CPUs (GPUs) allow, at most one per source
    batch_size: int = 1  # rows per call (sources for the source operator, groups otherwise)
    memory: int = 0  # bytes

    @property
    def name(self) -> str:
        parts = ([SOURCE_NAME] if self.source else []) + [s.name for s in self.stages] + \
            ([WRITER_NAME] if self.writer else [])
        return "+".join(parts)


def resources(stage: Stage) -> tuple[float, float]:
    return (float(stage.config.num_cpus), float(stage.config.num_gpus))


def plan_operators(cfg: RunConfig, stages: list[Stage]) -> list[Operator]:
    """Group the enabled stages (run order) into operators; see the module docstring."""
    names = [s.name for s in stages]
    n_pixel = names.index(COMPACT_STAGE) + 1 if COMPACT_STAGE in names else len(stages)
    src = Operator(source=True, num_cpus=cfg.segment.num_cpus, concurrency=cfg.segment.concurrency)
    ops = [src]
    for i, st in enumerate(stages):
        cur = ops[-1]
        if i < n_pixel:
            src.stages.append(st)
            if has_work(st):
                src.num_gpus = max(src.num_gpus, st.config.num_gpus)
                src.num_cpus = max(src.num_cpus, st.config.num_cpus)
            continue
        if not has_work(st) or resources(st) == (cur.num_cpus, cur.num_gpus):
            cur.stages.append(st)
            continue
        ops.append(Operator(stages=[st], num_cpus=st.config.num_cpus, num_gpus=st.config.num_gpus,
                            concurrency=st.config.concurrency, batch_size=st.config.batch_size))
    last = ops[-1]
    if last.num_gpus == 0.0:  # encoding shards on a CPU worker that is there anyway
        last.writer = True
    else:
        # as many writers as decoders: the encoding work follows the decoding rate
        ops.append(Operator(writer=True, num_cpus=cfg.shards.num_cpus, concurrency=src.concurrency))
    compact = False
    for op in ops:
        op.memory = operator_memory_bytes(cfg, op, compact)
        compact = compact or COMPACT_STAGE in [s.name for s in op.stages]
    return ops


def has_work(stage: Stage) -> bool:
    return bool(getattr(stage, "has_work", True))


def frame_bytes(cfg: RunConfig) -> int:
    """Bytes of one working frame (RGB uint8, longer side ``segment.work_max_side``)."""
    side = cfg.segment.work_max_side
    return int(side * side * ASPECT) * 3


def operator_memory_bytes(cfg: RunConfig, op: Operator, compact_input: bool) -> int:
    """What one worker of ``op`` holds at its peak, derived from the config.

    Source operator: the segmenter's buffer ((max_clip_s + min_clip_s) x fps frames) plus two
    clip-sized copies (the clip moved out of the buffer, and a face-track split or the
    allocator's not yet reused memory of the previous clip; measured: 3.15 GB peak for 720x1280
    working frames against 3.8 GB declared). Other operators: ``batch_size`` clips of
    ``max_clip_s`` in and out, as crops when a ``crop`` ran upstream, else working frames.
    """
    seg = cfg.segment
    clip_frames = int(seg.max_clip_s * seg.fps)
    if op.source:
        frames = int((seg.max_clip_s + seg.min_clip_s) * seg.fps) + 1 + 2 * clip_frames
        return BASE_MEMORY + frames * frame_bytes(cfg)
    if compact_input:
        crop = cfg.stage_config(COMPACT_STAGE)
        per_frame = int(getattr(crop, "crop_size", 512)) ** 2 * 3
    else:
        per_frame = frame_bytes(cfg)
    return BASE_MEMORY + 2 * op.batch_size * clip_frames * per_frame  # input and output batch


def auto_concurrency(op: Operator, cluster_cpus: float, cluster_gpus: float, n_sources: int,
                     source_actors: int | None = None) -> int:
    """``concurrency: 0`` -> as many workers as the cluster's CPUs (and GPUs) allow, at most
    one per source for the source operator; a writer of its own gets as many as the source
    operator (``source_actors``)."""
    if op.concurrency > 0:
        return op.concurrency
    if op.writer and not op.stages and source_actors:
        return source_actors
    n = int(cluster_cpus // op.num_cpus) if op.num_cpus > 0 else n_sources
    if op.num_gpus > 0:
        n = min(n, int(cluster_gpus // op.num_gpus))
    if op.source:
        n = min(n, n_sources)
    return max(1, n)
