"""Stage base class, the clip item that flows between stages, and additive stage stats.

A stage is a small class with a nested frozen ``Config`` dataclass and one method over a batch
of items. A rejection is data: the stage calls ``item.drop("face_too_small", by=self.name)`` and
records its measurements; the base class skips items already dropped, counts kept and
``dropped_<reason>``, and times the batch. Stages never import Ray.

>>> class Short(Stage):
...     name = "short"
...     @dataclass(frozen=True)
...     class Config(StageConfig):
...         min_s: float = 2.0
...     def process(self, items):
...         for it in items:
...             if it.n_frames / it.fps < self.config.min_s:
...                 it.drop("too_short", by=self.name)
...         return items
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from lipforge.manifests.schema import STATUS_DROPPED, STATUS_KEPT


@dataclass(frozen=True)
class StageConfig:
    """Resources and switches every stage has; subclasses add their own typed fields."""

    enabled: bool = True
    num_cpus: float = 1.0
    num_gpus: float = 0.0  # a fraction packs several small GPU models on one device
    batch_size: int = 1  # items per call of process()
    concurrency: int = 1  # Ray actors of the operator this stage starts (see pipeline.run.runners.plan)

    def __post_init__(self) -> None:
        if self.num_cpus < 0:
            raise ValueError(f"{type(self).__qualname__}.num_cpus must be >= 0, got {self.num_cpus}")
        if not 0 <= self.num_gpus:
            raise ValueError(f"{type(self).__qualname__}.num_gpus must be >= 0, got {self.num_gpus}")
        if self.batch_size < 1:
            raise ValueError(f"{type(self).__qualname__}.batch_size must be >= 1, got {self.batch_size}")
        if self.concurrency < 1:
            raise ValueError(f"{type(self).__qualname__}.concurrency must be >= 1, got {self.concurrency}")


@dataclass
class ClipItem:
    """One candidate clip in flight: a view of a source plus what the stages measured.

    ``frames`` (T, H, W, 3) uint8 RGB at the working resolution (source pixels times
    ``work_scale``) and ``audio`` (N,) float32 at 16 kHz mono are bounded by the segmenter's
    maximum clip length; they are released as soon as the clip is dropped.
    ``arrays`` holds per-frame data destined for the shard (keys of manifests.SAMPLE_LAYOUT),
    ``measurements`` the manifest columns (keys of lipforge.manifests.schema.MEASUREMENTS).
    """

    clip_id: str
    source_id: str
    parent_id: str
    start_frame: int
    end_frame: int
    fps: float = 25.0
    sample_rate: int = 16000
    track: int = 0
    scene_index: int = 0
    work_scale: float = 1.0
    source_width: int = 0
    source_height: int = 0
    frames: np.ndarray | None = None  # (T, H, W, 3) uint8
    frames_are_crop: bool = False  # True once the crop stage replaced frames by the square face crop
    audio: np.ndarray | None = None  # (N,) float32
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    measurements: dict[str, Any] = field(default_factory=dict)
    status: str = STATUS_KEPT
    reason: str | None = None
    dropped_by: str | None = None

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def kept(self) -> bool:
        return self.status == STATUS_KEPT

    def drop(self, reason: str, by: str) -> "ClipItem":
        """Mark the clip dropped with a reason code and free its pixels and audio."""
        self.status, self.reason, self.dropped_by = STATUS_DROPPED, reason, by
        self.frames = None
        self.audio = None
        return self


@dataclass
class StageStats:
    """Counts and timings of one stage; ``a + b`` merges the stats of two workers."""

    name: str
    items_in: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    video_seconds: float = 0.0  # duration of the clips that came in
    kept_seconds: float = 0.0  # duration of the clips this stage let through
    # CPU time of the process while the stage ran, its libraries' helper threads included (mediapipe
    # infers on a thread of its own); ``seconds`` is wall time, which a busy machine stretches.
    # The figure cost models are built from (a worker runs one stage at a time)
    cpu_seconds: float = 0.0

    def __add__(self, other: "StageStats") -> "StageStats":
        if other.name != self.name:
            raise ValueError(f"cannot add stats of stage {other.name!r} to {self.name!r}")
        return StageStats(self.name, self.items_in + other.items_in, self.kept + other.kept,
                          self.dropped + other.dropped, self.seconds + other.seconds,
                          self.video_seconds + other.video_seconds, self.kept_seconds + other.kept_seconds,
                          self.cpu_seconds + other.cpu_seconds)

    def take(self) -> "StageStats":
        """Return the counts so far and reset them in place (for shipping deltas between workers)."""
        out = StageStats(self.name) + self
        self.items_in, self.kept, self.dropped = 0, 0, Counter()
        self.seconds = self.video_seconds = self.kept_seconds = self.cpu_seconds = 0.0
        return out

    @property
    def items_per_s(self) -> float:
        return self.items_in / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = {"stage": self.name, "items_in": self.items_in, "kept": self.kept,
             "seconds": round(self.seconds, 4), "cpu_seconds": round(self.cpu_seconds, 4),
             "items_per_s": round(self.items_per_s, 3),
             "video_seconds": round(self.video_seconds, 3), "kept_seconds": round(self.kept_seconds, 3),
             "hours_in": round(self.video_seconds / 3600, 6),
             "hours_out": round(self.kept_seconds / 3600, 6)}
        d.update({f"dropped_{k}": v for k, v in sorted(self.dropped.items())})
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StageStats":
        dropped = Counter({k[len("dropped_"):]: v for k, v in d.items() if k.startswith("dropped_")})
        return cls(d["stage"], d["items_in"], d["kept"], dropped, d["seconds"], d.get("video_seconds", 0.0),
                   d.get("kept_seconds", 0.0), d.get("cpu_seconds", 0.0))


class Stage:
    """Base of every clip stage. Subclasses set ``name``, a nested ``Config`` and ``process``.

    ``setup()`` loads models once per worker (called lazily on the first batch, so a Ray actor
    loads its model in its own process); construction only validates configuration and checks
    that model files exist, so a missing file fails before any work starts.
    """

    name: ClassVar[str] = "stage"
    Config: ClassVar[type[StageConfig]] = StageConfig

    def __init__(self, config: StageConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise TypeError(f"{type(self).__name__} wants a {self.Config.__qualname__}, got {type(self.config).__name__}")
        self.stats = StageStats(self.name)
        self._ready = False

    @property
    def has_work(self) -> bool:
        """False when the stage would keep every clip and record nothing (no weights configured):
        the Ray runner then gives it no pool of its own (it runs where the previous stage ran)."""
        return True

    def setup(self) -> None:
        """Load models; override in stages that have any."""

    def check_models(self) -> None:
        """Load the configured model files once and let them go: a file that is there but holds
        no such model then fails before any work, as one line naming the field, not mid-run in
        a worker. ``lipforge curate`` calls it in the driver; override in stages with models."""

    def process(self, items: list[ClipItem]) -> list[ClipItem]:
        """Judge a batch of kept items; may split an item into several (same parent_id)."""
        raise NotImplementedError

    def provenance(self):
        """Which measure decides this stage's verdicts (:mod:`lipforge.pipeline.stages.provenance`), computed once."""
        if getattr(self, "_provenance", None) is None:
            from lipforge.pipeline.stages.provenance import describe

            self._provenance = describe(self)
        return self._provenance

    def ready(self) -> None:
        """:meth:`setup` once (imports, model loads); the first call does it, later ones nothing."""
        if not self._ready:
            self.setup()
            self._ready = True

    def __call__(self, items: list[ClipItem]) -> list[ClipItem]:
        self.ready()
        live = [it for it in items if it.kept]
        t0, c0 = time.perf_counter(), time.process_time()
        out_live = self.process(live) if live else []
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        lost = {it.parent_id for it in live} - {it.parent_id for it in out_live}
        if lost:
            # The runners persist a candidate from its returned clips; one that vanished would
            # never be marked done and its source could never complete.
            raise RuntimeError(f"stage {self.name!r} returned no clip for candidate(s) {sorted(lost)[:3]}; "
                               "reject with item.drop(reason, by=name) instead of removing items")
        from lipforge.pipeline.stages.provenance import stamp  # every judged clip says which measure judged it

        stamp(self.provenance(), out_live)
        s = self.stats
        s.items_in += len(live)
        s.seconds += dt
        s.cpu_seconds += dc
        s.video_seconds += sum(it.n_frames / it.fps for it in live)
        for it in out_live:
            if it.kept:
                s.kept += 1
                s.kept_seconds += it.n_frames / it.fps
            elif it.dropped_by == self.name:
                s.dropped[it.reason] += 1
        # Keep the batch order stable: already-dropped items pass through where they were.
        live_ids = {id(it) for it in live}
        passthrough = [it for it in items if id(it) not in live_ids]
        return passthrough + out_live
