"""Shared test set-up: the offline environment (before any heavy import) and fixtures."""
from __future__ import annotations

from lipforge.env import apply_offline_env

apply_offline_env()

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

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
