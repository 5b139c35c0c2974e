"""Training from a corpus's manifests: SQL selection over clips.parquet, samples located by
shards.parquet (no tar scan), only the selected samples read."""
from __future__ import annotations

import pytest
import torch

from lipforge.testing.train_data import tiny_corpus, tiny_train_config
from lipforge.train.config import DataConfig
from lipforge.train.loader import ShardLoader, WindowSpec

SPEC = WindowSpec(num_frames=4, resolution=32, audio_k=1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tiny_corpus(tmp_path_factory.mktemp("corpus"), n_shards=2, per_shard=4,
                       crop={"crop_size": 256, "margin": 0.3, "smooth_window": 5})


def _epoch_keys(data: DataConfig) -> list[str]:
    ld = ShardLoader.from_config(data, 0, 1, seed=0, spec=SPEC)
    it = iter(ld)
    return [k for _ in range(ld.batches_per_epoch()) for k in next(it)["keys"]]


def test_where_selects_exactly_the_matching_kept_clips_and_reads_only_them(corpus, monkeypatch):
    import lipforge.train.loader as loader

    def no_scan(*a, **k):
        raise AssertionError("a corpus is located by shards.parquet: no tar header scan, no streaming")

    monkeypatch.setattr(loader, "count_samples", no_scan)
    monkeypatch.setattr(loader, "iter_tar_indexed", no_scan)
    read = []
    real = loader.read_sample_at
    monkeypatch.setattr(loader, "read_sample_at", lambda url, off, size: read.append(off) or real(url, off, size))
    keys = _epoch_keys(DataConfig(corpus=str(corpus), where="sync_conf >= 3 and iqa_score >= 0.5"))
    # clip i: sync_conf = i, iqa = (i % 4) / 4 -> i in {3, 6, 7}; the dropped clip (sync 99) never
    assert sorted(keys) == ["c003-00000000-00", "c006-00000000-00", "c007-00000000-00"]
    assert len(read) == 3  # the other five samples' bytes were never read
    all_kept = _epoch_keys(DataConfig(corpus=str(corpus)))
    assert sorted(all_kept) == [f"c{i:03d}-00000000-00" for i in range(8)]


def test_bad_where_and_empty_selection_are_named(corpus):
    with pytest.raises(ValueError, match="no_such_score"):
        ShardLoader.from_config(DataConfig(corpus=str(corpus), where="no_such_score > 1"), 0, 1, 0, SPEC)
    with pytest.raises(ValueError, match="selects none of the 8 kept clips"):
        ShardLoader.from_config(DataConfig(corpus=str(corpus), where="sync_conf > 50"), 0, 1, 0, SPEC)
    with pytest.raises(FileNotFoundError, match="clips.parquet"):
        ShardLoader.from_config(DataConfig(corpus=str(corpus / "nope")), 0, 1, 0, SPEC)
    with pytest.raises(ValueError, match="shards or corpus"):
        DataConfig(shards=("a.tar",), corpus=str(corpus))
    with pytest.raises(ValueError, match="where"):
        DataConfig(shards=("a.tar",), where="sync_conf > 1")


def test_train_from_a_corpus_and_export_its_crop_recipe(corpus, tmp_path):
    import dataclasses

    from lipforge.infer.recipe import Recipe
    from lipforge.train.export import export
    from lipforge.train.loop import train

    torch.set_num_threads(1)
    cfg = tiny_train_config(tmp_path / "run", ["x.tar"], max_steps=2, ckpt_every=100)
    cfg = dataclasses.replace(cfg, data=DataConfig(corpus=str(corpus), where="sync_conf >= 4", batch_size=2))
    hist = train(cfg)
    assert all(k >= "c004" for h in hist for k in h["keys"])
    r = Recipe.load(export(cfg, tmp_path / "export"))
    assert (r.crop["crop_size"], r.crop["margin"], r.crop["smooth_window"]) == (256, 0.3, 5)
    assert r.crop_source.endswith("run_config.yaml")


def test_few_located_shards_are_split_so_every_selected_sample_is_used(corpus):
    """2 shards holding 2 and 4 selected samples over 2 worker streams: dealt whole, the streams
    hold 2 and 4 and each stops at 2 (4 of 6 used); split into sample ranges, all 6 are used."""
    from lipforge.train.data import epoch_plan

    data = DataConfig(corpus=str(corpus), where="sync_conf not in (1, 2)", num_workers=2)
    ld = ShardLoader.from_config(data, 0, 1, seed=0, spec=SPEC)
    assert sum(ld.counts) == 6 and len(ld.counts) > 2
    assert epoch_plan([2, 4], 0, 0, n_streams=2, batch_size=1).batches_per_stream * 2 == 4  # whole shards
    it = iter(ld)
    keys = [k for _ in range(ld.batches_per_epoch()) for k in next(it)["keys"]]
    assert len(keys) == 6 and len(set(keys)) == 6
