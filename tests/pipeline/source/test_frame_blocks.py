"""The segmenter's frame buffer (pieces cut from blocks, each frame written once) and the scene
detector's downscale."""
from __future__ import annotations

import numpy as np
import pytest
from lipforge.pipeline.stages.segment import FrameBlocks


def _frame(k: int) -> np.ndarray:
    return np.full((4, 6, 3), k % 256, np.uint8) + np.arange(6, dtype=np.uint8)[None, :, None]


@pytest.mark.parametrize("script", [
    [("push", 25), ("take", 10), ("take", 10), ("take", 5)],  # whole blocks, then a short rest (copy)
    [("push", 17), ("take", 9), ("take", 8)],                  # a split remainder: view, then a copy
    [("push", 12), ("skip", 10), ("take", 2), ("push", 30), ("take", 10), ("take", 10), ("take", 10)],
    [("push", 7), ("take", 7), ("push", 3), ("take", 3), ("push", 14), ("take", 6), ("take", 8)],
])
def test_pieces_hold_the_frames_in_order_and_never_share_memory(script):
    buf, ref, next_frame, pieces = FrameBlocks(10), [], 0, []
    for op, n in script:
        if op == "push":
            for _ in range(n):
                buf.append(_frame(next_frame))
                ref.append(next_frame)
                next_frame += 1
        else:
            want, ref = ref[:n], ref[n:]
            got = buf.take(n, keep=op == "take")
            if op == "skip":
                assert got is None
            else:
                assert got.shape == (n, 4, 6, 3) and got.dtype == np.uint8
                np.testing.assert_array_equal(got, np.stack([_frame(k) for k in want]))
                pieces.append((got, want))
        assert buf.n == len(ref)
    for a, (p, _) in enumerate(pieces):  # no piece sees another's pixels, even after more frames came
        for q, _ in pieces[a + 1:]:
            assert not np.shares_memory(p, q)
    for got, want in pieces:  # still intact after everything that followed
        np.testing.assert_array_equal(got, np.stack([_frame(k) for k in want]))


def test_a_full_piece_is_a_whole_block_and_a_block_no_one_holds_is_reused():
    from lipforge.pipeline.stages import segment

    segment._pool.clear()
    buf = FrameBlocks(10)
    for k in range(25):
        buf.append(_frame(k))
    first = buf.take(10)
    assert first.base is None and first.shape[0] == 10  # the block itself, not a copy of it
    held = id(first)
    buf.take(10, keep=False)  # skipped: its block is held by nothing now
    rest = buf.take(5)  # a view of the third block
    assert rest.base is not None
    skipped = id(segment._pool[1])
    for k in range(12):  # two blocks: the skipped one again, and a new one (the others are held)
        buf.append(_frame(100 + k))
    assert id(buf.blocks[0]) == skipped and held not in {id(b) for b in buf.blocks}
    assert all(b is not rest.base for b in buf.blocks) and len(segment._pool) == segment.POOL_BLOCKS
    np.testing.assert_array_equal(first, np.stack([_frame(k) for k in range(10)]))
    np.testing.assert_array_equal(rest, np.stack([_frame(k) for k in range(20, 25)]))
    del first, rest  # the first block is free again
    buf.take(10, keep=False)
    buf.take(2, keep=False)
    buf.append(_frame(0))
    assert id(buf.blocks[0]) == held
    buf.take(1)
    buf.append(np.zeros((8, 6, 3), np.uint8))  # another frame size: free blocks of the old one go
    assert [b.shape for b in segment._pool] == [(10, 8, 6, 3)]


def test_shrink_halves_exactly_then_one_bilinear_step():
    import cv2
    from lipforge.pipeline.source.scenes import shrink

    rng = np.random.default_rng(0)
    sq = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    np.testing.assert_array_equal(shrink(sq), cv2.resize(sq, (256, 256), interpolation=cv2.INTER_AREA))
    small = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    assert shrink(small) is small
    y, x = np.mgrid[0:720, 0:1280]
    smooth = np.stack([x // 5 % 256, y // 3 % 256, (x + y) // 7 % 256], -1).astype(np.uint8)
    out = shrink(smooth)
    assert out.shape == (144, 256, 3)
    ref = cv2.resize(smooth, (256, 144), interpolation=cv2.INTER_AREA)
    assert np.abs(out.astype(int) - ref).mean() < 1.0  # 0.27 here
    assert shrink(np.zeros((1280, 720, 3), np.uint8)).shape == (256, 144, 3)
