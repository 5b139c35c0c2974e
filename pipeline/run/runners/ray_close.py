"""Stop an in-process Ray while the driver goes on with work that needs no Ray.

``ray.shutdown()`` of an in-process Ray spends about 1.5 s of wall time on this machine, almost
all of it waiting: it asks raylet, gcs_server, the agents and the idle workers to exit and waits
for them. Once the run's last row has reached the driver every shard and work file is written (a
worker yields a row only after ``WorkStore.write_group``), so publishing the generation
(``lipforge.pipeline.run.finalize``) reads nothing Ray still holds and can run meanwhile.

Safety: only a successful run closes this way (a failing run shuts Ray down before its error
propagates, as before); the caller always joins (:meth:`RayCloser.wait`) before it releases the
output lock, and the thread is not a daemon, so the interpreter never exits with Ray half
stopped. Nothing here starts anything or opens a port.

>>> closer = RayCloser.start(ray)   # doctest: +SKIP
>>> finalize(...); closer.wait()     # doctest: +SKIP
"""
from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class RayCloser:
    """``ray.shutdown()`` on a thread of its own; :meth:`wait` joins it and re-raises its error."""

    def __init__(self, ray) -> None:
        self._ray = ray
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._close, name="lipforge-ray-shutdown", daemon=False)

    @classmethod
    def start(cls, ray) -> "RayCloser":
        closer = cls(ray)
        closer._thread.start()
        return closer

    def _close(self) -> None:
        try:
            self._ray.shutdown()
        except BaseException as e:  # reported by wait(), in the caller's thread
            self._error = e

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            err, self._error = self._error, None
            raise err
