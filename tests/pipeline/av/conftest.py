"""Session fixtures for the AV checks: a synthetic talking head with a known 5-frame audio delay
and the first seconds of the real talking fixture, both as ClipItems after a face crop."""
from __future__ import annotations


import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from tests.pipeline.av.avcheck_helpers import REAL_VIDEO  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    """(crops (T,128,128,3), landmarks_crop, audio with the speech 5 frames late, SynthVideo)."""
    from lipforge.testing import make_talking_head
    from lipforge.pipeline.av.simple_crop import crop_square, landmarks_68, square_around
    from lipforge.pipeline.media import decode_audio, decode_video

    v = make_talking_head(tmp_path_factory.mktemp("av") / "d5.mp4", seconds=4.0, delay_frames=5,
                          size=(256, 256), face_px=170)
    frames, audio = decode_video(v.path), decode_audio(v.path)
    sq = square_around(v.face_box, 1.3)
    crops = np.stack([crop_square(f, sq, 128) for f in frames])
    inner = 128 / 1.3
    lm = landmarks_68(crops, ((128 - inner) / 2, (128 - inner) / 2, (128 + inner) / 2, (128 + inner) / 2))
    audio = np.pad(audio, (0, max(0, len(frames) * 640 - len(audio))))[: len(frames) * 640]
    return crops, lm, audio, v


@pytest.fixture(scope="session")
def real():
    """First 4 s of the real fixture: (crops (100,160,160,3), landmarks_crop, audio)."""
    if not REAL_VIDEO.is_file():
        pytest.skip(f"real fixture missing: {REAL_VIDEO}")
    from lipforge.pipeline.av.simple_crop import load_face_clip
    from lipforge.pipeline.media import decode_audio

    crops, lm = load_face_clip(REAL_VIDEO, size=160, max_frames=100)
    audio = decode_audio(REAL_VIDEO)[: len(crops) * 640]
    return crops, lm, audio
