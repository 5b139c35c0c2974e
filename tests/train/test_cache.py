"""Per-clip VAE latent / Whisper caches: written through the layout, used instead of the encoders."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from lipforge.testing.train_data import tiny_train_config

from lipforge.infer.models import LipSyncModel
from lipforge.infer.scheduler import EDMScheduler
from lipforge.manifests.layout import decode_sample
from lipforge.train.cache import main as cache_main
from lipforge.manifests.container import iter_tar_samples
from lipforge.train.loader import ShardLoader, seed_everything
from lipforge.train.loop import train, window_spec
from lipforge.train.objective import compute_loss, step_generator


def _cfg(tmp, shards, **data):
    return tiny_train_config(tmp, shards, max_steps=3, ckpt_every=100, data={"batch_size": 2, **data},
                             optim={"lr": 1e-3})


@pytest.fixture(scope="module")
def cached(shards, tmp_path_factory):
    """The session shards with latents.npy + whisper.npy, from an export of the model train builds."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("cache")
    cfg = _cfg(d / "run", shards)
    seed_everything(cfg.seed)  # as lipforge.train.loop: the export's VAE / Whisper are the training run's
    LipSyncModel.from_config(cfg.model).save_pretrained(d / "export")
    assert cache_main(["--shards", *shards, "--model-dir", str(d / "export"), "--out", str(d / "out")]) == 0
    return [str(d / "out" / s.rsplit("/", 1)[1]) for s in shards], d / "export"


def test_cached_shards_keep_every_field_and_add_the_caches(shards, cached):
    out, _ = cached
    for src, dst in zip(shards, out):
        a = [decode_sample(r) for r in iter_tar_samples(src)]
        b = [decode_sample(r) for r in iter_tar_samples(dst)]
        assert [s["__key__"] for s in a] == [s["__key__"] for s in b]
        for x, y in zip(a, b):
            assert x["mp4"] == y["mp4"] and x["wav"] == y["wav"] and x["json"] == y["json"]
            assert np.array_equal(x["mask_adaptive.npy"], y["mask_adaptive.npy"])
            assert y["latents.npy"].dtype == np.float16 and y["latents.npy"].shape == (12, 4, 16, 16)
            assert y["whisper.npy"].dtype == np.float16 and y["whisper.npy"].shape == (24, 32)


def test_config_builds_the_same_encoders_as_training(shards, cached, tmp_path):
    from lipforge.train.cache import load_encoders

    cfg = _cfg(tmp_path, shards)
    cfg.to_yaml(tmp_path / "train.yaml")
    a, b = load_encoders(None, str(tmp_path / "train.yaml")), LipSyncModel.from_pretrained(cached[1])
    for name in ("vae", "whisper"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    with pytest.raises(ValueError, match="exactly one"):
        load_encoders(None, None)


def _batch(shards, cfg):
    ld = ShardLoader(shards, 0, 1, cfg.data.batch_size, 0, cfg.seed, window_spec(cfg))
    return next(iter(ld))


def test_loss_with_cached_latents_equals_on_the_fly(shards, cached, tmp_path):
    out, export = cached
    torch.set_num_threads(1)
    fly_cfg = _cfg(tmp_path / "fly", shards)
    cache_cfg = _cfg(tmp_path / "cached", out, use_cached_latents=True)
    model = LipSyncModel.from_pretrained(export)
    b_fly, b_cache = _batch(shards, fly_cfg), _batch(out, cache_cfg)
    assert b_fly["keys"] == b_cache["keys"] and "latents" in b_cache and "latents" not in b_fly
    sched = EDMScheduler(fly_cfg.loss.scheduler)

    def loss(batch):
        return compute_loss(model, model, batch, sched, step_generator(0, 0, 0), 0.05, 0.15)[0].item()

    assert loss(b_cache) == pytest.approx(loss(b_fly), rel=1e-4)  # float16 cache: ~1e-6 apart in practice
    b_cache["latents"] = torch.zeros_like(b_cache["latents"])
    assert loss(b_cache) != pytest.approx(loss(b_fly), rel=1e-4)  # the cached latents really are the target

    hist_fly, hist_cache = train(fly_cfg), train(cache_cfg)  # same seed and steps, end to end
    assert [h["keys"] for h in hist_fly] == [h["keys"] for h in hist_cache]
    np.testing.assert_allclose([h["loss"] for h in hist_cache], [h["loss"] for h in hist_fly], rtol=1e-4)


def test_cached_whisper_features_replace_the_encoder(shards, cached, monkeypatch):
    out, export = cached
    cfg = _cfg("unused", out, use_cached_audio=True)
    model = LipSyncModel.from_pretrained(export)
    b = _batch(out, cfg)
    k, fpf = cfg.model.audio_context_k, cfg.model.audio_features_per_frame
    assert b["whisper"].shape == (2, (cfg.model.num_frames + 2 * k) * fpf, 32)
    # rows = the clip's features for audio frames [a, b), zero after
    raw = {s["__key__"]: s for sh in out for s in map(decode_sample, iter_tar_samples(sh))}
    for i, key in enumerate(b["keys"]):
        a = max(0, int(b["start"][i]) - k)
        n = int(b["audio_valid"][i]) * fpf
        want = raw[key]["whisper.npy"][a * fpf:a * fpf + n].astype(np.float32)
        assert n > 0 and np.array_equal(b["whisper"][i, :n].numpy(), want)
        assert not b["whisper"][i, n:].any()

    def no_whisper(*a, **kw):
        raise AssertionError("Whisper ran although cached features were given")

    monkeypatch.setattr(model, "audio_features", no_whisper)
    loss, _ = compute_loss(model, model, b, EDMScheduler(cfg.loss.scheduler), step_generator(0, 0, 0), 0.05, 0.15)
    assert torch.isfinite(loss)
