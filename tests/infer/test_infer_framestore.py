"""FrameStore: frames spooled to disk come back exactly, by int, slice and index array."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.infer.framestore import FrameStore


def test_framestore_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (7, 4, 5, 3), dtype=np.uint8)
    st = FrameStore.create(tmp_path / "f.u8", (4, 5, 3))
    st.append(frames[:3])
    st.append(frames[3:])
    assert st.shape == (7, 4, 5, 3) and len(st) == 7
    np.testing.assert_array_equal(st[2], frames[2])
    np.testing.assert_array_equal(st[-1], frames[-1])
    np.testing.assert_array_equal(st[1:5], frames[1:5])
    np.testing.assert_array_equal(st[::3], frames[::3])
    idx = np.array([6, 0, 1, 2, 2, 5])
    np.testing.assert_array_equal(st[idx], frames[idx])
    np.testing.assert_array_equal(np.asarray(st), frames)
    again = FrameStore.from_spec(st.spec())
    np.testing.assert_array_equal(again[:], frames)
    with pytest.raises(IndexError):
        st[7]
    st.unlink()
    with pytest.raises(FileNotFoundError, match="f.u8"):
        FrameStore.from_spec(again.spec())
