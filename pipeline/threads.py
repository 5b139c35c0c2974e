"""Native thread pools of a curation worker, pinned to the CPUs the worker was given.

A curation worker requests ``num_cpus`` (1 by default) and runs beside others on the same cores.
Left alone, OpenBLAS starts one thread per core for every numpy ``svd`` / ``solve`` and spins
against torch's OpenMP threads and the other workers: on 2 cores the weight-free sync measure's
one 250 x 512 SVD took 1.5-3.9 s instead of 30 ms (benchmarks/curate_throughput.py shows the
stage rates). torch is already pinned by each stage (``torch_threads``); this pins BLAS, OpenMP
and OpenCV once per worker process. None of these libraries' results depend on the thread count
for what curation calls, so the pin changes speed only.

>>> limit_native_threads(1)   # doctest: +SKIP
"""
from __future__ import annotations

import math

_done: int | None = None


def limit_native_threads(num_cpus: float) -> int:
    """Pin BLAS / OpenMP (threadpoolctl) and OpenCV to ``ceil(num_cpus)`` threads (at least 1),
    once per process; returns the thread count."""
    global _done
    n = max(1, int(math.ceil(num_cpus)))
    if _done == n:
        return n
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:  # pragma: no cover - a pinned dependency
        pass
    _done = n
    return n
