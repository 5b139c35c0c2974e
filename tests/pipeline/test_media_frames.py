"""decode_frames: a window decodes from the keyframe before it, and yields exactly the frames a
decode from the start gives (same decoder, one process), for shards with keyframes every k
frames and for shards written as one GOP."""
from __future__ import annotations

import io

import numpy as np
import pytest

from lipforge.pipeline.media import MediaDecodeError, decode_frames, decode_runs, decode_video, encode_video

T, K = 37, 8  # frames, keyframe interval: GOPs start at 0, 8, 16, 24, 32


def moving(n: int = T) -> np.ndarray:
    """(n, 32, 48, 3) uint8 noise that drifts: every frame differs, so a wrong frame shows."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (n, 32, 48, 3), dtype=np.uint8)
    return np.stack([np.roll(base[0], 2 * t, axis=1) // 2 + base[t] // 2 for t in range(n)])


@pytest.fixture(scope="module")
def clips() -> dict[str, bytes]:
    f = moving()
    return {"keyint": encode_video(f, fps=25, keyint=K), "one_gop": encode_video(f, fps=25)}


def keyframes(data: bytes) -> list[int]:
    import av

    with av.open(io.BytesIO(data)) as c:
        vs = c.streams.video[0]
        return sorted(round(p.pts * vs.time_base * 25) for p in c.demux(vs) if p.is_keyframe and p.pts is not None)


def test_the_writer_puts_a_keyframe_every_keyint_frames(clips):
    assert keyframes(clips["keyint"]) == list(range(0, T, K))
    assert keyframes(clips["one_gop"]) == [0]


WINDOWS = {
    "straddles a keyframe": list(range(5, 13)),
    "window + reference in an earlier GOP": [*range(17, 33), 3],
    "window + reference in its own GOP": [*range(9, 15), 10],
    "reference after the window": [*range(0, 16), 30],
    "the last frame": [36],
    "past the end": [35, 36, 40],
    "unsorted, repeated": [7, 3, 35, 35, 0, 7],
    "every frame": list(range(T)),
}


@pytest.mark.parametrize("kind", ["keyint", "one_gop"])
@pytest.mark.parametrize("hint", [K, None, 3])  # the writer's keyint, unknown, a wrong hint
@pytest.mark.parametrize("name", list(WINDOWS))
def test_seek_decoded_frames_equal_a_decode_from_the_start(clips, kind, hint, name):
    idx = WINDOWS[name]
    full = decode_video(clips[kind])  # (T, H, W, 3)
    assert len(full) == T
    got, real = decode_frames(clips[kind], idx, keyint=hint)
    expect = np.minimum(idx, T - 1)
    assert real.tolist() == expect.tolist()
    assert got.shape == (len(idx), 32, 48, 3)
    for j, i in enumerate(expect.tolist()):
        assert np.array_equal(got[j], full[i]), f"{name}: frame {i} differs from the decode from the start"


def test_a_window_decodes_only_from_the_keyframe_before_it(clips):
    window = list(range(17, 33))  # keyframe 16 .. frame 32
    st: dict = {}
    decode_frames(clips["keyint"], [*window, 3], keyint=K, stats=st)
    assert st == {"seeks": 2, "decoded": (32 - 16 + 1) + (3 - 0 + 1)}
    decode_frames(clips["one_gop"], [*window, 3], keyint=None, stats=st)
    assert st == {"seeks": 1, "decoded": 33}  # one GOP: from the clip start to the last needed frame
    decode_frames(clips["keyint"], [36], keyint=K, stats=st)
    assert st == {"seeks": 1, "decoded": 36 - 32 + 1}


def test_decode_runs_seek_only_where_it_skips_frames():
    assert decode_runs([*range(9, 15), 3], 8) == [[3], list(range(9, 15))]
    assert decode_runs([*range(9, 15), 16], 8) == [list(range(9, 15)), [16]]  # a seek to 16 skips frame 15
    assert decode_runs([*range(9, 16), 17], 8) == [[*range(9, 16), 17]]  # keyframe 16 is next anyway
    assert decode_runs([0, 36], None) == [[0, 36]]


def test_bad_input_is_a_media_error():
    with pytest.raises(MediaDecodeError):
        decode_frames(b"not a video", [0])
    with pytest.raises(ValueError, match="indices >= 0"):
        decode_frames(b"", [-1])
