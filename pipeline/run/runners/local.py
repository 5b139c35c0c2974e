"""Run a curation in-process: the same stages and store as the Ray runner, one item at a time.

Used by tests and small jobs; its manifests equal the Ray runner's for the same input. Shows the
same live progress line as the Ray runner (:class:`lipforge.pipeline.run.runners.progress.CurateProgress`).
"""
from __future__ import annotations

import uuid

from lipforge.pipeline.stages.config import RunConfig
from lipforge.pipeline.run.curate import SourceOutcome, StageWarmUp, group_by_parent, iter_source_groups, run_stages
from lipforge.pipeline.source.inputs import SourceInput
from lipforge.pipeline.stages.build import build_stages
from lipforge.pipeline.run.runners.progress import CurateProgress
from lipforge.pipeline.source.parts import pending_parts
from lipforge.pipeline.stages.base import StageStats
from lipforge.pipeline.store.work import WorkStore


def _duration(items) -> float:
    return sum(it.n_frames / it.fps for it in items)


class LocalRunner:
    def __init__(self, config: RunConfig, progress: bool = True) -> None:
        self.config = config
        self.stages = build_stages(config)
        self.progress = progress

    def wait_closed(self) -> None:
        """Nothing runs on after :meth:`run` (the Ray runner's shutdown may)."""

    def run(self, sources: list[SourceInput], output: str) -> None:
        from lipforge.pipeline.run.threads import keep_freed_memory, limit_native_threads

        limit_native_threads(1)  # one process does what a 1-CPU Ray worker does (plan.py)
        keep_freed_memory()  # as a Ray worker does (for the rest of this process)
        warm = StageWarmUp(self.stages)  # the models load while the first clip decodes
        store = WorkStore(output)
        run_id = uuid.uuid4().hex[:8]
        todo = [s for s in sources if not store.source_done(s.source_id)]
        seg_stats = StageStats("segment")
        prog = CurateProgress(len(todo), enabled=self.progress, desc="curate/local")
        try:
            for src in todo:
                for part in pending_parts(src, self.config.segment.part_length_s, store):
                    outcome = SourceOutcome(record=None)  # type: ignore[arg-type]
                    for group in iter_source_groups(src, self.config, store, outcome, seg_stats, part):
                        video_s = _duration(group)
                        warm.join()
                        out = run_stages(self.stages, group)
                        for parent, items in group_by_parent(out).items():
                            store.write_group(parent, src.source_id, items, self.config.shards.video_crf,
                                              self.config.shards.video_keyint)
                        kept = [it for it in out if it.kept]
                        prog.group(len(out), len(kept), video_s, _duration(kept))
                        group = out = items = kept = None  # this clip's frames go before the next is decoded
                store.try_complete_source(src.source_id)
                prog.source_done()
        finally:
            store.write_stats([seg_stats] + [s.stats for s in self.stages], run_id)
            prog.close()
