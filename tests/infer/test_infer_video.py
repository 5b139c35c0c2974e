"""Length rules, segment plan and blending, compositing: the pure frame helpers of inference."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.infer.video import (blend_segments, composite, composite_mask, fit_length, frames_for_audio, loop_indices,
                         loop_positions, plan_segments, segment_weights)


def test_loop_indices_forward_backward():
    assert loop_indices(4, 3).tolist() == [0, 1, 2]  # audio shorter: truncate
    assert loop_indices(4, 12).tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]
    assert loop_indices(1, 3).tolist() == [0, 0, 0]
    idx = loop_indices(7, 100)
    assert np.all(np.abs(np.diff(idx)) == 1)  # never a jump, never a frozen frame
    assert idx.min() == 0 and idx.max() == 6
    with pytest.raises(ValueError, match="n_src"):
        loop_indices(0, 5)


def test_loop_positions_smooth_only_at_joins():
    pos = loop_positions(20, 60, smooth=2)
    idx = loop_indices(20, 60)
    far = np.array([min(abs(t - j) for j in (19, 38, 57)) > 2 for t in range(60)])
    np.testing.assert_allclose(pos[far], idx[far])  # linear stretches untouched
    assert pos[19] < 19 and pos[38] > 0  # turn points rounded off
    vel = np.diff(pos)
    assert np.abs(np.diff(vel)).max() < 2.0  # the raw sequence's velocity flips by 2 at a join


def test_fit_length_truncates_and_loops():
    frames = np.arange(5, dtype=np.uint8)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3) * 10
    out, pos = fit_length(frames, 3)
    assert out[:, 0, 0, 0].tolist() == [0, 10, 20]
    out, pos = fit_length(frames, 12, smooth=0)
    assert out[:, 0, 0, 0].tolist() == [0, 10, 20, 30, 40, 30, 20, 10, 0, 10, 20, 30]
    assert frames_for_audio(16000) == 25 and frames_for_audio(16001) == 26


def test_plan_segments_cover_with_overlap():
    assert [(s.start, s.end) for s in plan_segments(10)] == [(0, 10)]
    segs = plan_segments(50, 16, 4)
    assert segs[0].start == 0 and segs[-1].end == 50
    for a, b in zip(segs, segs[1:]):
        assert a.end - b.start >= 4 and b.start > a.start
    assert all(s.length == 16 for s in segs)
    ws = segment_weights(segs, 50)
    total = np.zeros(50)
    for s, w in zip(segs, ws):
        total[s.start:s.end] += w
    np.testing.assert_allclose(total, 1.0)


def test_overlap_blending_leaves_no_step():
    """Each segment reproduces a smooth signal plus its own offset; blending turns the step into a ramp."""
    n, bias = 52, 1.0
    segs = plan_segments(n, 16, 4)
    truth = np.sin(np.arange(n) / 8.0)
    parts = [truth[s.start:s.end] + bias * (k % 2) for k, s in enumerate(segs)]
    hard = np.concatenate([parts[0]] + [p[segs[k].end - s.start:] for k, (p, s) in
                                        enumerate(zip(parts[1:], segs[1:]))])
    blended = blend_segments(parts, segs, n)
    smooth_step = np.abs(np.diff(truth)).max()
    assert np.abs(np.diff(hard)).max() > 0.9 * bias  # the naive concatenation jumps
    assert np.abs(np.diff(blended)).max() <= bias / 5 + smooth_step + 1e-9  # overlap 4 -> steps of bias / 5
    import torch

    tb = blend_segments([torch.tensor(p)[None, :, None] for p in parts], segs, n, axis=1)
    np.testing.assert_allclose(tb[0, :, 0].numpy(), blended, atol=1e-12)
    # the pipeline's call: shot-aware weights as tensors; a cut at 30 gets no cross-fade
    from lipforge.infer.shots import plan_shot_segments

    shots = (np.arange(n) >= 30).astype(int)
    ssegs, sws = plan_shot_segments(shots, 16, 4)
    sparts = [torch.tensor(truth[s.start:s.end] + bias * (k % 2))[None, :, None] for k, s in enumerate(ssegs)]
    sb = blend_segments(sparts, ssegs, n, axis=1, weights=[torch.tensor(w) for w in sws])[0, :, 0].numpy()
    assert all(s.end <= 30 or s.start >= 30 for s in ssegs)
    first = [k for k, s in enumerate(ssegs) if s.end <= 30]
    alone = blend_segments([sparts[k][0, :, 0].numpy() for k in first], [ssegs[k] for k in first], 30)
    np.testing.assert_allclose(sb[:30], alone, atol=1e-12)  # shot 0 blends as if shot 1 did not exist


def test_composite_changes_only_the_dilated_union():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (120, 100, 3), dtype=np.uint8)
    crop = np.full((32, 32, 3), 7, np.uint8)
    crop_box = (20.0, 30.0, 84.0, 94.0)  # 64 px square
    src_box, gen_box = (35.0, 40.0, 65.0, 80.0), (40.0, 60.0, 75.0, 88.0)
    out = composite(frame, crop, crop_box, [src_box, gen_box], dilate=0.1, feather=4)
    alpha = composite_mask(120, 100, [src_box, gen_box], crop_box, 0.1, 4)
    changed = np.any(out != frame, axis=-1)
    assert not np.any(changed & (alpha == 0))  # bit-identical outside the region
    assert np.all(out[alpha == 1] == 7)  # fully generated deep inside
    assert alpha[45, 31] == 0 and 0 < alpha[45, 32] < 1  # feathered edge: the dilated source box starts at x=32
    assert alpha[70, 74] > 0 and alpha[70, 79] == 0  # the generated box widens the region beyond the source box
