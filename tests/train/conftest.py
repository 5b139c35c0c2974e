"""Tiny synthetic shards in the real layout; the factories live in lipforge.testing.train_data."""
from __future__ import annotations

import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.testing.train_data import synthetic_clip, write_shard  # noqa: E402


@pytest.fixture(scope="session")
def shards(tmp_path_factory) -> list[str]:
    """4 shards x 2 clips (12 frames, 32 px), keys src{shard}-{clip}."""
    d = tmp_path_factory.mktemp("shards")
    out = []
    for s in range(4):
        clips = [synthetic_clip(f"src{s}-{c:08d}-00", seed=s * 3 + c) for c in range(2)]
        out.append(str(write_shard(d / f"shard-{s:05d}.tar", clips)))
    return out
