"""Native source frames for paste-back, in the order the output needs them: bounded memory and disk.

A looped job walks its source forward and backward. Spooling every decoded frame to disk (what
inference did) cost 3.0 GB for a 20 s portrait source and about 45 GB for a 60 s 4K one, with no
check of the free space. :class:`Backgrounds` spools only up to the last frame used and only
within a checked budget, and otherwise reads back from the source.

>>> bg = Backgrounds(probe("talk.mp4"), need, Path("scratch"))   # doctest: +SKIP
>>> frame = bg[12]                                              # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lipforge.infer.framestore import FrameStore

SPOOL_RESERVE = 1 << 30  # bytes left free on the scratch disk when a loop's frames are spooled
WINDOW_BYTES = 256 << 20  # decoded frames held in memory when a loop reads back from the source


class Backgrounds:
    """Native source frames in the order the output needs them, with bounded memory and disk.

    A monotone order (no loop) streams the file once. A loop's backward passes either read a spool
    of the decoded frames (only those up to the last one used) when it fits ``spool_budget``
    bytes (default: the scratch disk's free space less :data:`SPOOL_RESERVE`), or read back from
    the source: a miss behind the decoder seeks to the keyframe before it and decodes a window of
    frames ending at it (:data:`WINDOW_BYTES`), which a backward pass then walks down.
    ``mode``: ``auto`` (spool when it fits), ``spool`` or ``seek``.
    """

    def __init__(self, info, need: np.ndarray, spool_dir: Path, spool_budget: int | None = None,
                 mode: str = "auto") -> None:
        from lipforge.infer.source import iter_native_from

        if mode not in ("auto", "spool", "seek"):
            raise ValueError(f"background mode must be auto, spool or seek, got {mode!r}")
        self.info = info
        self.last = min(int(np.max(need)) + 1, info.n_frames - 1) if len(need) else 0  # +1: a turn's blend
        self.monotone = bool(np.all(np.diff(need) >= 0))
        frame_bytes = info.height * info.width * 3
        self.window = max(4, WINDOW_BYTES // frame_bytes)
        self._open = iter_native_from
        self._it, self._i = iter_native_from(info, 0), -1
        self._buf: dict[int, np.ndarray] = {}
        self._spool = None
        self.mode = "stream" if self.monotone else mode
        if self.mode in ("auto", "spool"):
            size = (self.last + 1) * frame_bytes
            if spool_budget is None:
                import shutil

                spool_budget = shutil.disk_usage(spool_dir).free - SPOOL_RESERVE
            if size <= spool_budget:
                self.mode = "spool"
            elif self.mode == "spool":
                raise OSError(f"spooling {self.last + 1} source frames needs {size / 2**30:.1f} GiB in {spool_dir}, "
                              f"the budget is {max(spool_budget, 0) / 2**30:.1f} GiB; free space or read back "
                              "from the source")
            else:
                self.mode = "seek"
        if self.mode == "spool":
            self._spool = FrameStore.create(spool_dir / "source.u8", (info.height, info.width, 3))
            for i, rgb in self._it:
                self._spool.append(rgb[None])
                if i >= self.last:
                    break
            self._it = iter(())

    def _advance(self, i: int) -> None:
        """Decode forward to frame ``i``, keeping the last ``window`` frames."""
        while self._i < i:
            try:
                j, rgb = next(self._it)
            except StopIteration:  # fewer decodable frames than packets: hold the last one
                return
            self._i = j
            self._buf[j] = rgb
            for old in [k for k in self._buf if k <= j - self.window]:
                del self._buf[old]

    def __getitem__(self, i: int) -> np.ndarray:
        i = min(int(i), self.last)
        if self._spool is not None:
            return self._spool[min(i, len(self._spool) - 1)]
        if i not in self._buf:
            if i < self._i or (not self.monotone and i > self._i + self.window):  # a loop's way back, a far jump
                start = max(0, i - self.window + 1) if i < self._i else i
                self._it, self._i, self._buf = self._open(self.info, start), start - 1, {}
            self._advance(i)
        if i in self._buf:
            return self._buf[i]
        return self._buf[max(self._buf)]  # past the last decodable frame

    def close(self) -> None:
        if self._spool is not None:
            self._spool.unlink()
