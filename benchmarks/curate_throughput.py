"""Curation throughput of the command users run, beside decode-only on the same files, one run.

    python benchmarks/curate_throughput.py [--input DIR | --synthetic] [--runs decode1,local,...]

Without --input it runs on the real talking videos of ../shared/fixtures/real/talking (28
files, 224 px to 1080p, camera and studio) plus the portrait fixture (1080x1920), linked into a
temporary folder; ``--synthetic`` makes the earlier synthetic talking heads instead (four 10 s
ones and one long source, at 720p; ``--sizes small`` for 384/640 px ones), whose decode is about
3x cheaper than camera video and so flatters every ratio. Every pipeline figure is
``lipforge curate`` as a user types it (a subprocess; no --runner means Ray in-process):

* ``decode1`` / ``decode2``: PyAV decode to RGB frames + 16 kHz mono, largest file first, in one
  process and in two (the files shared out, largest first);
* ``ray``: the default command (Ray in-process, all default CPU stages, CPUs auto-detected);
  ``ray1`` / ``ray2``: the same with ``--num-cpus 1`` / ``2``; ``local``: ``--runner local``;
  ``spine``: the default command with every clip stage disabled; ``ray2whole`` / ``localwhole``:
  ``--num-cpus 2`` / ``--runner local`` with ``segment.part_s: 0`` (long sources not split into
  parts), to show what the parts gain and cost.

CPU-seconds are those of the whole process tree (the driver, Ray's own processes and every
worker), read from /proc every 0.2 s; peak RSS is each process's high-water mark (VmHWM).
Phases, from when files appear in the output (polled every 0.2 s), in wall s and the tree's CPU-s:
start-up (launch -> the work store's corpus.json: imports, config, planning), first source done,
the sources' work (-> Ray's dataflow file / the local stats file), finalize (-> process end:
manifests, summary, report). Ray's fixed start-up comes from the driver's own clock
(``startup_s`` of ``work/dataflow/*.json``): Ray up, and a worker beginning the first part.
Bytes crossing operators come from the run's ``work/dataflow/*.json``. Prints figures only;
targets are never asserted. The machine may be shared: say so when quoting the figures.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO.parent / "shared" / "fixtures" / "real" / "talking_en_1080x1920_25fps.mp4"
RUNS = ("decode1", "decode2", "ray", "ray1", "ray2", "local", "spine", "ray2whole", "localwhole")
DEFAULT_RUNS = ("decode1", "decode2", "local", "ray1", "ray2")
REAL_TALKING = REPO.parent / "shared" / "fixtures" / "real" / "talking"
FLAT = ("flat10", "flatlong")  # memory against source length: the default command on one source


# ---- decode-only ---------------------------------------------------------------------------
def decode_file(path: str) -> float:
    """Decode every frame to RGB and the audio to 16 kHz mono; returns the video seconds."""
    import av

    n, fps = 0, 25.0
    with av.open(path) as c:
        if c.streams.video:
            fps = float(c.streams.video[0].average_rate or 25)
            for f in c.decode(video=0):
                f.to_ndarray(format="rgb24")
                n += 1
    with av.open(path) as c:
        if c.streams.audio:
            rs = av.AudioResampler(format="flt", layout="mono", rate=16000)
            for f in c.decode(audio=0):
                for g in rs.resample(f):
                    g.to_ndarray()
    return n / fps


def decode_child(paths: list[str], procs: int) -> None:
    paths = sorted(paths, key=lambda p: -os.path.getsize(p))  # largest first
    if procs == 1:
        secs, per_file = 0.0, {}
        for p in paths:
            c0 = time.process_time()
            v = decode_file(p)
            secs += v
            per_file[Path(p).name] = (v, time.process_time() - c0)
        for name, (v, c) in per_file.items():  # what a video-second costs to decode, per input
            print(f"  decode-only {name:22s} {v:6.1f} video-s, {c / max(v, 1e-9):.3f} CPU-s per video-s")
    else:
        with mp.get_context("spawn").Pool(procs) as pool:
            secs = sum(pool.imap_unordered(decode_file, paths))
    print("RESULT " + json.dumps({"video_s": secs}))


# ---- process-tree accounting ---------------------------------------------------------------
def _proc_sample(pid: int) -> tuple[float, int, str] | None:
    """(CPU seconds, VmHWM bytes, name) of one process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    hwm = 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return cpu, hwm, cmd


PHASE_MARKS = {"corpus": "work/corpus.json", "first_done": "work/sources/*.done", "stats": "work/stats/*.json",
               "dataflow": "work/dataflow/*.json"}  # Ray's driver refreshes stats every 30 s: its end is dataflow


