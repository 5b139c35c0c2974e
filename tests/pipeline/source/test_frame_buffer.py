"""The segmenter's frame buffer: pieces are views of reused blocks, never overwritten while held."""
from __future__ import annotations

import numpy as np

from lipforge.pipeline.source.segment import FrameBuffer


def frame(i: int) -> np.ndarray:
    return np.full((4, 6, 3), i % 251, np.uint8)


def test_pieces_are_the_frames_in_order_across_blocks():
    buf, want, got = FrameBuffer(10), [], []
    for i in range(95):
        buf.append(frame(i))
        want.append(i)
        if len(buf) > 7:  # as the segmenter does: emit when the buffer passes a bound
            piece = buf.take(5)
            got.extend(int(f[0, 0, 0]) for f in piece)
    got.extend(int(buf.peek(k)[0, 0, 0]) for k in range(len(buf)))
    assert got == want


def test_a_block_is_reused_only_when_no_piece_of_it_is_held():
    buf = FrameBuffer(10)
    for i in range(10):
        buf.append(frame(i))
    held = buf.take(8)  # a piece still in use by a stage
    for i in range(10, 60):  # several blocks fill; their pieces are dropped at once
        buf.append(frame(i))
        if len(buf) > 8:
            buf.take(8)
    assert [int(f[0, 0, 0]) for f in held] == list(range(8))  # never overwritten
    n = buf.blocks_allocated
    assert n >= 3  # the held piece's block could not be reused
    del held
    for i in range(60, 200):
        buf.append(frame(i))
        if len(buf) > 8:
            buf.take(8)
    assert buf.blocks_allocated <= n + 1  # blocks come back once nothing holds them
