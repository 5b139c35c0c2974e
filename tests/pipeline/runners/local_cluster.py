"""Start and stop a Ray cluster of several nodes on this machine for tests, by port.

Never ``ray stop``: it ends every Ray process on the machine, other people's too. The processes
of the cluster on ``port`` are found by the GCS address in their command lines (workers are the
children of those processes) and ended by pid; the test process and its parents are never among
them. The drivers of these clusters are ``lipforge curate`` child processes, never the pytest
process (tests/conftest.py refuses ``ray.init`` there).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time


def ray_cli() -> list[str]:
    """Ray's command line run by this interpreter: its nodes then start their workers with the
    Python (and the lipforge) this test runs, also in an overlay venv whose bin/ has no ``ray``."""
    return [sys.executable, "-m", "ray.scripts.scripts"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_env() -> dict:
    return dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")


def start_node(port: int, head: bool, num_cpus: int) -> None:
    args = ["--head", f"--port={port}", "--disable-usage-stats", "--include-dashboard=false"] if head \
        else [f"--address=127.0.0.1:{port}"]
    subprocess.run([*ray_cli(), "start", *args, f"--num-cpus={num_cpus}", "--object-store-memory=100000000"],
                   check=True, env=cluster_env(), capture_output=True, timeout=180)


def _mine(port: int):
    import psutil

    keys = (f":{port} ", f"port={port} ", f"port={port}\0")
    me = psutil.Process()
    spared = {me.pid, *(p.pid for p in me.parents())}  # never this test process or what runs it
    for p in psutil.process_iter(["cmdline", "name", "create_time"]):
        cmd = " ".join(p.info["cmdline"] or []) + " "
        if p.pid not in spared and any(k in cmd for k in keys):
            yield p


def raylets(port: int) -> list[int]:
    """Raylet pids of the cluster, oldest (the head's) first."""
    return [p.pid for p in sorted((p for p in _mine(port) if p.info["name"] == "raylet"),
                                  key=lambda p: p.info["create_time"])]


def stop_cluster(port: int) -> None:
    import psutil

    procs = list(_mine(port))
    for p in list(procs):
        try:
            procs += p.children(recursive=True)
        except psutil.Error:
            pass
    me = psutil.Process()
    spared = {me.pid, *(p.pid for p in me.parents())}
    procs = [p for p in procs if p.pid not in spared]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            try:
                p.send_signal(sig)
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=10)
        time.sleep(0.2)
