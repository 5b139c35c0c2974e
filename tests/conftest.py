"""Shared test set-up: the offline environment (before any heavy import), no Ray driver in the
pytest process, and fixtures."""
from __future__ import annotations

from lipforge.env import apply_offline_env

apply_offline_env()

import importlib.abc  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

NO_RAY_HERE = ("tests run Ray in a subprocess (`python -m lipforge.cli curate ...`, see "
               "lipforge.testing.corpus.curate): Ray's core worker ends the process of its driver when the "
               "raylet or GCS goes away, and in the pytest process that ends the whole run (exit 1, no summary)")


def _refuse_ray_init(*args, **kwargs):
    raise RuntimeError(NO_RAY_HERE)


def _guard(ray) -> None:
    ray.init = _refuse_ray_init  # Ray Data's auto-init calls ray.init too


class _GuardRayOnImport(importlib.abc.MetaPathFinder):
    """Patch ``ray.init`` as soon as ``ray`` is imported in this process (tests import it lazily)."""

    def find_spec(self, name, path=None, target=None):
        if name != "ray":
            return None
        sys.meta_path.remove(self)  # once: find the real spec, then step aside
        spec = importlib.util.find_spec("ray")
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                _guard(module)

            spec.loader.exec_module = exec_module
        return spec


if "ray" in sys.modules:
    _guard(sys.modules["ray"])
else:
    sys.meta_path.insert(0, _GuardRayOnImport())

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.exists():
        pytest.skip(f"real fixtures not found at {FIXTURES} (../shared/fixtures beside the repo)")
    return FIXTURES


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth")


@pytest.fixture(scope="session")
def talking_video(synth_dir):
    """A 4 s synthetic talking head (astronaut photo, espeak-ng speech), made once per session."""
    from lipforge.testing import make_talking_head

    return make_talking_head(synth_dir / "talking.mp4", seconds=4.0)
