"""What ``segment`` costs beside a plain decode of the same files, in one process, and where.

    python benchmarks/segment_cost.py [--input DIR] [--profile 25]

For every video (default: ../shared/fixtures/real/talking plus the portrait fixture) measures
the CPU seconds of decode-only (``curate_throughput.decode_file``: every frame to RGB at full
size, audio to 16 kHz mono) and of :class:`~lipforge.pipeline.stages.segment.Segmenter` run to
the end with the default :class:`~lipforge.pipeline.stages.config.SegmentConfig` (decode, working
size, scene detection, clip stacks, audio), alternating the two per file so machine load
falls on both alike. ``--rounds 2`` measures again once the heap is at its peak (a worker's
steady state). ``--profile N`` prints the N functions with the most own time inside
``segment`` (cProfile on CPU time, a second pass). Prints figures only.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from blazeface_boxes import default_inputs  # noqa: E402
from curate_throughput import decode_file  # noqa: E402


def segment_file(path: Path) -> float:
    from lipforge.manifests.schema import SourceRecord
    from lipforge.pipeline.stages.config import SegmentConfig
    from lipforge.pipeline.stages.segment import Segmenter

    seg = Segmenter(SegmentConfig())
    for _ in seg.run(str(path), SourceRecord(source_id="s", path=str(path))):
        pass
    return seg.n_frames / seg.cfg.fps


def resolution_group(path: Path) -> str:
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        side = max(v.codec_context.width, v.codec_context.height)
    return next(f"<= {g} px" for g in (256, 512, 1280, 1920, 4096, 10**9) if side <= g)


def print_profile(prof: cProfile.Profile, n: int) -> None:
    """The ``n`` functions with the most own CPU time, as a share of the whole."""
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values())
    rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:n]
    print(f"profile: {total:.1f} CPU-s in segment (cProfile's own overhead included)")
    print(f"{'own CPU-s':>9s} {'%':>5s} {'calls':>7s}  function")
    for (fn, line, name), (_, calls, tt, _, _) in rows:
        where = f"{Path(fn).name}:{line}({name})" if line else name
        print(f"{tt:9.2f} {100 * tt / total:5.1f} {calls:7d}  {where}")


def measure(files: list[Path]) -> None:
    """Decode-only and segment per file, alternating, and their totals per resolution group."""
    tot = {"decode": 0.0, "segment": 0.0, "video_s": 0.0}
    groups: dict[str, list[float]] = {}
    print(f"{'video':46s} {'video-s':>7s} {'decode CPU-s/vs':>15s} {'segment CPU-s/vs':>16s} {'ratio':>6s}")
    for p in files:
        c0 = time.process_time()
        v = decode_file(str(p))
        c1 = time.process_time()
        segment_file(p)
        c2 = time.process_time()
        tot["decode"] += c1 - c0
        tot["segment"] += c2 - c1
        tot["video_s"] += v
        g = groups.setdefault(resolution_group(p), [0, 0.0, 0.0, 0.0])
        g[0], g[1], g[2], g[3] = g[0] + 1, g[1] + v, g[2] + c1 - c0, g[3] + c2 - c1
        print(f"{p.name:46s} {v:7.1f} {(c1 - c0) / v:15.4f} {(c2 - c1) / v:16.4f} {(c2 - c1) / (c1 - c0):6.2f}")
    print(f"all {len(files)} files, {tot['video_s']:.1f} video-s: decode-only {tot['decode']:.1f} CPU-s, "
          f"segment {tot['segment']:.1f} CPU-s, segment / decode-only = {tot['segment'] / tot['decode']:.2f}")
    for name, (n, v, dc, sc) in sorted(groups.items(), key=lambda kv: int(kv[0].split()[1])):
        print(f"  sources {name:10s}: {n:2d} files, {v:6.1f} video-s, decode-only {dc:5.1f} CPU-s, "
              f"segment {sc:5.1f} CPU-s, ratio {sc / dc:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path)
    ap.add_argument("--profile", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=1, help="measure every file this many times; the first round "
                    "includes the process's heap growth to its peak (first touch of fresh pages), later ones not")
    a = ap.parse_args()
    files = sorted(a.input.glob("*.mp4")) if a.input else default_inputs()
    from lipforge.pipeline.run.threads import keep_freed_memory, limit_native_threads

    keep_freed_memory()  # as the runners' workers do: clip stacks reuse the heap
    limit_native_threads(1)  # as a 1-CPU worker does (OpenCV's pool otherwise spins a second thread)
    decode_file(str(files[0]))  # warm up: imports and first calls are not per-file costs
    segment_file(files[0])
    for r in range(a.rounds):
        if a.rounds > 1:
            print(f"round {r + 1} of {a.rounds}" + (" (a process's first: its heap grows to its peak)" if r == 0 else
                                                    " (steady state: the heap is at its peak)"))
        measure(files)
    if a.profile:
        prof = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
        prof.enable()
        for p in files:
            segment_file(p)
        prof.disable()
        print_profile(prof, a.profile)


if __name__ == "__main__":
    main()
