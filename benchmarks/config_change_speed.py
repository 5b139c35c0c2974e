"""What a config change costs on a curated corpus, on the path users run (``lipforge curate``
in a subprocess, local runner): a fresh run vs a no-op rerun vs a tightened threshold
(re-judged from stored scores) vs a changed measurement parameter (recomputed), side by side.

    python benchmarks/config_change_speed.py [n_sources] [seconds_each]   # default 4 x 13 s

Only the speech stage runs (no model weights here): it is the stage that declares thresholds.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    from lipforge.env import apply_offline_env

    apply_offline_env()
    from lipforge.testing import make_talking_head
    from lipforge.testing.corpus import path_list, write_config

    n = int(argv[0]) if argv else 4
    secs = float(argv[1]) if len(argv) > 1 else 13.0
    base = Path(tempfile.mkdtemp(prefix="lf-cfg-"))
    files = [make_talking_head(base / "in" / f"s{i}.mp4", seconds=secs, size=(256, 256), face_px=160, seed=i).path
             for i in range(n)]
    lst = path_list(base / "lists", files)
    out = base / "out"
    steps = [("fresh run", {"min_speech_ratio": 0.3}), ("no-op rerun", {"min_speech_ratio": 0.3}),
             ("tightened threshold", {"min_speech_ratio": 0.9}),
             ("measurement changed", {"min_speech_ratio": 0.9, "vad_threshold": 0.6})]
    rows = []
    for i, (label, speech) in enumerate(steps):
        cfg = write_config(base / f"{i}.yaml", speech=speech)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lipforge.cli", "curate", "--input", str(lst), "--output", str(out),
                        "--config", str(cfg), "--runner", "local"], check=True, capture_output=True)
        dt = time.perf_counter() - t0
        st = json.loads((out / "summary.json").read_text())["store"]
        rows.append((label, dt, st["candidates_rejudged"], st["candidates_recomputed"]))
    print(f"{n} sources x {secs:.0f} s, local runner, speech stage only (seconds include process start):")
    for label, dt, rj, rc in rows:
        print(f"  {label:22s} {dt:7.2f} s   re-judged {rj:3d}   recomputed {rc:3d}   ratio to fresh {dt / rows[0][1]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
