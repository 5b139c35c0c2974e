"""Run a curation on Ray Data: the only module of pipeline/ that imports Ray.

The stage list is mapped onto a few Ray Data operators by :func:`lipforge.pipeline.run.runners.plan.plan_operators`:
the source operator probes, decodes and segments a source and runs every stage up to the face
crop in that same process, so full-resolution frames never cross an operator boundary (what
crosses is the compact clip, or, in a CPU-only run, nothing but counts: the whole run is one
operator that also writes the shards' inputs). Operators are named after their stages, request
the CPUs, GPU fraction and ``memory`` of their config, and stream: one row per candidate group.
A writer persists each group through the same :class:`lipforge.pipeline.store.work.WorkStore` as the
local runner, so both give the same manifests and shards. The output directory must be on
storage every node sees.

An in-process Ray (no ``address``) listens on 127.0.0.1 only (Ray's single-node mode, the one it
uses on macOS/Windows): nothing of it is reachable from the network. Clusters: see README
("Dataflow / cluster") for token authentication and the ports that are open.

>>> RayRunner(RunConfig(), address=None).run(sources, "out")  # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import time
import uuid

import numpy as np

from lipforge.pipeline.stages.config import RunConfig
from lipforge.pipeline.run.curate import StageWarmUp, group_by_parent, iter_source_groups, run_stages
from lipforge.pipeline.source.inputs import SourceInput
from lipforge.pipeline.stages.build import build_stages
from lipforge.pipeline.run.runners.plan import Operator, auto_concurrency, plan_operators
from lipforge.pipeline.run.runners.progress import CurateProgress
from lipforge.pipeline.source.parts import SourcePart, plan_parts
from lipforge.pipeline.stages.base import ClipItem, StageStats
from lipforge.pipeline.store.atomic import atomic_write_bytes
from lipforge.pipeline.store.work import WorkStore

log = logging.getLogger(__name__)


def _duration(items: list[ClipItem]) -> float:
    return sum(it.n_frames / it.fps for it in items)


class _OperatorBase:
    """Shared by the operators: run the fused stages on groups, write or pack the result."""

    def __init__(self, op: Operator, cfg: RunConfig, output: str) -> None:
        from lipforge.pipeline.run.threads import keep_freed_memory, limit_native_threads

        limit_native_threads(op.num_cpus)  # this actor's process gets op.num_cpus CPUs
        keep_freed_memory()  # clip buffers reuse the heap instead of faulting fresh pages in
        self.op, self.cfg, self.store = op, cfg, WorkStore(output)
        self._warm = StageWarmUp(op.stages)  # models load while the first clip decodes

    def _finish(self, groups: list[list[ClipItem]]) -> tuple[list[bytes], list[dict]]:
        """Persist (writer) or pickle (otherwise) each group; returns payloads and row counts."""
        payloads, counts = [], []
        for g in groups:
            if self.op.writer and g:
                self.store.write_group(g[0].parent_id, g[0].source_id, g, self.cfg.shards.video_crf,
                                       self.cfg.shards.video_keyint)
            kept = [it for it in g if it.kept]
            counts.append({"judged": len(g), "kept": len(kept), "kept_s": _duration(kept)})
            payloads.append(b"" if self.op.writer else pickle.dumps(g, protocol=5))
        return payloads, counts

    def _stats(self, extra: list[StageStats] = ()) -> bytes:
        return pickle.dumps(list(extra) + [s.stats.take() for s in self.op.stages])


def _row(sid, part: str, payload: bytes, stats: bytes, counts: dict, video_s: float, n_groups: int, xbytes: int,
         began: float) -> dict:
    return {"source_id": np.array([sid], dtype=object), "part": np.array([part], dtype=object),
            "began": np.array([began]),  # wall clock when the source operator began this part
            "payload": np.array([payload], dtype=object),
            "stats": np.array([stats], dtype=object), "n_groups": np.array([n_groups], np.int64),
            "video_s": np.array([video_s]), "judged": np.array([counts["judged"]], np.int64),
            "kept": np.array([counts["kept"]], np.int64), "kept_s": np.array([counts["kept_s"]]),
            "xbytes": np.array([xbytes + len(payload) + len(stats)], np.int64)}


class _SourceOperator(_OperatorBase):
    """Probe + decode + segment one source part and run the fused stages; one row per candidate
    group, then one marker row (``n_groups`` = how many groups the part had) that ends the part."""

    def __call__(self, batch):
        for js in batch["input"]:  # the whole SourcePart: its range, the source's dataset and box travel with it
            part = SourcePart.from_json(str(js))
            sid, key, began = part.source.source_id, part.key, time.time()
            seg = StageStats("segment")
            n = 0
            for group in iter_source_groups(part.source, self.cfg, self.store, stats=seg, part=part):
                video_s = _duration(group)
                self._warm.join()
                out = run_stages(self.op.stages, group)
                payloads, counts = self._finish([out])
                yield _row(sid, key, payloads[0], self._stats([seg.take()]), counts[0], video_s, -1, 0, began)
                n += 1
                group = out = payloads = None  # this clip's frames go before the next is decoded
            empty = {"judged": 0, "kept": 0, "kept_s": 0.0}
            yield _row(sid, key, b"", pickle.dumps([seg.take()]), empty, 0.0, n, 0, began)


class _GroupOperator(_OperatorBase):
    """Fused stages after the source operator: a batch of groups in, the same rows out."""

    def __call__(self, batch):
        self._warm.join()
        groups = [pickle.loads(p) if p else [] for p in batch["payload"]]
        live = [g for g in groups if g]
        out = group_by_parent(run_stages(self.op.stages, [it for g in live for it in g])) if live else {}
        new = [out.get(g[0].parent_id, []) if g else [] for g in groups]
        payloads, counts = self._finish(new)
        mine = [s.stats.take() for s in self.op.stages]  # this batch's stats ride on its first row
        rows = []
        for i, sid in enumerate(batch["source_id"]):
            stats = pickle.dumps(pickle.loads(batch["stats"][i]) + (mine if i == 0 else []))
            c = counts[i] if groups[i] else {"judged": int(batch["judged"][i]), "kept": int(batch["kept"][i]),
                                              "kept_s": float(batch["kept_s"][i])}
            rows.append(_row(sid, batch["part"][i], payloads[i] if groups[i] else b"", stats, c, float(batch["video_s"][i]),
                             int(batch["n_groups"][i]), int(batch["xbytes"][i]), float(batch["began"][i])))
        return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def _named(base: type, op: Operator) -> type:
    """A subclass named after the operator's stages: Ray shows ``MapBatches(decode+speech+...)``."""
    return type(op.name, (base,), {"__module__": base.__module__})


