"""Curation workers pin BLAS / OpenMP / OpenCV to their CPUs (lipforge.pipeline.threads)."""
from __future__ import annotations

import subprocess
import sys

CHILD = """
import json, cv2, numpy
from threadpoolctl import threadpool_info
from lipforge.pipeline.threads import limit_native_threads
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
