"""Curation workers pin BLAS / OpenMP / OpenCV to their CPUs (lipforge.pipeline.run.threads)."""
from __future__ import annotations

import subprocess
import sys

CHILD = """
import json, cv2, numpy
from threadpoolctl import threadpool_info
from lipforge.pipeline.run.threads import limit_native_threads
before = max(p["num_threads"] for p in threadpool_info())
n = limit_native_threads(0.5)
print(json.dumps({"n": n, "before": before, "after": [p["num_threads"] for p in threadpool_info()],
                  "cv2": cv2.getNumThreads()}))
"""


def test_limit_native_threads_pins_every_pool(tmp_path):
    env = {"OPENBLAS_NUM_THREADS": "", "OMP_NUM_THREADS": ""}  # no inherited pin: the call must do it
    import json
    import os

    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={**{k: v for k, v in os.environ.items() if k not in env}})
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["n"] == 1  # half a CPU still gets one thread
    assert r["after"] and all(t == 1 for t in r["after"])
    assert r["cv2"] == 1


HEAP_CHILD = """
import json, resource, sys
import numpy as np
from lipforge.pipeline.run.threads import keep_freed_memory
ok = keep_freed_memory() if sys.argv[1] == "keep" else None
def faults_of_one_clip():
    a = np.ones((250, 360, 640, 3), np.uint8)  # a 10 s clip at 640 px: 173 MB, touched
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    del a
    b = np.ones((250, 360, 640, 3), np.uint8)  # the next clip's buffer, as large
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
print(json.dumps({"ok": ok, "faults": faults_of_one_clip()}))
"""


def test_keep_freed_memory_reuses_the_heap_for_the_next_clip():
    """A freed clip buffer is reused by the next one (no page faults), where by default glibc
    unmaps it and the next one faults every page in again."""
    import json

    def child(mode: str) -> dict:
        out = subprocess.run([sys.executable, "-c", HEAP_CHILD, mode], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    kept, default = child("keep"), child("default")
    assert kept["ok"] is True
    assert default["faults"] > 20  # the default maps fresh pages (at least one per 2 MB huge page)
    assert kept["faults"] < default["faults"] / 10