def _scaled(cpus: float, scale: float) -> float:
    return max(cpus * scale, 0.01) if cpus > 0 else 0.0


class RayRunner:
    """``address=None`` starts a local Ray in-process (loopback only); ``"auto"`` or
    ``"ray://host:10001"`` joins a cluster."""

    def __init__(self, config: RunConfig, address: str | None = None, num_cpus: int | None = None,
                 progress: bool = True) -> None:
        self.config = config
        self.address = address
        self.num_cpus = num_cpus
        self.progress = progress
        self.operators = plan_operators(config, build_stages(config))  # bad configs / model files fail now
        # True: a successful run leaves Ray stopping on a thread (pipeline/run/runners/ray_close.py)
        # and the caller publishes meanwhile, then calls wait_closed(); lipforge curate does.
        self.close_in_background = False
        self._closer = None
        self._start = None  # a RayStart begun by start_early()
        self._keeper = None  # the RayStart whose thread the running Ray's processes depend on
        # seconds since this process was launched (ray_ready_s, planned_s, first_row_s,
        # first_part_began_s) and what Ray's start took (ray_start_s; ray_start_waited_s: the part
        # run() waited for); written to work/dataflow/<run>.json
        self.startup: dict[str, float | None] = {}

    def start_early(self) -> None:
        """Begin Ray's start on a thread now (:class:`lipforge.local_ray.RayStart`), so its processes
        come up while the driver plans; :meth:`run` joins it. A runner that never runs must
        :meth:`wait_closed` (it stops what this started)."""
        if self._start is None and not self._ray_up():
            from lipforge.local_ray import RayStart

            self._start = RayStart.begin(self.address, num_cpus=self.num_cpus if self.address is None else None)

    @staticmethod
    def _ray_up() -> bool:
        import sys

        return "ray" in sys.modules and sys.modules["ray"].is_initialized()

    def wait_closed(self) -> None:
        """Join a shutdown left running by :meth:`run` (no-op when there is none), and stop a Ray
        :meth:`start_early` began that no run used."""
        start, self._start = self._start, None
        if start is not None and start.wait():
            import ray

            ray.shutdown()
            start.release()
        closer, self._closer = self._closer, None
        try:
            if closer is not None:
                closer.wait()
        finally:
            self._release_keeper()

    def _release_keeper(self) -> None:
        """Ray is down: the thread that started it may end."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.release()

    def run(self, sources: list[SourceInput], output: str) -> None:
        if self._start is None:
            self.wait_closed()  # an earlier run's Ray must be gone before this one starts
        store = WorkStore(output)
        todo = [s for s in sources if not store.source_done(s.source_id)]
        started = ok = False
        try:
            if self._start is not None:
                start, self._start = self._start, None
                started = start.wait()
                self._keeper = start if started else None
                if not started:
                    start.release()
                self.startup.update(ray_start_s=start.seconds, ray_start_waited_s=start.waited_s)
            else:
                from lipforge.local_ray import start_ray

                t0 = time.perf_counter()
                started = start_ray(self.address, num_cpus=self.num_cpus if self.address is None else None)
                took = time.perf_counter() - t0
                self.startup.update(ray_start_s=took, ray_start_waited_s=took)
            self.startup["ray_ready_s"] = _since_launch()
            import ray
            from ray.data import ActorPoolStrategy

            if todo:
                self._run(ray, ActorPoolStrategy, todo, output)
            ok = True
        finally:
            if started and ok and self.close_in_background:
                from lipforge.pipeline.run.runners.ray_close import RayCloser

                self._closer = RayCloser.start(ray)
            elif started:
                import ray

                ray.shutdown()
                self._release_keeper()

    def _run(self, ray, ActorPoolStrategy, todo: list[SourceInput], output: str) -> None:
        cfg = self.config
        res = ray.cluster_resources()
        cpus, gpus = float(res.get("CPU", 1.0)), float(res.get("GPU", 0.0))
        ops = self.operators
        store = WorkStore(output)
        # A long source runs as parts on several workers (lipforge.pipeline.source.parts)
        parts = plan_parts(todo, cfg.segment.part_length_s, store)
        if not parts:  # every part is stored (a run killed before merging them): complete only
            for s in todo:
                store.try_complete_source(s.source_id)
            return
        n_src = auto_concurrency(ops[0], cpus, gpus, len(parts))
        sizes = [auto_concurrency(op, cpus, gpus, len(parts), source_actors=n_src) for op in ops]
        # Pools hold their CPUs for the whole run: on a small machine scale the logical
        # requests down so every pool can start (requests are for scheduling only).
        want = sum(op.num_cpus * n for op, n in zip(ops, sizes))
        scale = min(1.0, cpus / want) if want > 0 else 1.0
        # The same for memory: a request no node can meet would leave a pool waiting forever.
        # Declared, then scaled to what the cluster has (a warning says by how much).
        mem, want_mem = float(res.get("memory", 0.0)), sum(op.memory * n for op, n in zip(ops, sizes))
        mscale = min(1.0, mem / want_mem) if mem > 0 and want_mem > 0 else 1.0
        if mscale < 1.0:
            log.warning("curate/ray: operators declare %.1f GiB, the cluster has %.1f GiB of memory; "
                        "requests scaled by %.2f (clips may not fit: lower segment.max_clip_s or work_max_side)",
                        want_mem / 2**30, mem / 2**30, mscale)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = self.progress
        ctx.execution_options.preserve_order = False
        run_id = uuid.uuid4().hex[:8]
        # Largest file first: the longest source starts at once instead of ending the run alone.
        order = sorted(parts, key=lambda p: (-_size(p.source.path), p.source.source_id, p.index))
        ds = ray.data.from_items([{"path": p.source.path, "source_id": p.source.source_id, "input": p.to_json()}
                                  for p in order], override_num_blocks=len(order))
        left = {s.source_id: 0 for s in todo}  # parts still to finish, per source
        for p in parts:
            left[p.source.source_id] += 1
        for op, n in zip(ops, sizes):
            base = _SourceOperator if op.source else _GroupOperator
            ds = ds.map_batches(_named(base, op), fn_constructor_args=(op, cfg, output),
                                batch_size=op.batch_size, num_cpus=_scaled(op.num_cpus, scale),
                                num_gpus=op.num_gpus, memory=int(op.memory * mscale),
                                compute=ActorPoolStrategy(size=n, max_tasks_in_flight_per_actor=1))
        prog = CurateProgress(len(todo), enabled=self.progress, desc="curate/ray")
        for sid in [sid for sid, n in left.items() if n == 0]:  # its parts were all stored earlier
            store.try_complete_source(sid)
            prog.source_done()
        totals: dict[str, StageStats] = {}
        seen: dict[str, int] = {}
        expected: dict[str, int] = {}
        done: set[str] = set()
        xbytes, video_s, saved = 0, 0.0, time.time()
        startup = self.startup
        startup["planned_s"] = _since_launch()
        began = float("inf")
        try:
            for row in ds.iter_rows():
                if "first_row_s" not in startup:
                    startup["first_row_s"] = _since_launch()
                began = min(began, float(row["began"]))
                for st in pickle.loads(row["stats"]):
                    totals[st.name] = totals[st.name] + st if st.name in totals else st
                xbytes += int(row["xbytes"])
                sid, key = row["source_id"], row["part"]
                if row["n_groups"] >= 0:
                    expected[key] = int(row["n_groups"])
                else:
                    seen[key] = seen.get(key, 0) + 1
                    video_s += float(row["video_s"])
                    prog.group(int(row["judged"]), int(row["kept"]), float(row["video_s"]), float(row["kept_s"]))
                # >=: a part retried after a lost worker re-sends only its unfinished groups
                if key in expected and key not in done and seen.get(key, 0) >= expected[key]:
                    done.add(key)
                    left[sid] -= 1
                    if left[sid] == 0:
                        store.try_complete_source(sid)
                        prog.source_done()
                if time.time() - saved > 30:  # one stats file per run, refreshed
                    store.write_stats(list(totals.values()), run_id, name=f"{run_id}-driver.json")
                    saved = time.time()
        finally:
            store.write_stats(list(totals.values()), run_id, name=f"{run_id}-driver.json")
            prog.close()
            launched = _launch_wall()
            if began < float("inf") and launched is not None:  # launch -> a source operator began its first part
                startup["first_part_began_s"] = began - launched
            self._write_dataflow(store, run_id, ops, sizes, scale, mscale, xbytes, video_s, startup)
        for s in todo:
            store.try_complete_source(s.source_id)

    @staticmethod
    def _write_dataflow(store: WorkStore, run_id: str, ops, sizes, scale, mscale, xbytes: int, video_s: float,
                        startup: dict) -> None:
        """What ran where and how many bytes crossed operators (read by benchmarks/curate_throughput.py)."""
        body = {"run_id": run_id, "bytes_crossing": xbytes, "video_s": round(video_s, 3),
                "bytes_per_video_s": round(xbytes / video_s, 1) if video_s else None,
                "startup_s": {k: round(v, 3) if v is not None else None for k, v in startup.items()}, "cpu_scale": round(scale, 3), "memory_scale": round(mscale, 3),
                "operators": [{"name": op.name, "num_cpus": op.num_cpus, "num_gpus": op.num_gpus,
                               "memory": int(op.memory * mscale), "actors": n, "batch_size": op.batch_size}
                              for op, n in zip(ops, sizes)]}
        atomic_write_bytes(store.work / "dataflow" / f"{run_id}.json", json.dumps(body, indent=1).encode())


def _launch_wall() -> float | None:
    """The wall-clock time (``time.time()``) this process was launched, from /proc; None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - (up - start)


def _since_launch() -> float | None:
    launched = _launch_wall()
    return None if launched is None else time.time() - launched


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
