"""Storage of a curated corpus: what ``work/`` keeps next to the published shards, measured on
the path users run (``lipforge curate``, local runner) over synthetic talking heads.

    python benchmarks/store_overhead.py [n_sources] [seconds_each]   # default 4 x 13 s (52 s)

Every clip stage but speech is off (no model weights here), so most clips are kept: this is the
case where ``work/`` duplicates the most (each kept clip's encoded bytes sit in its candidate tar
*and* in a published shard). Prints bytes per part and the ratios side by side; with
``shards.keep_work_samples: false`` (when this build offers it) the same run is repeated.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def tree_bytes(p: Path, pattern: str = "*") -> int:
    return sum(f.stat().st_size for f in p.rglob(pattern) if f.is_file() and not f.is_symlink()) if p.exists() else 0


def measure(out: Path) -> dict[str, int]:
    w = out / "work"
    m = {"input": 0, "shards": tree_bytes(out / "shards"), "manifests": tree_bytes(out / "generations"),
         "work": tree_bytes(w), "work tars": tree_bytes(w / "groups", "*.tar"),
         "work release recs": tree_bytes(w / "groups", "*.released.json"),
         "work parquets": tree_bytes(w / "groups", "*.parquet"), "work thumbs": tree_bytes(w / "thumbs")}
    m["work other"] = m["work"] - m["work tars"] - m["work release recs"] - m["work parquets"] - m["work thumbs"]
    return m


def main(argv: list[str]) -> None:
    from lipforge.env import apply_offline_env

    apply_offline_env()
    from lipforge.testing import make_talking_head
    from lipforge.testing.corpus import curate, path_list, write_config

    n = int(argv[0]) if argv else 4
    secs = float(argv[1]) if len(argv) > 1 else 13.0
    base = Path(tempfile.mkdtemp(prefix="lf-store-"))
    files = [make_talking_head(base / "in" / f"s{i}.mp4", seconds=secs, size=(256, 256), face_px=160, seed=i).path
             for i in range(n)]
    lst = path_list(base / "lists", files)
    runs = {"default": {}}
    try:
        from lipforge.pipeline.stages.config import ShardConfig

        if "keep_work_samples" in ShardConfig.__dataclass_fields__:
            runs["keep_work_samples: false"] = {"keep_work_samples": False}
    except ImportError:
        pass
    rows = {}
    for label, shards in runs.items():
        out = base / label.replace(" ", "").replace(":", "-")
        cfg = write_config(base / f"{len(rows)}.yaml", speech={}, **shards)
        assert curate(out, "--input", str(lst), cfg=cfg) == 0
        m = measure(out)
        m["input"] = sum(f.stat().st_size for f in files)
        rows[label] = m
    print(f"{n} sources x {secs:.0f} s = {n * secs:.0f} s of 256x256 video; bytes:")
    keys = list(next(iter(rows.values())))
    print(f"{'':18s}" + "".join(f"{k:>28s}" for k in rows))
    for k in keys:
        print(f"{k:18s}" + "".join(f"{r[k]:>28,d}" for r in rows.values()))
    for label, r in rows.items():
        print(f"{label}: work / shards = {r['work'] / max(r['shards'], 1):.2f}, "
              f"work tars / shards = {r['work tars'] / max(r['shards'], 1):.2f}, "
              f"(work + shards) / input = {(r['work'] + r['shards']) / max(r['input'], 1):.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
