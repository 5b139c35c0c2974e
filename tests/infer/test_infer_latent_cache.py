"""Per-source latent cache: one encoding per source frame across jobs, same output, invalidation."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

CROP = 32


@pytest.fixture(scope="module")
def preps(infer_media, tmp_path_factory):
    """The same source prepared for the 2.0 s audio (loops: 50 frames) and the 0.6 s one (15 frames)."""
    from lipforge.infer.prepare import prepare_job

    cache = tmp_path_factory.mktemp("latcache")
    long = prepare_job(infer_media["src"].path, infer_media["long"].path, CROP, cache_dir=cache)
    short = prepare_job(infer_media["src"].path, infer_media["short"].path, CROP, cache_dir=cache)
    return long, short


@pytest.fixture
def counter(tiny_pipeline, monkeypatch):
    """Counts the frames that go through the VAE encoder."""
    model = tiny_pipeline.model
    original = type(model).encode_video
    seen: list[int] = []

    def counted(frames):
        seen.append(int(frames.shape[0] * frames.shape[1]))
        return original(model, frames)

    monkeypatch.setattr(model, "encode_video", counted)
    return seen


def _uncached_latents(pipe, prep) -> torch.Tensor:
    """The encoding without any cache or dedup: every output frame, in order. (1, T, 4, h, w)"""
    from lipforge.infer.conditioning import masked_video, to_model_frames

    x = masked_video(to_model_frames(prep.crops), torch.from_numpy(np.asarray(prep.masks, np.float32)))
    with torch.no_grad():
        return pipe.model.encode_video(x[None]).float()


def test_two_jobs_same_video_encode_each_source_frame_once(tiny_pipeline, preps, counter, tmp_path):
    from lipforge.infer.latent_cache import frame_keys

    long, short = preps
    assert long.source_hash and long.source_hash == short.source_hash
    ref_long, ref_short = _uncached_latents(tiny_pipeline, long), _uncached_latents(tiny_pipeline, short)
    counter.clear()
    lat_long = tiny_pipeline.encode_masked(long, cache_dir=tmp_path)
    n_unique = len(np.unique(frame_keys(long.positions)))
    assert n_unique < len(long.positions) == 50  # the backward loop revisits source frames
    assert sum(counter) == n_unique == tiny_pipeline.last_encode_stats["encoded"]
    torch.testing.assert_close(lat_long, ref_long, rtol=1e-4, atol=1e-5)

    counter.clear()
    lat_short = tiny_pipeline.encode_masked(short, cache_dir=tmp_path)  # other audio, same video: all cached
    assert sum(counter) == 0 and tiny_pipeline.last_encode_stats == {"frames": 15, "encoded": 0}
    torch.testing.assert_close(lat_short, ref_short, rtol=1e-4, atol=1e-5)

    # the generated frames equal those of an uncached run (same seed)
    gen_cached = tiny_pipeline.generate(short, num_inference_steps=1, progress=False, latent_cache_dir=tmp_path)
    assert sum(counter) == 0
    gen_plain = tiny_pipeline.generate(short, num_inference_steps=1, progress=False)
    assert gen_cached.shape == gen_plain.shape == (15, CROP, CROP, 3)
    assert np.abs(gen_cached.astype(int) - gen_plain.astype(int)).max() <= 1


def test_crop_size_mask_change_and_corrupt_file_invalidate(tiny_pipeline, infer_media, preps, counter, tmp_path):
    from lipforge.infer.prepare import prepare_job

    _, short = preps
    tiny_pipeline.encode_masked(short, cache_dir=tmp_path)
    assert sum(counter) == 15
    # another crop size: another cache entry, everything encoded again (and right)
    counter.clear()
    big = prepare_job(infer_media["src"].path, infer_media["short"].path, 2 * CROP, cache_dir=tmp_path / "faces")
    lat = tiny_pipeline.encode_masked(big, cache_dir=tmp_path)
    assert sum(counter) == 15 and lat.shape == (1, 15, 4, CROP, CROP)
    torch.testing.assert_close(lat, _uncached_latents(tiny_pipeline, big), rtol=1e-4, atol=1e-5)
    assert len(list((tmp_path / "latents").iterdir())) == 2
    # a changed mask (other mask rule) on some frames: those frames miss, the others hit
    counter.clear()
    rects = short.mask_rects.copy()
    rects[3:6] = 0  # empty rectangles: all-zero masks on those frames
    changed = dataclasses.replace(short, mask_rects=rects)
    lat = tiny_pipeline.encode_masked(changed, cache_dir=tmp_path)
    assert sum(counter) == 3
    torch.testing.assert_close(lat, _uncached_latents(tiny_pipeline, changed), rtol=1e-4, atol=1e-5)
    # a corrupt file is ignored, rebuilt, then used
    blocks = sorted((tmp_path / "latents").glob(f"{short.source_hash}-{CROP}-*/block-*.npz"))
    assert len(blocks) == 1
    blocks[0].write_bytes(b"not an npz")
    counter.clear()
    lat = tiny_pipeline.encode_masked(short, cache_dir=tmp_path)
    assert sum(counter) == 15
    torch.testing.assert_close(lat, _uncached_latents(tiny_pipeline, short), rtol=1e-4, atol=1e-5)
    counter.clear()
    tiny_pipeline.encode_masked(short, cache_dir=tmp_path)
    assert sum(counter) == 0
    assert not list((tmp_path / "latents").rglob(".*tmp*"))  # no temporary files left


def test_batch_jobs_share_latents(tiny_checkpoint, infer_media, tmp_path, monkeypatch):
    """The job runner (local) encodes the shared source once and keeps the latents in its cache dir."""
    from lipforge.infer.batch import BatchConfig, run_jobs
    from lipforge.infer.latent_cache import frame_keys
    from lipforge.infer.models.lipsync import LipSyncModel
    from lipforge.infer.prepare import prepare_job

    seen: list[int] = []
    original = LipSyncModel.encode_video

    def counted(self, frames):
        seen.append(int(frames.shape[0] * frames.shape[1]))
        return original(self, frames)

    monkeypatch.setattr(LipSyncModel, "encode_video", counted)
    rows = [{"video": str(infer_media["src"].path), "audio": str(infer_media[a].path), "output": f"out/{a}.mp4"}
            for a in ("long", "short")]
    pd.DataFrame(rows).to_csv(tmp_path / "jobs.csv", index=False)
    cfg = BatchConfig(checkpoint=str(tiny_checkpoint), work_dir=str(tmp_path / "work"), runner="local",
                      num_inference_steps=1, crop_size=CROP, device="cpu")
    res = run_jobs(tmp_path / "jobs.csv", cfg, log=lambda s: None)
    assert [r["status"] for r in res] == ["done", "done"], res
    long = prepare_job(infer_media["src"].path, infer_media["long"].path, CROP, cache_dir=cfg.cache)
    assert sum(seen) == len(np.unique(frame_keys(long.positions)))  # the short job encoded nothing
    assert len(list(Path(cfg.cache, "latents").glob("*/block-*.npz"))) == 1
