"""One Whisper feature path: a clip's window gets the same audio tokens in training (on the fly and
cached) as in inference's conditioning of a job made of that clip."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lipforge.infer.models import LipSyncModel, LipSyncModelConfig
from lipforge.infer.pipeline import LipSyncPipeline
from lipforge.infer.video import Segment
from lipforge.manifests.layout import decode_sample
from lipforge.testing.train_data import synthetic_clip
from lipforge.train.cache import cache_fields
from lipforge.train.data import collate, make_window
from lipforge.train.objective import window_audio

T, K = 4, 1


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LipSyncModel.from_config(LipSyncModelConfig.tiny()).eval()  # Whisper chunk: 1 s = 25 frames


@pytest.fixture(scope="module")
def clip():
    """70 frames (2.8 s): windows inside a chunk, across a chunk boundary and at both clip ends."""
    return decode_sample(synthetic_clip("src0-00000000-00", n_frames=70, seed=1))


class _Start:
    """An rng stand-in whose first draw (make_window's window start) is ``s``."""

    def __init__(self, s: int) -> None:
        self.s, self.rest = s, np.random.default_rng(0)

    def integers(self, *a, **kw):
        s, self.s = self.s, None
        return s if s is not None else self.rest.integers(*a, **kw)

    def choice(self, *a, **kw):
        return self.rest.choice(*a, **kw)


def _window(clip, s, model, cached=False):
    return make_window(clip, T, 32, K, _Start(s), use_cached_audio=cached, audio_chunk=model.audio_chunk_samples)


def _inference_tokens(model, clip, starts):
    from lipforge.pipeline.media import decode_wav

    wav, _ = decode_wav(clip["wav"])
    n = int(clip["json"]["n_frames"])
    prep = SimpleNamespace(audio=wav, n_audio=len(wav), shots=np.zeros(n, int),
                           references=[np.zeros((32, 32, 3), np.uint8)], mask_rects=clip["mask_adaptive.npy"])
    conds = LipSyncPipeline(model).segment_conditions(prep, [Segment(s, s + T) for s in starts])
    return torch.cat([conds[i][0] for i in range(len(starts))])  # (S, T, W, C)


STARTS = [0, 10, 23, 24, 25, 48, 66]  # 23-25: the window's audio crosses the 1 s chunk boundary


@torch.no_grad()
def test_training_window_tokens_equal_inference_tokens(model, clip):
    train = window_audio(model, collate([_window(clip, s, model) for s in STARTS]))  # (S, T, W, C)
    infer = _inference_tokens(model, clip, STARTS)
    assert train.shape == infer.shape == (len(STARTS), T, (2 * K + 1) * 2, 32)
    torch.testing.assert_close(train, infer, atol=1e-5, rtol=1e-5)  # float kernels only
    assert train.abs().sum() > 0


@torch.no_grad()
def test_cached_features_equal_on_the_fly(model, clip):
    cached = dict(clip, **cache_fields(model, clip, latents=False))
    fly = window_audio(model, collate([_window(clip, s, model) for s in STARTS]))
    cache = window_audio(model, collate([_window(cached, s, model, cached=True) for s in STARTS]))
    # whisper.npy is float16 on disk (manifests.layout): equal up to that rounding
    torch.testing.assert_close(cache, fly, atol=2e-3, rtol=1e-3)


@torch.no_grad()
def test_window_only_encoding_differs(model, clip):
    """What the trainer did before: Whisper on the window's audio alone, zero-padded to a chunk.
    The tokens differ from inference's, so the test above can fail."""
    s = 30
    w = _window(clip, s, model)
    lo = int(w["audio_offset"]) * 640  # audio frame s - k inside the shipped chunks
    alone = np.zeros_like(w["audio"])
    alone[:(T + 2 * K) * 640] = w["audio"][lo:lo + (T + 2 * K) * 640]
    feats = model.audio_features(alone)[:, :(T + 2 * K) * 2]
    old = model.audio_windows(feats, torch.as_tensor(w["audio_centers"])[None], torch.tensor([w["audio_valid"]]))
    new = _inference_tokens(model, clip, [s])
    diff = (old - new).abs().max()
    assert diff > 1e-3, diff
