"""Live progress of a curation, the same line for the local and the Ray runner.

A tqdm bar over sources (done / total) whose postfix counts clips judged and kept, video-hours
in and kept, and video-seconds per wall-second; written to stderr while the run goes (Ray's own
per-operator bars, when shown, sit above it).

>>> p = CurateProgress(total_sources=2, enabled=False)
>>> p.group(judged=3, kept=2, video_s=10.0, kept_s=6.0); p.source_done(); p.close()
>>> p.sources_done, p.judged, p.kept
(1, 3, 2)
"""
from __future__ import annotations

import sys
import time


class CurateProgress:
    def __init__(self, total_sources: int, enabled: bool = True, desc: str = "curate") -> None:
        self.total = total_sources
        self.sources_done = self.judged = self.kept = 0
        self.video_s = self.kept_s = 0.0
        self.t0 = time.perf_counter()
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total_sources, desc=desc, unit="src", file=sys.stderr,
                             dynamic_ncols=True, mininterval=0.5, smoothing=0.0)
            self._bar.set_postfix_str(self.postfix(), refresh=True)

    def postfix(self) -> str:
        dt = max(time.perf_counter() - self.t0, 1e-9)
        return (f"clips {self.kept}/{self.judged} kept, video {self.video_s / 3600:.3f} h in / "
                f"{self.kept_s / 3600:.3f} h kept, {self.video_s / dt:.2f} video-s/s")

    def group(self, judged: int, kept: int, video_s: float, kept_s: float) -> None:
        """One candidate (and the clips split from it) is judged and durable."""
        self.judged += judged
        self.kept += kept
        self.video_s += video_s
        self.kept_s += kept_s
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.refresh()

    def source_done(self) -> None:
        self.sources_done += 1
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=True)
            self._bar.close()
