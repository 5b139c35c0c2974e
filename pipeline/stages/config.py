"""Typed run configuration; YAML is only its saved form.

>>> cfg = RunConfig.from_dict({"segment": {"max_clip_s": 8.0}, "stages": {"speech": {"enabled": False}}})
>>> cfg.segment.max_clip_s
8.0
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lipforge.pipeline.media import SHARD_KEYINT
from lipforge.pipeline.source.probe import ProbeConfig
from lipforge.pipeline.source.scenes import CONTENT_THRESHOLD
from lipforge.pipeline.stages.base import StageConfig


@dataclass(frozen=True)
class SegmentConfig:
    """Decode once, normalize, split scenes and cut candidate clips of bounded length."""

    fps: int = 25
    sample_rate: int = 16000
    min_clip_s: float = 2.0
    max_clip_s: float = 10.0  # bounds the memory of one clip row
    work_max_side: int = 1280  # frames larger than this are downscaled for the stages
    scene_detector: str = "content"  # content | histogram | none
    scene_threshold: float = CONTENT_THRESHOLD
    num_cpus: float = 1.0
    # Ray: decode workers (each runs the stages up to the face crop on what it decoded);
    # 0 = one per CPU of the cluster, at most one per source.
    concurrency: int = 0
    # A source longer than 1.5 parts is curated as parts of about this length, decoded in
    # parallel (lipforge.pipeline.source.parts); rounded to a whole number of max_clip_s
    # (part_length_s). 0: never split.
    part_s: float = 300.0

    @property
    def part_length_s(self) -> float:
        """``part_s`` as a whole number (at least 1) of ``max_clip_s``, so a long scene is cut on
        the same ``max_clip_s`` grid in a part as in an undivided source; 0 when parts are off."""
        if not self.part_s:
            return 0.0
        return self.max_clip_s * max(1, round(self.part_s / self.max_clip_s))

    def __post_init__(self) -> None:
        if self.concurrency < 0:
            raise ValueError(f"SegmentConfig.concurrency must be >= 0 (0: one per CPU), got {self.concurrency}")
        if self.fps != 25:
            raise ValueError(f"SegmentConfig.fps: lipforge normalizes to 25 fps, got {self.fps}")
        if self.sample_rate != 16000:
            raise ValueError(f"SegmentConfig.sample_rate: lipforge normalizes to 16000 Hz, got {self.sample_rate}")
        if self.min_clip_s <= 0:
            raise ValueError(f"SegmentConfig.min_clip_s must be > 0, got {self.min_clip_s}")
        if self.max_clip_s < self.min_clip_s:
            raise ValueError(f"SegmentConfig.max_clip_s ({self.max_clip_s}) must be >= min_clip_s ({self.min_clip_s})")
        if self.work_max_side < 64:
            raise ValueError(f"SegmentConfig.work_max_side must be >= 64, got {self.work_max_side}")
        if not 0 <= self.part_s <= 600:
            raise ValueError(f"SegmentConfig.part_s must be in [0, 600] seconds (0: never split a source), got {self.part_s}")
        if self.scene_detector not in ("content", "histogram", "none"):
            raise ValueError(f"SegmentConfig.scene_detector must be content|histogram|none, got {self.scene_detector!r}")


@dataclass(frozen=True)
class ShardConfig:
    max_samples: int = 1000
    max_bytes: int = 1 << 30
    # "content": shards also end at key-hash boundaries (about max_samples / 2 per shard), so a
    # later run that adds sources rewrites only the shards its clips land in; "fill": every
    # shard is filled to a bound (equal sizes, but an added source rewrites all later shards).
    boundaries: str = "content"
    video_crf: int = 18
    # frames between keyframes of a shard clip (closed GOPs, recorded as json video_keyint): the
    # trainer's loader seeks to the keyframe before a window and decodes < video_keyint extra
    # frames, instead of the clip from its start; smaller is faster to read and larger on disk
    # (320 px crops of the real fixture at crf 18, against one GOP per clip: 16 frames +33% mp4
    # bytes and 29 frames decoded per 16-frame window of a 2 s clip (39 as one GOP), 31 of a 10 s
    # clip (178); 25 frames +10% / +22% bytes, 34 / 41 decoded). 0: x264's default (one GOP for
    # clips up to 10 s; no video_keyint recorded).
    video_keyint: int = SHARD_KEYINT
    num_cpus: float = 1.0
    # False: once a kept clip is published, its candidate tar in work/ is replaced by a small
    # record of where its bytes sit in the published shards (about halves a corpus's bytes);
    # reruns, re-judging and republishing read the bytes from there (lipforge.pipeline.store.release).
    keep_work_samples: bool = True

    def __post_init__(self) -> None:
        if self.max_samples < 1:
            raise ValueError(f"ShardConfig.max_samples must be >= 1, got {self.max_samples}")
        if self.max_bytes < 1 << 16:
            raise ValueError(f"ShardConfig.max_bytes must be >= 65536, got {self.max_bytes}")
        if self.boundaries not in ("content", "fill"):
            raise ValueError(f"ShardConfig.boundaries must be content|fill, got {self.boundaries!r}")
        if not 0 <= self.video_crf <= 51:
            raise ValueError(f"ShardConfig.video_crf must be in [0, 51], got {self.video_crf}")
        if not 0 <= self.video_keyint <= 250:
            raise ValueError(f"ShardConfig.video_keyint must be in [0, 250] (0: one GOP), got {self.video_keyint}")


@dataclass(frozen=True)
class RunConfig:
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    shards: ShardConfig = field(default_factory=ShardConfig)
    models_dir: str | None = None  # where relative model paths in stage configs are looked up
    # Per-stage configs by stage name (lipforge.pipeline.stages.registry); a stage missing here runs with defaults.
    stages: dict[str, StageConfig] = field(default_factory=dict)
    report_thumbnails_per_reason: int = 4

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "RunConfig":
        from lipforge.pipeline.stages.registry import stage_classes

        d = dict(d or {})
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"run config: unknown top-level keys {sorted(unknown)}")
        kw: dict[str, Any] = {}
        for name, typ in (("probe", ProbeConfig), ("segment", SegmentConfig), ("shards", ShardConfig)):
            if name in d:
                kw[name] = build_dataclass(typ, d[name], f"run config {name}")
        for name in ("models_dir", "report_thumbnails_per_reason"):
            if name in d:
                kw[name] = d[name]
        classes = stage_classes()
        stages = {}
        for sname, sdict in (d.get("stages") or {}).items():
            if sname not in classes:
                raise ValueError(f"run config stages: unknown stage {sname!r}; known: {sorted(classes)}")
            stages[sname] = build_dataclass(classes[sname].Config, sdict or {}, f"run config stages.{sname}")
        kw["stages"] = stages
        return cls(**kw)

    @classmethod
    def load(cls, path: str | Path | None) -> "RunConfig":
        if path is None:
            return cls()
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f))

    def stage_config(self, name: str) -> StageConfig:
        from lipforge.pipeline.stages.registry import stage_classes

        return self.stages.get(name) or stage_classes()[name].Config()

    def to_dict(self) -> dict[str, Any]:
        from lipforge.pipeline.stages.registry import stage_classes

        d = {"probe": dataclasses.asdict(self.probe), "segment": dataclasses.asdict(self.segment),
             "shards": dataclasses.asdict(self.shards), "models_dir": self.models_dir,
             "report_thumbnails_per_reason": self.report_thumbnails_per_reason,
             "stages": {n: dataclasses.asdict(self.stage_config(n)) for n in stage_classes()}}
        return d

    def save(self, path: str | Path) -> None:
        """Write the resolved config (every default filled in) next to the output."""
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        tmp.replace(path)


def build_dataclass(typ: type, values: dict[str, Any], where: str) -> Any:
    """Build a (frozen) dataclass from a dict, naming the bad field and value on error."""
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(typ)
    names = {f.name for f in dataclasses.fields(typ)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}; known: {sorted(names)}")
    kw = {}
    for k, v in values.items():
        want = hints[k]
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if want is tuple or typing.get_origin(want) is tuple:
            v = tuple(v)
        kw[k] = v
    try:
        return typ(**kw)
    except TypeError as e:
        raise ValueError(f"{where}: {e}") from e
