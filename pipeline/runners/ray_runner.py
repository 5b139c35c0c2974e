"""Run a curation on Ray Data: the only module of pipeline/ that imports Ray.

The same stage list as the local runner, mapped onto Ray Data operators: sources are probed
and segmented by tasks that stream one candidate group per row (a pickled list of ClipItems,
bounded by the segmenter's maximum clip length), each stage runs in its own actor pool with
the CPUs, GPU fraction, batch size and concurrency of its config (so a GPU detector and a CPU
scene splitter get different pools), and a writer persists each group through the same
:class:`lipforge.pipeline.store.WorkStore`. The output directory must be on storage every node sees.

>>> RayRunner(RunConfig(), address=None).run(sources, "out")  # doctest: +SKIP
"""
from __future__ import annotations

import pickle
import sys
import time
import uuid

import numpy as np

from lipforge.pipeline.config import RunConfig
from lipforge.pipeline.curate import SourceInput, build_stages, group_by_parent, iter_source_groups, run_stages
from lipforge.pipeline.stage import Stage, StageStats
from lipforge.pipeline.store import WorkStore


def _pack(groups) -> dict:
    return {"payload": np.array([pickle.dumps(g, protocol=5) for g in groups], dtype=object)}


def _unpack(batch) -> list:
    return [pickle.loads(b) for b in batch["payload"]]


class _SegmentFn:
    """Probe + decode + segment one source; yields one row per candidate group (streaming)."""

    def __init__(self, cfg: RunConfig, output: str) -> None:
        self.cfg, self.store = cfg, WorkStore(output)

    def __call__(self, batch):
        for js in batch["input"]:  # the whole SourceInput (a range, its dataset and box travel with it)
            stats = StageStats("segment")
            for group in iter_source_groups(SourceInput.from_json(str(js)), self.cfg, self.store, stats=stats):
                row = _pack([group])
                row["stats"] = np.array([pickle.dumps([stats.take()])], dtype=object)
                yield row
            if stats.seconds:  # a source that yielded no clip (dropped at probe)
                self.store.write_stats([stats.take()], "segment")


class _StageActor:
    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    def __call__(self, batch):
        groups = _unpack(batch)
        out = run_stages([self.stage], [it for g in groups for it in g])
        by_parent = group_by_parent(out)
        packed = _pack([by_parent.get(g[0].parent_id, []) for g in groups])
        # This batch's stats ride along with its first row to the driver, which sums them.
        stats = [pickle.loads(p) for p in batch["stats"]]
        stats[0].append(self.stage.stats.take())
        packed["stats"] = np.array([pickle.dumps(x) for x in stats], dtype=object)
        return packed


class _WriterFn:
    def __init__(self, cfg: RunConfig, output: str) -> None:
        self.cfg, self.store = cfg, WorkStore(output)

    def __call__(self, batch):
        groups = _unpack(batch)
        for g in groups:
            if g:
                self.store.write_group(g[0].parent_id, g[0].source_id, g, self.cfg.shards.video_crf)
        return {"kept": np.array([sum(it.kept for it in g) for g in groups], dtype=np.int64),
                "stats": batch["stats"]}


def _scaled(cpus: float, scale: float) -> float:
    return max(cpus * scale, 0.01) if cpus > 0 else 0.0


class RayRunner:
    """``address=None`` starts a local Ray in-process; ``"auto"`` or ``"ray://host:10001"`` joins a cluster."""

    def __init__(self, config: RunConfig, address: str | None = None, num_cpus: int | None = None,
                 progress: bool = True) -> None:
        self.config = config
        self.address = address
        self.num_cpus = num_cpus
        self.progress = progress
        build_stages(config)  # fail on bad configs / missing model files before Ray starts

    def run(self, sources: list[SourceInput], output: str) -> None:
        import os

        # Ray's usage-stats code probes a cloud metadata address unless this is set before import.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray
        from ray.data import ActorPoolStrategy

        store = WorkStore(output)
        todo = [s for s in sources if not store.source_done(s.source_id)]
        started = False
        if not ray.is_initialized():
            kw = {"include_dashboard": False, "log_to_driver": True}
            if self.address is None:
                # "local" always starts a private in-process Ray; address=None would silently join
                # any cluster already running on this machine (`ray start`).
                kw["num_cpus"] = self.num_cpus
            ray.init(address=self.address or "local", **kw)
            started = True
        try:
            if todo:
                self._run(ray, ActorPoolStrategy, todo, output)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, ActorPoolStrategy, todo: list[SourceInput], output: str) -> None:
        cfg = self.config
        stages = build_stages(cfg)
        total = float(ray.cluster_resources().get("CPU", 1.0))
        # Pools hold their CPUs for the whole run: on a small machine scale the logical
        # requests down so every pool can start (requests are for scheduling only).
        want = cfg.segment.num_cpus * cfg.segment.concurrency + cfg.shards.num_cpus + sum(
            s.config.num_cpus * s.config.concurrency for s in stages)
        scale = min(1.0, total / want) if want > 0 else 1.0
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = self.progress
        ctx.execution_options.preserve_order = False
        run_id = uuid.uuid4().hex[:8]
        ds = ray.data.from_items([{"path": s.path, "source_id": s.source_id, "input": s.to_json()} for s in todo],
                                 override_num_blocks=len(todo))
        ds = ds.map_batches(_SegmentFn, fn_constructor_args=(cfg, output), batch_size=1,
                            num_cpus=_scaled(cfg.segment.num_cpus, scale),
                            compute=ActorPoolStrategy(size=cfg.segment.concurrency))
        for st in stages:
            c = st.config
            ds = ds.map_batches(_StageActor, fn_constructor_args=(st,), batch_size=c.batch_size,
                                num_cpus=_scaled(c.num_cpus, scale), num_gpus=c.num_gpus,
                                compute=ActorPoolStrategy(size=c.concurrency))
        ds = ds.map_batches(_WriterFn, fn_constructor_args=(cfg, output), batch_size=1,
                            num_cpus=_scaled(cfg.shards.num_cpus, scale), compute=ActorPoolStrategy(size=1))
        store = WorkStore(output)
        t0, n, kept, saved = time.time(), 0, 0, time.time()
        totals: dict[str, StageStats] = {}
        try:
            for row in ds.iter_rows():
                n += 1
                kept += int(row["kept"])
                for st in pickle.loads(row["stats"]):
                    totals[st.name] = totals[st.name] + st if st.name in totals else st
                if time.time() - saved > 30:  # one stats file per run, refreshed
                    store.write_stats(list(totals.values()), run_id, name=f"{run_id}-driver.json")
                    saved = time.time()
                if self.progress:
                    print(f"\r[curate/ray] {n} clips judged, {kept} kept, {time.time() - t0:.0f} s", end="",
                          file=sys.stderr, flush=True)
        finally:
            store.write_stats(list(totals.values()), run_id, name=f"{run_id}-driver.json")
            if self.progress:
                print(file=sys.stderr)
        for s in todo:
            store.try_complete_source(s.source_id)
