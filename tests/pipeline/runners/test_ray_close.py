"""RayCloser: ray.shutdown on a thread, joined (and its error re-raised) by wait()."""
import threading

import pytest

from lipforge.pipeline.run.runners.ray_close import RayCloser


class _FakeRay:
    def __init__(self, fail: bool = False) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.fail = fail

    def shutdown(self) -> None:
        self.release.wait(5)
        self.calls += 1
        if self.fail:
            raise RuntimeError("raylet would not stop")


def test_wait_joins_the_shutdown():
    ray = _FakeRay()
    closer = RayCloser.start(ray)
    assert ray.calls == 0  # the caller goes on while Ray stops
    ray.release.set()
    closer.wait()
    assert ray.calls == 1
    closer.wait()  # a second wait is a no-op
    assert ray.calls == 1


def test_shutdown_error_reaches_the_caller():
    ray = _FakeRay(fail=True)
    ray.release.set()
    closer = RayCloser.start(ray)
    with pytest.raises(RuntimeError, match="would not stop"):
        closer.wait()
