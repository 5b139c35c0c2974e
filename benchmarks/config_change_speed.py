"""What a config change costs on a curated corpus, on the path users run (``lipforge curate``
in a subprocess, local runner), side by side with a fresh run:

* speech stage only: a fresh run vs a no-op rerun vs a tightened threshold (re-judged from
  stored scores) vs a changed measurement parameter (recomputed);
* the gating asd + sync stages (random-init Light-ASD / SyncNet v2 files in their real formats,
  lipforge.testing.av_models; no real weights here): a fresh run vs a tightened SyncNet
  confidence vs a tightened ASD score, each threshold halfway through the scores the fresh run
  measured.

    python benchmarks/config_change_speed.py [n_sources] [seconds_each] [av_sources] [av_seconds]
    # default 4 x 13 s (speech), 4 x 4 s (asd + sync)
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def curate(lst: Path, out: Path, cfg: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lipforge.cli", "curate", "--input", str(lst), "--output", str(out),
                    "--config", str(cfg), "--runner", "local"], check=True, capture_output=True)
    return time.perf_counter() - t0, json.loads((out / "summary.json").read_text())["store"]


def show(title: str, rows: list[tuple]) -> None:
    print(title)
    for label, dt, st in rows:
        print(f"  {label:26s} {dt:7.2f} s   re-judged {st['candidates_rejudged']:3d}   recomputed "
              f"{st['candidates_recomputed']:3d}   ratio to fresh {dt / rows[0][1]:.2f}")


def speech_case(base: Path, n: int, secs: float) -> None:
    from lipforge.testing import make_talking_head
    from lipforge.testing.corpus import path_list, write_config

    files = [make_talking_head(base / "in" / f"s{i}.mp4", seconds=secs, size=(256, 256), face_px=160, seed=i).path
             for i in range(n)]
    lst = path_list(base / "lists", files)
    steps = [("fresh run", {"min_speech_ratio": 0.3}), ("no-op rerun", {"min_speech_ratio": 0.3}),
             ("tightened threshold", {"min_speech_ratio": 0.9}),
             ("measurement changed", {"min_speech_ratio": 0.9, "vad_threshold": 0.6})]
    rows = []
    for i, (label, speech) in enumerate(steps):
        dt, st = curate(lst, base / "out", write_config(base / f"{i}.yaml", speech=speech))
        rows.append((label, dt, st))
    show(f"{n} sources x {secs:.0f} s, local runner, speech stage only (seconds include process start):", rows)


def av_case(base: Path, n: int, secs: float) -> None:
    import pyarrow.parquet as pq

    from lipforge.manifests.corpus import manifests_dir
    from lipforge.testing import make_talking_head
    from lipforge.testing.av_models import tiny_av_weights
    from lipforge.testing.corpus import path_list, stage_config

    files = [make_talking_head(base / "in" / f"v{i}.mp4", seconds=secs, size=(128, 128), face_px=90, seed=i).path
             for i in range(n)]
    lst = path_list(base / "lists", files)
    w = tiny_av_weights(base / "weights")
    asd = {"weights": str(w["light_asd"]), "threshold": -1e6}
    sync = {"backend": "syncnet", "syncnet_weights": str(w["syncnet"]), "min_conf": 0.0, "vshift": 6, "max_offset": 6}

    def cfg(name: str, asd_: dict, sync_: dict) -> Path:
        return stage_config(base / f"{name}.yaml", {"speech": {"min_speech_ratio": 0.0}, "asd": asd_, "sync": sync_})

    out = base / "out"
    rows = [("fresh run", *curate(lst, out, cfg("fresh", asd, sync)))]
    clips = pq.read_table(manifests_dir(out) / "clips.parquet", columns=["sync_conf", "asd_score"]).to_pylist()
    mid = lambda k: (min(c[k] for c in clips) + max(c[k] for c in clips)) / 2  # noqa: E731
    sync_t = {**sync, "min_conf": mid("sync_conf")}
    rows.append(("tightened sync min_conf", *curate(lst, out, cfg("sync", asd, sync_t))))
    rows.append(("tightened asd threshold", *curate(lst, out, cfg("asd", {**asd, "threshold": mid("asd_score")}, sync_t))))
    show(f"{n} sources x {secs:.0f} s, local runner, speech + asd + sync (random-init weights):", rows)


def main(argv: list[str]) -> None:
    from lipforge.env import apply_offline_env

    apply_offline_env()
    args = [float(a) for a in argv] + [4, 13.0, 4, 4.0][len(argv):]
    speech_case(Path(tempfile.mkdtemp(prefix="lf-cfg-")), int(args[0]), args[1])
    av_case(Path(tempfile.mkdtemp(prefix="lf-cfg-av-")), int(args[2]), args[3])


if __name__ == "__main__":
    main(sys.argv[1:])
