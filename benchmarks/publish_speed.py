"""Publishing cost: a fresh publish of the shards vs a rerun that adds nothing vs a rerun that adds
one source (its keys land in the middle of the corpus), on the same committed work store, for
content-defined and filled shard boundaries, in one run.

    python benchmarks/publish_speed.py [n_sources] [clips_per_source]   # default 20 x 10

Prints seconds, shard bytes written and shards written/reused for each, and their ratios.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(root)]
    from lipforge.env import apply_offline_env

    apply_offline_env()
    import numpy as np

    from lipforge.manifests.schema import SourceRecord
    from lipforge.pipeline.stages.config import RunConfig
    from lipforge.pipeline.source.inputs import SourceInput
    from lipforge.pipeline.run.finalize import finalize
    from lipforge.pipeline.stages.base import ClipItem
    from lipforge.pipeline.store.work import WorkStore

    n_src = int(argv[0]) if argv else 20
    n_clip = int(argv[1]) if len(argv) > 1 else 10
    out = Path(tempfile.mkdtemp(prefix="lf-publish-")) / "out"
    store = WorkStore(out)
    rng = np.random.default_rng(0)

    def commit(sid: str) -> SourceInput:
        cands = [f"{sid}-{k * 4000:08d}-00" for k in range(n_clip)]
        store.write_source(SourceRecord(sid, f"/in/{sid}.mp4", n_candidates=n_clip), cands)
        for k, cid in enumerate(cands):
            it = ClipItem(cid, sid, cid, k * 100, k * 100 + 50,
                          frames=rng.integers(0, 255, (50, 96, 96, 3), dtype=np.uint8),  # noise: large mp4s
                          audio=(rng.standard_normal(50 * 640) * 0.1).astype(np.float32))
            store.write_group(cid, sid, [it], crf=18)
        store.try_complete_source(sid)
        return SourceInput(f"/in/{sid}.mp4", sid)

    import shutil

    t0 = time.perf_counter()
    sources = [commit(f"s{i:04d}") for i in range(0, 2 * n_src, 2)]
    print(f"setup: {n_src} sources x {n_clip} clips committed in {time.perf_counter() - t0:.1f} s")
    pristine = out.with_name("pristine")
    shutil.copytree(out, pristine)

    def timed(label: str, cfg) -> tuple[float, int]:
        before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("*.tar")} if (out / "shards").exists() else {}
        t = time.perf_counter()
        s = finalize(sources, str(out), cfg)
        dt = time.perf_counter() - t
        written = [p for p in (out / "shards").glob("*.tar") if before.get(p.name) != p.stat().st_mtime_ns]
        nbytes = sum(p.stat().st_size for p in written)
        print(f"  {label:26s} {dt:7.2f} s  {nbytes / 1e6:8.1f} MB written  shards written "
              f"{s['shards']['written']:3d} reused {s['shards']['reused']:3d} of {s['shards']['count']:3d}")
        return dt, nbytes

    for mode in ("content", "fill"):
        shutil.rmtree(out)
        shutil.copytree(pristine, out)
        del sources[n_src:]
        cfg = RunConfig.from_dict({"shards": {"max_samples": 16, "boundaries": mode}})
        print(f"boundaries={mode} (max_samples 16)")
        full_s, full_b = timed("fresh publish", cfg)
        noop_s, noop_b = timed("rerun, nothing new", cfg)
        sources.append(commit(f"s{n_src - 1:04d}"))  # odd id: lands in the middle of the key order
        add_s, add_b = timed("rerun, one source added", cfg)
        print(f"  ratio no-op / fresh: time {noop_s / full_s:.3f}, bytes {noop_b / max(full_b, 1):.3f}")
        print(f"  ratio add-one / fresh: time {add_s / full_s:.3f}, bytes {add_b / max(full_b, 1):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
