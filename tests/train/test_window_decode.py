"""A training window decodes only its frames (from the keyframe before it) and still holds exactly
the frames, masks and reference a decode of the whole clip gives, for new shards (a keyframe every
video_keyint frames) and for shards written as one GOP."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.manifests.layout import decode_sample
from lipforge.pipeline.media import decode_video
from lipforge.testing.train_data import synthetic_clip
from lipforge.train.data import collate, make_window, prep_frame, sample_rng, unit_pixels


@pytest.mark.parametrize("keyint", [4, 0])  # 0: one GOP, no json video_keyint (shards before it)
@pytest.mark.parametrize("seed", range(6))
def test_window_equals_the_frames_of_a_full_decode(keyint, seed):
    s = decode_sample(synthetic_clip("k-00000000-00", n_frames=22, seed=1, keyint=keyint))
    assert ("video_keyint" in s["json"]) == bool(keyint)
    w = make_window(s, num_frames=8, resolution=32, audio_k=2, rng=sample_rng(seed, 0, "k"), min_ref_distance=2)
    full = decode_video(s["mp4"])  # (22, 32, 32, 3)
    start, ref = w["start"], w["ref_index"]
    assert 0 <= start <= 22 - 8 and not start - 2 <= ref < start + 8 + 2
    assert w["frames"].dtype == w["masks"].dtype == w["ref"].dtype == np.uint8  # the worker's wire format
    b = unit_pixels(collate([w]))  # what the trainer gets: float32, bit for bit prep_frame
    expect = np.stack([prep_frame(full[i], 32) for i in range(start, start + 8)])
    assert np.array_equal(b["frames"][0].numpy(), expect)
    assert np.array_equal(b["ref"][0, :3].numpy(), prep_frame(full[ref], 32))
    assert set(np.unique(b["masks"].numpy())) == {0.0, 1.0} and np.array_equal(b["masks"][0].numpy(), w["masks"])
    assert np.array_equal(b["ref"][0, 3].numpy(), w["ref"][3]) and b["ref"][0, 3].max() == 1.0


def test_a_clip_shorter_than_the_window_repeats_its_last_frame():
    s = decode_sample(synthetic_clip("k-00000000-00", n_frames=5, seed=2, keyint=4))
    w = make_window(s, num_frames=8, resolution=32, audio_k=1, rng=sample_rng(0, 0, "k"))
    full = decode_video(s["mp4"])
    expect = np.stack([prep_frame(full[min(i, 4)], 32) for i in range(8)])
    assert w["start"] == 0 and np.array_equal(unit_pixels(collate([w]))["frames"][0].numpy(), expect)


def test_the_loader_hands_the_trainer_float_pixels(tmp_path):
    """Workers send uint8; every batch the ShardLoader yields has float32 frames in [-1, 1]."""
    import torch

    from lipforge.testing.train_data import write_shard
    from lipforge.train.loader import ShardLoader, WindowSpec

    shards = [str(write_shard(tmp_path / f"s{i}.tar", [synthetic_clip(f"s{i}-00000000-00", seed=i)])) for i in range(2)]
    spec = WindowSpec(num_frames=4, resolution=32, audio_k=1)
    for workers in (0, 1):
        it = iter(ShardLoader(shards, 0, 1, batch_size=1, num_workers=workers, seed=0, spec=spec))
        b = next(it)
        assert b["frames"].dtype == b["masks"].dtype == b["ref"].dtype == torch.float32
        assert b["frames"].shape == (1, 4, 3, 32, 32) and b["ref"].shape == (1, 4, 32, 32)
        assert -1.0 <= float(b["frames"].min()) < float(b["frames"].max()) <= 1.0
        del it
