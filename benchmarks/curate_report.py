"""The tables ``benchmarks/curate_throughput.py`` prints from its runs' figures (see its docstring)."""
from __future__ import annotations


def report(res: dict[str, dict]) -> None:
    d1, d2 = res.get("decode1"), res.get("decode2")
    print()
    print(f"{'run':8s} {'wall s':>7s} {'CPU s':>7s} {'vs/wall-s':>9s} {'x dec2':>7s} {'vs/CPU-s':>9s} {'x dec1':>7s} "
          f"{'driver MB':>9s} {'worker MB':>9s} {'B/video-s':>10s}  notes")
    for name, r in res.items():
        vw, vc = r["video_s"] / r["wall_s"], r["video_s"] / max(r["cpu_s"], 1e-9)
        xw = f"{vw / (d2['video_s'] / d2['wall_s']):.3f}" if d2 else "-"
        xc = f"{vc / (d1['video_s'] / d1['cpu_s']):.3f}" if d1 else "-"
        flow = r.get("flow") or {}
        bps = flow.get("bytes_per_video_s")
        notes = []
        if "kept" in r:
            notes.append(f"{r['kept']}/{r['rows']} clips kept")
        if flow:
            notes.append("operators: " + " | ".join(f"{o['name']} x{o['actors']} ({o['memory'] / 2**30:.1f} GiB)"
                                                    for o in flow["operators"]))
        if r.get("mem_warning"):
            notes.append("Ray memory warning")
        if r.get("spilled"):
            notes.append("object store spilled")
        print(f"{name:8s} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} {vw:9.2f} {xw:>7s} {vc:9.2f} {xc:>7s} "
              f"{r['driver_rss'] / 2**20:9.0f} {r['worker_rss'] / 2**20:9.0f} "
              f"{bps if bps is not None else '-':>10}  {'; '.join(notes)}")
    print(f"video: {next(iter(res.values()))['video_s']:.1f} s per run")
    if "ray1" in res and "ray2" in res:
        print(f"--num-cpus 2 / --num-cpus 1 wall throughput: {res['ray1']['wall_s'] / res['ray2']['wall_s']:.2f}x")
    if "ray1" in res and "local" in res:
        print(f"--num-cpus 1 wall / local wall: {res['ray1']['wall_s'] / res['local']['wall_s']:.2f}")
    if "ray2whole" in res and "ray2" in res:
        print(f"--num-cpus 2, long sources in parts / undivided, wall: {res['ray2']['wall_s'] / res['ray2whole']['wall_s']:.2f}")
    if "localwhole" in res and "local" in res:
        print(f"--runner local, long sources in parts / undivided, CPU-s: {res['local']['cpu_s'] / res['localwhole']['cpu_s']:.2f}")
    for name, r in res.items():
        if r.get("kept_s"):
            print(f"{name}: {r['kept_s']:.1f} s kept of {r['video_s']:.1f} s; shards {r['shard_bytes'] / 1e6:.1f} MB = "
                  f"{r['shard_bytes'] / 1e9 / (r['kept_s'] / 3600):.2f} GB per kept hour")
    dec = d1["cpu_s"] / d1["video_s"] if d1 else None  # decode-only CPU-s per video-s
    if dec:
        print(f"decode-only (1 process): {dec:.4f} CPU-s per video-s")
    for name, r in res.items():
        if r.get("stages") and dec:
            run = r["cpu_s"] / r["video_s"]
            print(f"  {name:10s} whole run {run:.4f} CPU-s per video-s (driver and every worker) = "
                  f"{run / dec:.2f}x decode-only's cost, {dec / run:.3f}x its throughput")
    ref = res.get("local") or res.get("ray1") or res.get("ray")
    if ref and ref.get("stages"):
        print("per stage (the stage's CPU-s per video-second of the run's input; x decode-only's; wall timer):")
        for s in ref["stages"]:
            cpu = s.get("cpu_seconds", 0.0) / ref["video_s"]
            x = f"{cpu / dec:6.2f}x" if dec else "-"
            print(f"  {s['stage']:10s} {cpu:.4f} CPU-s/video-s {x}  wall {s['seconds'] / ref['video_s']:.4f} s/video-s  "
                  f"({s['items_in']} clips, {s['video_seconds']:.1f} video-s in, {s['kept_seconds']:.1f} kept)")
    phases(res, dec)
    for dn in ("decode1", "decode2"):
        if dn in res:
            dw = res[dn]["video_s"] / res[dn]["wall_s"]
            for name in ("local", "ray1", "ray2", "ray"):
                if name in res:
                    print(f"  wall throughput {name} / {dn}: {res[name]['video_s'] / res[name]['wall_s'] / dw:.3f}")


def phases(res: dict[str, dict], dec: float | None) -> None:
    """Where each run's wall time and CPU went: start-up, first source, the sources, finalize;
    the stages' own CPU against the whole run's; Ray's fixed start-up from the driver's marks."""
    print("phases, wall s / CPU-s of the whole tree: start-up = launch -> corpus.json (imports, config, plan); "
          "first = -> first source done; sources = -> last source done; finalize = -> process end")
    for name, r in res.items():
        m, mc = r.get("marks") or {}, r.get("marks_cpu") or {}
        end = "dataflow" if "dataflow" in m else "stats"
        if "corpus" in m and end in m:
            first = m.get("first_done", m[end])
            fc = mc.get("first_done", mc[end])
            print(f"  {name:10s} start-up {m['corpus']:5.1f} / {mc['corpus']:5.1f}  first {first - m['corpus']:5.1f} / "
                  f"{fc - mc['corpus']:5.1f}  sources {m[end] - first:6.1f} / {mc[end] - fc:6.1f}  "
                  f"finalize {r['wall_s'] - m[end]:5.1f} / {r['cpu_s'] - mc[end]:5.1f}  "
                  f"(wall {r['wall_s']:.1f}, CPU {r['cpu_s']:.1f}, driver CPU {r['driver_cpu']:.1f})")
    print("CPU outside the stages' timers (imports, Ray, model loads, writing shards, finalize), per video-s:")
    for name, r in res.items():
        if r.get("stages"):
            staged = sum(st.get("cpu_seconds", 0.0) for st in r["stages"])
            rest = r["cpu_s"] - staged
            x = f" = {rest / r['video_s'] / dec:.2f}x decode-only" if dec else ""
            print(f"  {name:10s} stages {staged:7.1f} CPU-s, outside them {rest:7.1f} CPU-s "
                  f"({rest / r['video_s']:.4f} CPU-s/video-s{x})")
    print("CPU-s by process kind (the whole tree):")
    for name, r in res.items():
        if r.get("stages") and r.get("by_kind"):
            print(f"  {name:10s} " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["by_kind"].items(), key=lambda kv: -kv[1])))
    print("Ray's fixed start-up (driver's clock, s since launch): ray up = ray.init returned (start: its own "
          "seconds, waited: what the driver waited for it); first part = a worker began decoding")
    for name, r in res.items():
        st = (r.get("flow") or {}).get("startup_s")
        if st:
            f = {k: (f"{v:5.2f}" if isinstance(v, (int, float)) else "    -") for k, v in st.items()}
            print(f"  {name:10s} ray up {f.get('ray_ready_s', '-')}  (start {f.get('ray_start_s', '-')}, waited "
                  f"{f.get('ray_start_waited_s', '-')})  planned {f.get('planned_s', '-')}  first part "
                  f"{f.get('first_part_began_s', '-')}  first row {f.get('first_row_s', '-')}")

