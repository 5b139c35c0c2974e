"""Inference fixtures: a tiny talking head, driving audio and a tiny random-init model export."""
from __future__ import annotations

from pathlib import Path

import pytest

SIZE = (160, 160)
FACE_PX = 110
CROP = 32  # tiny model resolution: keeps a 1 s job at a few seconds on CPU


@pytest.fixture(scope="session")
def infer_media(tmp_path_factory):
    """Source video (1.2 s) and two driving audios: longer (2.0 s, loops) and shorter (0.6 s, truncates)."""
    from lipforge.testing import make_talking_head

    d = tmp_path_factory.mktemp("infer_media")
    src = make_talking_head(d / "src.mp4", seconds=1.2, size=SIZE, face_px=FACE_PX)
    long = make_talking_head(d / "long.wav", seconds=2.0, seed=1, with_video=False)
    short = make_talking_head(d / "short.wav", seconds=0.6, seed=2, with_video=False)
    return {"src": src, "long": long, "short": short, "dir": d}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """The model engineer's tiny config, random init, exported with weights, scheduler and recipe."""
    from lipforge.testing.train_data import tiny_model_export

    return tiny_model_export(tmp_path_factory.mktemp("ckpt") / "export", resolution=CROP)


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_checkpoint):
    import torch

    from lipforge.infer.pipeline import LipSyncPipeline

    torch.set_num_threads(1)
    return LipSyncPipeline.from_pretrained(tiny_checkpoint, device="cpu")
