"""Native settings of a curation worker process: thread pools pinned to the CPUs the worker was
given (:func:`limit_native_threads`), and freed memory kept for reuse (:func:`keep_freed_memory`).

A curation worker requests ``num_cpus`` (1 by default) and runs beside others on the same cores.
Left alone, OpenBLAS starts one thread per core for every numpy ``svd`` / ``solve`` and spins
against torch's OpenMP threads and the other workers: on 2 cores the weight-free sync measure's
one 250 x 512 SVD took 1.5-3.9 s instead of 30 ms (benchmarks/curate_throughput.py shows the
stage rates). torch is already pinned by each stage (``torch_threads``); this pins BLAS, OpenMP
and OpenCV once per worker process. None of these libraries' results depend on the thread count
for what curation calls, so the pin changes speed only.

>>> limit_native_threads(1)   # doctest: +SKIP
>>> keep_freed_memory()       # doctest: +SKIP
True
"""
from __future__ import annotations

import ctypes
import math

_done: int | None = None
_heap: bool | None = None
# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


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


def keep_freed_memory() -> bool:
    """Make glibc's malloc serve every allocation from its heap and never hand freed memory back
    to the kernel, once per process; False where the C library has no ``mallopt`` (not glibc).

    A worker allocates and frees the same large buffers clip after clip: decoded frames (2.7 MB
    each at 1280x720) and a clip's frame stack (690 MB for 10 s). By default glibc maps each
    such block fresh (``mmap``) and unmaps it when freed, so every clip page-faults its memory
    in again, and the kernel zeroes every page. With two workers faulting at once on 2 cores that cost
    grew by half (the segment stage's timer: 23 s against 16 s for one worker, 110 s of
    video). Kept in the heap, the next clip reuses pages already mapped: ``--num-cpus 2`` went
    38.8 -> 34.5 s wall and 67 -> 59 CPU-s, segment 24.8 -> 18.2 s (two alternating pairs,
    the benchmark's inputs). Peak memory is about the same (the largest clip sets it either
    way; +0-2 % measured); a worker's resident memory stays at its peak between clips."""
    global _heap
    if _heap is not None:
        return _heap
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        _heap = False
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # the trim threshold is an int here: 2 GiB of free heap above the last block in use is
    # handed back, less is kept
    _heap = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    return _heap
