"""Shard video bytes must not depend on what the process did before encoding.

x264's macroblock-tree rate control reads heap memory it never wrote: the same frames encoded
twice in one process, with other allocations in between, came out different (issue #2's
"intermittent byte difference" between a run and its rerun). encode_video switches mbtree off;
this test dirties the heap with a byte pattern before each re-encode and demands identical
bytes. With ``lipforge.pipeline.media.X264_PARAMS = ""`` (mbtree on) it fails: 8, 7 and 9 of these 100
re-encodes differed for the three cases (x264 core 165 in PyAV 18.1's wheel).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import random

import numpy as np
import pytest

from lipforge.pipeline.media import decode_video, encode_video


def moving_face_frames(size: int, n: int = 40, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8: a textured background and an ellipse 'mouth' opening and closing."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([xx / size * 180 + 40, yy / size * 120 + 60, (xx + yy) / (2 * size) * 90 + 80], -1)
    base += rng.normal(0, 6, base.shape)
    frames = []
    for t in range(n):
        f = base.copy()
        open_ = 0.08 + 0.07 * np.sin(t / 2.5) * (1 + 0.3 * np.sin(t / 7.0))
        cy, cx = size * (0.62 + 0.01 * np.sin(t / 4.0)), size * (0.5 + 0.01 * np.cos(t / 5.0))
        m = ((yy - cy) / (size * max(open_, 0.01))) ** 2 + ((xx - cx) / (size * 0.18)) ** 2 < 1
        f[m] = (90, 30, 40)
        frames.append(np.clip(f, 0, 255))
    return np.stack(frames).astype(np.uint8)


def _libc():
    name = ctypes.util.find_library("c")
    if not name:
        pytest.skip("no C library to dirty the heap with (this test needs glibc's malloc)")
    libc = ctypes.CDLL(name)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def dirty_heap(libc, rng: random.Random) -> list[int]:
    """Allocate blocks of x264-like sizes filled with one byte, free three quarters (returns the rest)."""
    ptrs = []
    for _ in range(300):
        n = rng.choice([64, 1000, 4096, 10000, 30000, 60000, 100000, 120000])
        p = libc.malloc(n)
        ctypes.memset(p, rng.randrange(256), n)
        ptrs.append(p)
    rng.shuffle(ptrs)
    keep = len(ptrs) // 4
    for p in ptrs[keep:]:
        libc.free(p)
    return ptrs[:keep]


@pytest.mark.parametrize("size,seed,keyint", [(96, 1, None), (160, 0, None), (224, 0, None), (96, 2, 16)])
def test_encode_video_bytes_do_not_depend_on_heap_contents(size, seed, keyint):
    """keyint 16: the shard writer's default (ShardConfig.video_keyint), keyframes every 16 frames."""
    libc = _libc()
    frames = moving_face_frames(size, seed=seed)
    ref = encode_video(frames, fps=25, crf=18, keyint=keyint)
    assert decode_video(ref).shape == frames.shape  # a real video, not an empty success
    rng = random.Random(size)
    digests = set()
    for _ in range(100):
        held = dirty_heap(libc, rng)
        digests.add(hashlib.sha1(encode_video(frames, fps=25, crf=18, keyint=keyint)).hexdigest())
        for p in held:
            libc.free(p)
    assert digests == {hashlib.sha1(ref).hexdigest()}, f"{len(digests)} distinct encodings of the same frames"


def test_encode_video_bytes_do_not_depend_on_the_frames_memory_layout():
    """Frames whatever their memory layout (reversed channels, a crop's strided rows, an odd
    size) encode to the same bytes as their contiguous copies."""
    frames = moving_face_frames(96, n=12)
    flipped = np.ascontiguousarray(frames[:, :, ::-1])
    assert encode_video(frames[:, :, ::-1], keyint=16) == encode_video(flipped, keyint=16)  # strided vs contiguous
    crop = frames[:, 5:70, 9:80]
    assert encode_video(crop) == encode_video(np.ascontiguousarray(crop))