def run_tree(cmd: list[str], env: dict, out_dir: Path | None = None) -> dict:
    """Run ``cmd``; CPU-s of it and every descendant, peak RSS per process, wall time, and when
    each of :data:`PHASE_MARKS` first appeared under ``out_dir``."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: dict[int, tuple[float, int, str]] = {}
    root = psutil.Process(proc.pid)

    marks: dict[str, float] = {}
    marks_cpu: dict[str, float] = {}  # the tree's CPU-s when each mark appeared

    def sample() -> None:
        new = []
        if out_dir is not None:
            for k, pat in PHASE_MARKS.items():
                if k not in marks and next(iter(out_dir.glob(pat)), None) is not None:
                    marks[k] = time.perf_counter() - t0
                    new.append(k)
        try:
            kids = root.children(recursive=True)
        except psutil.Error:
            kids = []
        for p in [root] + kids:
            s = _proc_sample(p.pid)
            if s is not None:  # keep the maxima: an exiting (zombie) process reports no VmHWM
                old = seen.get(p.pid, (0.0, 0, ""))
                seen[p.pid] = (max(s[0], old[0]), max(s[1], old[1]), s[2] or old[2])
        for k in new:
            marks_cpu[k] = sum(c for c, _, _ in seen.values())

    import threading

    out: dict = {}

    def pump() -> None:
        out["stdout"], out["stderr"] = proc.communicate()

    th = threading.Thread(target=pump)
    th.start()
    while th.is_alive():
        sample()
        th.join(0.2)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out['stderr'][-3000:]}")
    workers = [(h, c) for pid, (_, h, c) in seen.items() if pid != proc.pid]
    # Ray's workers are "ray::<actor>" processes; a decode pool's are plain children
    ray_workers = [h for h, c in workers if c.startswith("ray::")]
    any_workers = [h for h, c in workers if "gcs_server" not in c and "raylet" not in c]
    by_kind: dict[str, float] = {}
    for pid, (c, _, cmd) in seen.items():
        k = "driver" if pid == proc.pid else _kind(cmd)
        by_kind[k] = by_kind.get(k, 0.0) + c
    return {"wall_s": wall, "cpu_s": sum(c for c, _, _ in seen.values()), "n_procs": len(seen), "marks": marks,
            "by_kind": by_kind,
            "marks_cpu": marks_cpu, "driver_cpu": seen.get(proc.pid, (0.0, 0, ""))[0],
            "driver_rss": seen.get(proc.pid, (0, 0, ""))[1],
            "worker_rss": max(ray_workers or any_workers or [0]), "stdout": out["stdout"], "stderr": out["stderr"]}


def _kind(cmd: str) -> str:
    """What a process of the tree is, from its command line (CPU per kind: where a run's CPU goes)."""
    if "MapBatches" in cmd or "MapWorker" in cmd:
        return "stage workers"
    if "gcs_server" in cmd or "raylet" in cmd:
        return "ray core (gcs, raylet)"
    if cmd.startswith("ray::"):
        return "ray actors/agents"
    return "ray daemons (python)" if "/ray/" in cmd else "other"


# ---- the runs ------------------------------------------------------------------------------
SIZES = {  # synthetic talking heads: (width, height) of the four 10 s ones and of the long one
    "real": [(1280, 720), (1280, 720), (720, 1280), (720, 1280)], "real_long": (1280, 720),
    "small": [(384, 384), (384, 384), (640, 360), (640, 360)], "small_long": (384, 384),
}


def real_inputs(d: Path) -> Path:
    """The real talking videos and the portrait fixture, linked into ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    files = sorted(REAL_TALKING.glob("*.mp4")) + ([FIXTURE] if FIXTURE.exists() else [])
    if not files:
        sys.exit(f"no real fixtures at {REAL_TALKING}: pass --input DIR or --synthetic")
    for f in files:
        os.symlink(f, d / f.name)
    return d


def make_inputs(d: Path, long_s: float, sizes: str = "real") -> Path:
    """The real fixture plus synthetic heads. ``real`` sizes are those of the talking videos
    corpora are built from (720p landscape and portrait); ``small`` ones (384 px) decode about
    ten times cheaper than real video, so every per-frame stage weighs more against decode-only."""
    from lipforge.testing import make_talking_head

    d.mkdir(parents=True, exist_ok=True)
    for i, size in enumerate(SIZES[sizes]):
        make_talking_head(d / f"synth_{i}.mp4", seconds=10.0, seed=i, size=size)
    make_talking_head(d / "synth_long.mp4", seconds=long_s, seed=9, size=SIZES[f"{sizes}_long"])
    if FIXTURE.exists():
        os.symlink(FIXTURE, d / "real_fixture.mp4")
    else:
        print(f"(real fixture {FIXTURE} absent: synthetic inputs only)")
    return d


CURATE_CONFIG: list[str] = []  # --config FILE for the runs without their own (--curate-config)


def curate_cmd(inp: Path, out: Path, *extra: str) -> list[str]:
    if "--config" not in extra:
        extra = (*extra, *CURATE_CONFIG)
    return [sys.executable, "-m", "lipforge.cli", "curate", "--input", str(inp), "--output", str(out), *extra]


def spine_config(path: Path) -> Path:
    import yaml

    from lipforge.pipeline.stages.registry import stage_classes

    path.write_text(yaml.safe_dump({"stages": {n: {"enabled": False} for n in stage_classes()}}))
    return path


def whole_config(path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"segment": {"part_s": 0}}))
    return path


def dataflow(out: Path) -> dict:
    files = sorted((out / "work" / "dataflow").glob("*.json"))
    return json.loads(files[-1].read_text()) if files else {}


def stage_rates(out: Path) -> list[dict]:
    return json.loads((out / "summary.json").read_text())["stages"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input")
    ap.add_argument("--long-seconds", type=float, default=60.0)
    ap.add_argument("--runs", default=",".join(DEFAULT_RUNS),
                    help=f"comma list of {','.join(RUNS + FLAT)}, or all (all but flat*)")
    ap.add_argument("--synthetic", action="store_true", help="synthetic talking heads instead of the real fixtures")
    ap.add_argument("--flat-seconds", type=float, default=600.0, help="length of the flatlong source")
    ap.add_argument("--sizes", choices=("real", "small"), default="real",
                    help="synthetic heads at 720p (real) or at 384/640 px (small, the earlier default)")
    ap.add_argument("--curate-config", help="a --config YAML for the local/ray runs (e.g. stages.faces.backend: dlib)")
    ap.add_argument("--decode-child", type=int)
    a = ap.parse_args()
    if a.decode_child:
        return decode_child([str(p) for p in Path(a.input).iterdir()], a.decode_child)

    from lipforge.env import apply_offline_env

    apply_offline_env()
    env = dict(os.environ)
    if a.curate_config:
        CURATE_CONFIG[:] = ["--config", str(Path(a.curate_config).resolve())]
    runs = RUNS if a.runs == "all" else tuple(a.runs.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="lipforge-bench-"))
    if a.input:
        inp = Path(a.input)
    else:
        inp = make_inputs(tmp / "in", a.long_seconds, a.sizes) if a.synthetic else real_inputs(tmp / "in")
    files = [p for p in sorted(inp.iterdir())]
    print(f"input: {inp}: {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.1f} MB; "
          f"machine: {os.cpu_count()} CPUs (shared with other jobs: figures are indicative)")
    res: dict[str, dict] = {}
    cmds = {
        "decode1": [sys.executable, __file__, "--input", str(inp), "--decode-child", "1"],
        "decode2": [sys.executable, __file__, "--input", str(inp), "--decode-child", "2"],
        "ray": curate_cmd(inp, tmp / "ray"),
        "ray1": curate_cmd(inp, tmp / "ray1", "--num-cpus", "1"),
        "ray2": curate_cmd(inp, tmp / "ray2", "--num-cpus", "2"),
        "local": curate_cmd(inp, tmp / "local", "--runner", "local"),
        "spine": curate_cmd(inp, tmp / "spine", "--config", str(spine_config(tmp / "spine.yaml"))),
        "ray2whole": curate_cmd(inp, tmp / "ray2whole", "--num-cpus", "2", "--config", str(whole_config(tmp / "whole.yaml"))),
        "localwhole": curate_cmd(inp, tmp / "localwhole", "--runner", "local", "--config", str(tmp / "whole.yaml")),
    }
    if any(r in FLAT for r in runs):
        from lipforge.testing import make_talking_head

        for name, secs in (("flat10", 10.0), ("flatlong", a.flat_seconds)):
            make_talking_head(tmp / name / f"{name}.mp4", seconds=secs, seed=3)
            cmds[name] = curate_cmd(tmp / name, tmp / f"{name}-out")
    for name in runs:
        print(f"running {name}: {' '.join(cmds[name][1:])}", flush=True)
        out_dir = Path(cmds[name][cmds[name].index("--output") + 1]) if "--output" in cmds[name] else None
        r = run_tree(cmds[name], env, out_dir)
        if name == "decode1":
            print("\n".join(ln for ln in r["stdout"].splitlines() if ln.startswith("  decode-only")), flush=True)
        if name.startswith("decode"):
            r["video_s"] = json.loads([ln for ln in r["stdout"].splitlines() if ln.startswith("RESULT ")][-1][7:])["video_s"]
        else:
            out = Path(cmds[name][cmds[name].index("--output") + 1])
            s = json.loads((out / "summary.json").read_text())
            shard_bytes = sum(p.stat().st_size for p in (out / "shards").glob("*.tar"))
            r.update(video_s=s["sources"]["hours_in"] * 3600, kept=s["clips"]["kept"], rows=s["clips"]["rows"],
                     kept_s=s["clips"]["hours_kept"] * 3600, shard_bytes=shard_bytes,
                     flow=dataflow(out), stages=s["stages"],
                     mem_warning="Ray only requests" in r["stderr"], spilled="Spilled" in r["stderr"])
        res[name] = r
    from curate_report import report  # beside this file (the script's folder is on sys.path)

    report(res)


if __name__ == "__main__":
    main()
