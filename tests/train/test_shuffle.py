"""Seeded within-shard shuffle: the order changes every epoch, and a resume reproduces it exactly."""
from __future__ import annotations

import numpy as np
import pytest
from lipforge.testing.train_data import synthetic_clip, write_shard

from lipforge.train.data import shuffle_order
from lipforge.train.loader import DataPosition, ShardLoader, WindowSpec

PER_SHARD = 6


@pytest.fixture(scope="module")
def six_clip_shards(tmp_path_factory) -> list[str]:
    """2 shards x 6 clips (keys sh{s}-{c:08d}-00, tar order = c)."""
    d = tmp_path_factory.mktemp("six")
    return [str(write_shard(d / f"shard-{s:05d}.tar", [synthetic_clip(f"sh{s}-{c:08d}-00", n_frames=6, seed=s * 7 + c)
                                                       for c in range(PER_SHARD)])) for s in range(2)]


def test_shuffle_order_is_a_seeded_permutation_with_bounded_lookahead():
    for n, k in ((1, 4), (5, 8), (50, 4), (200, 16)):
        o = shuffle_order(n, k, np.random.default_rng(1))
        assert sorted(o.tolist()) == list(range(n))
        assert np.array_equal(o, shuffle_order(n, k, np.random.default_rng(1)))
        # a buffer of k slots emits position j only after reading at most j + k samples
        assert all(o[j] < j + k for j in range(n))
    assert np.array_equal(shuffle_order(30, 0, np.random.default_rng(0)), np.arange(30))
    rng = np.random.default_rng
    assert not np.array_equal(shuffle_order(30, 8, rng(0)), shuffle_order(30, 8, rng(1)))


def _keys(shards, start: DataPosition, n: int, workers: int = 0, buffer: int = 4) -> list[tuple[int, str]]:
    spec = WindowSpec(num_frames=2, resolution=32, audio_k=1, shuffle_buffer=buffer)
    ld = ShardLoader(shards, 0, 1, batch_size=1, num_workers=workers, seed=5, spec=spec)
    ld.position = start
    it = iter(ld)
    return [(b["epoch"], b["keys"][0]) for b in (next(it) for _ in range(n))]


def _within(keys: list[tuple[int, str]], epoch: int, shard: int) -> list[str]:
    return [k for e, k in keys if e == epoch and k.startswith(f"sh{shard}-")]


def test_within_shard_order_differs_across_epochs_and_resumes_exactly(six_clip_shards):
    per_epoch = 2 * PER_SHARD
    full = _keys(six_clip_shards, DataPosition(0, 0), 3 * per_epoch)
    tar_order = [[f"sh{s}-{c:08d}-00" for c in range(PER_SHARD)] for s in range(2)]
    for e in range(3):
        # every clip once per epoch
        assert sorted(k for ep, k in full if ep == e) == sorted(k for keys in tar_order for k in keys)
    orders = [[_within(full, e, s) for s in range(2)] for e in range(3)]
    for s in range(2):
        assert len({tuple(orders[e][s]) for e in range(3)}) == 3  # each epoch orders a shard's clips anew
        assert any(orders[e][s] != tar_order[s] for e in range(3))
    for i in (1, 5, per_epoch, per_epoch + 7):
        assert _keys(six_clip_shards, DataPosition(i // per_epoch, i % per_epoch), 3 * per_epoch - i) == full[i:]
    unshuffled = _keys(six_clip_shards, DataPosition(0, 0), per_epoch, buffer=0)
    assert [_within(unshuffled, 0, s) for s in range(2)] == tar_order  # buffer 0: tar order


def test_shuffled_workers_resume_exactly(six_clip_shards):
    full = _keys(six_clip_shards, DataPosition(0, 0), 12, workers=2)
    assert _keys(six_clip_shards, DataPosition(0, 5), 7, workers=2) == full[5:]
    tar_order = [[f"sh{s}-{c:08d}-00" for c in range(PER_SHARD)] for s in range(2)]
    assert [_within(full, 0, s) for s in range(2)] != tar_order


def test_epoch_plan_balances_streams_of_uneven_shards():
    """Content-defined shards vary in size; the plan deals them so every stream holds about the
    same number of samples (each stream stops at the smallest, so imbalance is data left out)."""
    from lipforge.train.data import epoch_plan

    rng = np.random.default_rng(0)
    counts = [int(c) for c in rng.integers(125, 1001, size=150)]  # shard sizes in [max/8, max]
    n_streams, seen_orders = 16, set()
    for epoch in range(3):
        plan = epoch_plan(counts, epoch, seed=1, n_streams=n_streams, batch_size=4)
        flat = [s for st in plan.streams for s in st]
        assert sorted(flat) == list(range(len(counts)))  # every shard exactly once
        totals = [sum(counts[s] for s in st) for st in plan.streams]
        assert max(totals) - min(totals) <= max(counts)
        used = plan.batches_per_stream * 4 * n_streams / sum(counts)
        assert used > 0.95, used  # dealt round robin (perm[g::16]) they used 0.67-0.79
        seen_orders.add(tuple(tuple(st) for st in plan.streams))
    assert len(seen_orders) == 3  # a new deal every epoch


def test_few_uneven_shards_are_split_by_sample_ranges_so_an_epoch_uses_every_sample(tmp_path):
    """Shards of 1 and 5 clips over 2 worker streams: dealt whole, the streams hold 1 and 5 and each
    stops at 1 (2 of 6 samples per epoch); split by sample ranges (from a header scan) all 6 are
    used, and a resume inside the epoch continues exactly."""
    from lipforge.train.data import epoch_plan

    shards = [str(write_shard(tmp_path / f"u{s}.tar", [synthetic_clip(f"u{s}-{c:08d}-00", n_frames=6, seed=c)
                                                       for c in range(n)])) for s, n in enumerate((1, 5))]
    assert epoch_plan([1, 5], 0, 5, n_streams=2, batch_size=1).batches_per_stream * 2 == 2
    full = _keys(shards, DataPosition(0, 0), 12, workers=2)
    assert sorted(k for e, k in full if e == 0) == sorted([f"u0-{0:08d}-00"] + [f"u1-{c:08d}-00" for c in range(5)])
    assert _keys(shards, DataPosition(0, 3), 9, workers=2) == full[3:]
