"""Synthetic videos that the dataset-adapter tests copy under each dataset's download names."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def clip(tmp_path_factory):
    """A 4 s, 128 x 96 synthetic talking head (what each dataset video is copied from)."""
    from lipforge.testing import make_talking_head

    return make_talking_head(tmp_path_factory.mktemp("src") / "t.mp4", seconds=4.0, size=(128, 96), face_px=70).path


@pytest.fixture(scope="package")
def clip_large(tmp_path_factory):
    """The same scene downloaded at twice the size (256 x 192), for boxes that must not change."""
    from lipforge.testing import make_talking_head

    return make_talking_head(tmp_path_factory.mktemp("src2") / "t.mp4", seconds=1.0, size=(256, 192), face_px=140).path
