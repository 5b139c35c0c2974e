"""Run a curation in-process: the same stages and store as the Ray runner, one item at a time.

Used by tests and small jobs; its manifests equal the Ray runner's for the same input.
"""
from __future__ import annotations

import sys
import time
import uuid

from lipforge.pipeline.config import RunConfig
from lipforge.pipeline.curate import SourceInput, SourceOutcome, build_stages, group_by_parent, iter_source_groups, run_stages
from lipforge.pipeline.stage import StageStats
from lipforge.pipeline.store import WorkStore


class LocalRunner:
    def __init__(self, config: RunConfig, progress: bool = True) -> None:
        self.config = config
        self.stages = build_stages(config)
        self.progress = progress

    def run(self, sources: list[SourceInput], output: str) -> None:
        store = WorkStore(output)
        run_id = uuid.uuid4().hex[:8]
        todo = [s for s in sources if not store.source_done(s.source_id)]
        t0 = time.time()
        n_groups = 0
        seg_stats = StageStats("segment")
        try:
            for i, src in enumerate(todo):
                outcome = SourceOutcome(record=None)  # type: ignore[arg-type]
                for group in iter_source_groups(src, self.config, store, outcome, seg_stats):
                    out = run_stages(self.stages, group)
                    for parent, items in group_by_parent(out).items():
                        store.write_group(parent, src.source_id, items, self.config.shards.video_crf)
                    n_groups += 1
                    if self.progress:
                        print(f"\r[curate] source {i + 1}/{len(todo)} {src.source_id}: {n_groups} clips "
                              f"judged, {time.time() - t0:.0f} s", end="", file=sys.stderr, flush=True)
                store.try_complete_source(src.source_id)
        finally:
            store.write_stats([seg_stats] + [s.stats for s in self.stages], run_id)
            if self.progress:
                print(file=sys.stderr)
