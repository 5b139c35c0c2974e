"""Fixed-shape uint8 frames spooled to a file, read back by index without mapping the file.

Inference keeps its per-frame pixels (face crops, generated crops, a looped source's frames)
here instead of in RAM, so a job's peak memory does not grow with the video's length. Reads use
``os.pread`` into fresh arrays rather than ``mmap``: mapped pages would count towards the
process's resident memory until unmapped, the page cache does not.

>>> st = FrameStore.create("/tmp/x.u8", (4, 4, 3))      # doctest: +SKIP
>>> st.append(np.zeros((2, 4, 4, 3), np.uint8)); len(st)   # doctest: +SKIP
2
>>> st[[1, 0]].shape                                    # doctest: +SKIP
(2, 4, 4, 3)
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


class FrameStore:
    """An append-only array of (H, W[, C]) uint8 frames on disk; indexable like a numpy array."""

    dtype = np.dtype(np.uint8)

    def __init__(self, path: str | Path, frame_shape: tuple[int, ...], n: int | None = None) -> None:
        self.path = Path(path)
        self.frame_shape = tuple(int(s) for s in frame_shape)
        self.frame_bytes = int(np.prod(self.frame_shape))
        size = self.path.stat().st_size if self.path.exists() else 0
        self._n = size // self.frame_bytes if n is None else int(n)
        self._fd: int | None = None

    @classmethod
    def create(cls, path: str | Path, frame_shape: tuple[int, ...]) -> "FrameStore":
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
        return cls(p, frame_shape, 0)

    # ---- description (what a PreparedJob saves) -------------------------------------------
    def spec(self) -> str:
        return json.dumps({"path": str(self.path), "frame_shape": list(self.frame_shape), "n": self._n})

    @classmethod
    def from_spec(cls, spec: str) -> "FrameStore":
        d = json.loads(spec)
        st = cls(d["path"], tuple(d["frame_shape"]), d["n"])
        if not st.path.is_file() or st.path.stat().st_size < st._n * st.frame_bytes:
            raise FileNotFoundError(f"frame store {st.path} is missing or shorter than its {st._n} frames")
        return st

    # ---- array protocol --------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (self._n, *self.frame_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.frame_shape)

    def __len__(self) -> int:
        return self._n

    def append(self, frames: np.ndarray) -> None:
        f = np.ascontiguousarray(frames, np.uint8)
        if f.shape[1:] != self.frame_shape:
            f = f.reshape(-1, *self.frame_shape)
        with open(self.path, "ab") as fh:
            fh.write(f.tobytes())
        self._n += len(f)

    def _read_run(self, start: int, count: int) -> np.ndarray:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        buf = os.pread(self._fd, count * self.frame_bytes, start * self.frame_bytes)
        if len(buf) != count * self.frame_bytes:
            raise OSError(f"frame store {self.path}: short read at frame {start}")
        return np.frombuffer(bytearray(buf), np.uint8).reshape(count, *self.frame_shape)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self._n if key < 0 else 0)
            if not 0 <= i < self._n:
                raise IndexError(f"frame {key} out of range for {self._n} frames")
            return self._read_run(i, 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(self._n)
            if step == 1:
                return self._read_run(start, max(0, stop - start)) if stop > start else \
                    np.zeros((0, *self.frame_shape), np.uint8)
            key = np.arange(start, stop, step)
        idx = np.asarray(key, np.int64).reshape(-1)
        if len(idx) and (idx.min() < 0 or idx.max() >= self._n):
            raise IndexError(f"frame index out of range for {self._n} frames")
        out = np.empty((len(idx), *self.frame_shape), np.uint8)
        i = 0
        while i < len(idx):  # coalesce consecutive runs into one read
            j = i + 1
            while j < len(idx) and idx[j] == idx[j - 1] + 1:
                j += 1
            out[i:j] = self._read_run(int(idx[i]), j - i)
            i = j
        return out

    def __array__(self, dtype=None, copy=None):
        a = self[:]
        return a.astype(dtype) if dtype is not None else a

    def astype(self, dtype):
        return np.asarray(self).astype(dtype)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def unlink(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass
