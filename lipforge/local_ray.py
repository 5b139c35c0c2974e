"""One home for starting Ray: a private loopback-only Ray ("local"), or joining a cluster.

Curation's Ray runner, batch inference and the training launcher all start Ray here. A private
Ray (``address`` "local" or None) uses Ray's single-node mode, the one it uses on macOS/Windows:
Ray takes 127.0.0.1 as the node address, so every gRPC server, the object manager and the workers
bind to loopback and nothing of it is reachable from the network (the tests that list the run's
listening sockets check it). The switch (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) is read by the
processes ``ray.init`` starts, so it is set only while they start: left set, it would make a
later multi-node cluster started from this process single-node too.

:class:`RayStart` does the same start on a thread, so a driver imports and plans while Ray's
processes come up (``lipforge curate``: Ray's fixed start-up off the critical path). That thread
lives until :meth:`RayStart.release`: Ray starts its processes with ``PR_SET_PDEATHSIG``, which
kills them when the *thread* that started them ends, not the process.

>>> started = start_ray("local", num_cpus=2)   # doctest: +SKIP
>>> pending = RayStart.begin("local"); ...; started = pending.wait()   # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def is_local(address: str | None) -> bool:
    """True for a private in-process Ray (None or "local"), False for a cluster to join."""
    return address in (None, "local")


def start_ray(address: str | None = "local", *, num_cpus: int | None = None, include_dashboard: bool = False,
              log_to_driver: bool = True, **kw: Any) -> bool:
    """Start a private loopback-only Ray (``address`` None or "local"; ``num_cpus`` its CPUs) or
    join ``address`` ("auto", "ray://HOST:10001", HOST:PORT). True when this call initialised Ray
    (the caller shuts it down); False when the process was already connected.

    "local" always starts a private Ray: ``ray.init(address=None)`` would silently join a cluster
    already running on this machine (``ray start``)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before import: no cloud metadata probe
    local = is_local(address)
    if local:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private runtime has no token to check
    restore = os.environ.get(LOOPBACK_ENV)
    if local:
        os.environ[LOOPBACK_ENV] = "0"
    try:
        import ray

        if ray.is_initialized():
            return False
        kw["log_to_driver"] = log_to_driver
        if local:  # a cluster's dashboard and size are not the joining driver's to set
            kw["include_dashboard"] = include_dashboard
            import ray._private.ray_constants as rc

            rc.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the variable was set
            kw["num_cpus"] = num_cpus
        ray.init(address="local" if local else address, **kw)
        return True
    finally:
        if local:
            if restore is None:
                os.environ.pop(LOOPBACK_ENV, None)
            else:
                os.environ[LOOPBACK_ENV] = restore


class _NoThreadWarning(logging.Filter):
    """Drops ray.init's "SIGTERM handler is not set" warning: :meth:`RayStart.begin` sets it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


def _sigterm_exits(signum, frame) -> None:  # the handler ray.init sets when it runs on the main thread
    sys.exit(signum)


class RayStart:
    """:func:`start_ray` on a thread of its own. :meth:`wait` waits for the start and returns its
    result or re-raises its error; ``seconds`` is how long the start took (``waited_s``: how long
    :meth:`wait` blocked, the part left on the caller's critical path). The thread then stays
    (Ray's processes die with it) until :meth:`release`, called after ``ray.shutdown()``."""

    def __init__(self, address: str | None, kw: dict[str, Any]) -> None:
        self.address, self._kw = address, kw
        self._result: bool | None = None
        self._error: BaseException | None = None
        self.seconds = self.waited_s = 0.0
        self._started, self._released = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._start, name="lipforge-ray-start", daemon=True)

    @classmethod
    def begin(cls, address: str | None = "local", **kw: Any) -> RayStart:
        """Start Ray in the background (same arguments as :func:`start_ray`)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _sigterm_exits)  # as ray.init does on the main thread
        start = cls(address, kw)
        start._thread.start()
        return start

    def _start(self) -> None:
        t0 = time.perf_counter()
        try:
            logging.getLogger("ray._private.worker").addFilter(_NoThreadWarning())
            self._result = start_ray(self.address, **self._kw)
        except BaseException as e:  # noqa: BLE001 - re-raised by wait(), in the caller's thread
            self._error = e
        finally:
            self.seconds = time.perf_counter() - t0
            self._started.set()
        if self._error is None:
            self._released.wait()  # Ray's processes have this thread as their parent: keep it

    def release(self) -> None:
        """Let the thread end (after ``ray.shutdown()``; before it, Ray's processes would die)."""
        self._released.set()

    def done(self) -> bool:
        return self._started.is_set()

    def wait(self) -> bool:
        t0 = time.perf_counter()
        self._started.wait()
        self.waited_s += time.perf_counter() - t0
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        return bool(self._result)
