"""Typed training configuration; ``train.yaml`` is only its saved form.

>>> cfg = TrainConfig.from_dict({"data": {"shards": ["a.tar"]}, "model": {"unet_config": {"x": 1},
...                              "whisper_config": {"d_model": 8}}, "output_dir": "runs/x"})
>>> cfg.optim.lr
6e-05
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lipforge.infer.models.config import LipSyncModelConfig
from lipforge.infer.scheduler_config import EDMSchedulerConfig


@dataclass(frozen=True)
class DataConfig:
    shards: tuple[str, ...] = ()  # local tar paths or http(s):// / file:// URLs; or, instead:
    corpus: str | None = None  # a `lipforge curate --output` directory: samples located by its shards.parquet
    where: str | None = None  # with corpus: SQL condition over clips.parquet, e.g. "sync_backend = 'syncnet' and sync_conf >= 5"
    batch_size: int = 1  # per rank
    num_workers: int = 0  # DataLoader workers per rank (each streams its own shards)
    mask_field: str = "mask_adaptive"  # mask_adaptive | mask_keysync
    min_ref_distance: int = 0  # reference frame at least this many frames outside the window when possible
    shuffle_buffer: int = 16  # samples held per stream for the seeded within-shard shuffle (0/1: tar order)
    use_cached_latents: bool = False  # use a sample's latents.npy (lipforge.train.cache) instead of VAE-encoding the frames
    use_cached_audio: bool = False  # use a sample's whisper.npy instead of running Whisper
    max_bad_fraction: float = 0.01  # unreadable samples are skipped and counted; past this share of those seen the run stops

    def __post_init__(self) -> None:
        if not self.shards and not self.corpus:
            raise ValueError("DataConfig: give shards (a list of tars) or corpus (a curated corpus directory)")
        if self.shards and self.corpus:
            raise ValueError(f"DataConfig: give shards or corpus, not both (corpus={self.corpus!r})")
        if self.where is not None and not self.corpus:
            raise ValueError(f"DataConfig.where={self.where!r} selects clips of a corpus: set DataConfig.corpus")
        if self.batch_size < 1:
            raise ValueError(f"DataConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.num_workers < 0:
            raise ValueError(f"DataConfig.num_workers must be >= 0, got {self.num_workers}")
        if self.mask_field not in ("mask_adaptive", "mask_keysync"):
            raise ValueError(f"DataConfig.mask_field must be mask_adaptive|mask_keysync, got {self.mask_field!r}")
        if self.shuffle_buffer < 0:
            raise ValueError(f"DataConfig.shuffle_buffer must be >= 0, got {self.shuffle_buffer}")
        if not 0 <= self.max_bad_fraction <= 1:
            raise ValueError(f"DataConfig.max_bad_fraction must be in [0, 1], got {self.max_bad_fraction}")


@dataclass(frozen=True)
class ValidationConfig:
    """A fixed (video, audio) pair lip-synced with the EMA weights every ``validate_every`` steps."""

    video: str
    audio: str
    num_steps: int = 4  # sampler steps (few: a sample is a progress picture, not an evaluation)
    seconds: float = 1.0  # the driving audio is cut to this length
    guidance_scale: float = 3.0

    def __post_init__(self) -> None:
        for name in ("video", "audio"):
            if not getattr(self, name):
                raise ValueError(f"ValidationConfig.{name} must be a path, got {getattr(self, name)!r}")
        if self.num_steps < 1:
            raise ValueError(f"ValidationConfig.num_steps must be >= 1, got {self.num_steps}")
        if self.seconds <= 0:
            raise ValueError(f"ValidationConfig.seconds must be > 0, got {self.seconds}")
        if self.guidance_scale < 0:
            raise ValueError(f"ValidationConfig.guidance_scale must be >= 0, got {self.guidance_scale}")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 6e-5  # SayAnything: AdamW, fixed
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    ema: bool = True  # off: no EMA copy (4 bytes per trainable parameter less); export takes the raw weights
    warmup_steps: int = 0  # linear warmup from lr / warmup_steps to lr
    lr_schedule: str = "constant"  # after warmup: constant | cosine | linear (to min_lr_ratio * lr at max_steps)
    min_lr_ratio: float = 0.0
    grad_accum_steps: int = 1  # micro-batches per optimizer step (effective batch = batch_size x this x world size)
    optimizer: str = "adamw"  # adamw | adamw8bit (bitsandbytes)

    def __post_init__(self) -> None:
        from lipforge.train.optim import OPTIMIZERS
        from lipforge.train.schedule import SCHEDULES

        if self.lr <= 0:
            raise ValueError(f"OptimConfig.lr must be > 0, got {self.lr}")
        if self.warmup_steps < 0:
            raise ValueError(f"OptimConfig.warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"OptimConfig.lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"OptimConfig.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.grad_accum_steps < 1:
            raise ValueError(f"OptimConfig.grad_accum_steps must be >= 1, got {self.grad_accum_steps}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"OptimConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.grad_clip <= 0:
            raise ValueError(f"OptimConfig.grad_clip must be > 0, got {self.grad_clip}")
        if not isinstance(self.ema, bool):
            raise ValueError(f"OptimConfig.ema must be true or false (on/off), got {self.ema!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"OptimConfig.ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclass(frozen=True)
class LossConfig:
    p_drop_audio: float = 0.05  # audio zeroed (nested: and then the reference too)
    p_drop_ref: float = 0.15  # reference zeroed
    # nested: SayAnything's (a dropped audio drops the reference; CFG's unconditional branch);
    # independent: KeySync's (audio and identity drawn apart: "audio dropped, identity kept" is trained)
    dropout: str = "nested"
    pixel_loss_weight: float = 0.0  # KeySync: L2 on one VAE-decoded frame of D(x; sigma)
    pixel_loss_sigma_weighted: bool = False  # that L2 weighted by lambda(sigma), as the latent loss
    pixel_loss_masked: bool = False  # that L2 over the lip mask only (the generated region)
    scheduler: EDMSchedulerConfig = field(default_factory=EDMSchedulerConfig)

    def __post_init__(self) -> None:
        for name in ("p_drop_audio", "p_drop_ref"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"LossConfig.{name} must be in [0, 1], got {v}")
        if self.dropout not in ("nested", "independent"):
            raise ValueError(f"LossConfig.dropout must be nested|independent, got {self.dropout!r}")
        for name in ("pixel_loss_sigma_weighted", "pixel_loss_masked"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"LossConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if self.pixel_loss_weight < 0:
            raise ValueError(f"LossConfig.pixel_loss_weight must be >= 0, got {self.pixel_loss_weight}")


@dataclass(frozen=True)
class ClusterConfig:
    """How ``lipforge train --address ...`` places its DDP workers on a Ray cluster
    (lipforge.train.ray_launch); a torchrun or single-process run ignores it.

    Every worker is one bundle of a placement group (all workers start together or none does, so
    Ray queues the run behind a curation run's GPU pools instead of half-starting it). ``resources``
    adds custom resources per worker, e.g. ``{train_gpu: 1}``: a cluster that advertises
    ``train_gpu`` only on its training node type caps training there (ray_cluster.yaml).
    """

    num_workers: int = 1  # DDP ranks (--num-workers)
    gpus_per_worker: float = 0.0  # 0: CPU (gloo); 1: one GPU per rank (NCCL)
    cpus_per_worker: float | None = None  # None: 1 + data.num_workers (the rank and its loader processes)
    memory_per_worker_gb: float | None = None  # Ray's logical memory per worker; None: not reserved
    resources: dict[str, float] = field(default_factory=dict)  # custom Ray resources per worker
    placement_strategy: str = "PACK"  # PACK | SPREAD | STRICT_PACK | STRICT_SPREAD
    max_failures: int = 3  # worker losses survived (each restarts every rank from the last checkpoint)
    master_port: int = 0  # rank 0's rendezvous port; 0: a free one (bound before it is handed over)

    def __post_init__(self) -> None:
        if self.num_workers < 1:
            raise ValueError(f"ClusterConfig.num_workers must be >= 1, got {self.num_workers}")
        if self.gpus_per_worker not in (0, 1):
            raise ValueError(f"ClusterConfig.gpus_per_worker must be 0 (CPU, gloo) or 1 (one GPU per rank, NCCL: "
                             f"a rank drives one GPU and two ranks cannot share one), got {self.gpus_per_worker}")
        if self.cpus_per_worker is not None and self.cpus_per_worker <= 0:
            raise ValueError(f"ClusterConfig.cpus_per_worker must be > 0, got {self.cpus_per_worker}")
        if self.memory_per_worker_gb is not None and self.memory_per_worker_gb <= 0:
            raise ValueError(f"ClusterConfig.memory_per_worker_gb must be > 0, got {self.memory_per_worker_gb}")
        bad = {k: v for k, v in self.resources.items() if k in ("CPU", "GPU", "memory") or not v > 0}
        if bad:
            raise ValueError(f"ClusterConfig.resources: custom resources with amounts > 0 (CPU, GPU and memory "
                             f"have their own fields), got {bad}")
        if self.placement_strategy not in ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"):
            raise ValueError(f"ClusterConfig.placement_strategy must be PACK|SPREAD|STRICT_PACK|STRICT_SPREAD, "
                             f"got {self.placement_strategy!r}")
        if self.max_failures < 0:
            raise ValueError(f"ClusterConfig.max_failures must be >= 0, got {self.max_failures}")
        if not 0 <= self.master_port <= 65535:
            raise ValueError(f"ClusterConfig.master_port must be a port (0: a free one), got {self.master_port}")


@dataclass(frozen=True)
class TrainConfig:
    model: LipSyncModelConfig
    data: DataConfig
    output_dir: str
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    max_steps: int = 200_000
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 1000
    keep_last: int = 2  # checkpoints kept (>= 2: the previous one survives a crash while writing)
    pg_timeout_s: float = 1800.0  # explicit process-group timeout
    mixed_precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp16 (with the grad scaler) | no
    tf32: bool = True  # CUDA: TF32 matmuls/convolutions for what runs in fp32 (Ampere and newer)
    validate_every: int = 0  # 0: no validation samples
    validation: ValidationConfig | None = None  # required when validate_every > 0
    cluster: ClusterConfig = field(default_factory=ClusterConfig)  # lipforge train --address: Ray placement

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"TrainConfig.max_steps must be >= 1, got {self.max_steps}")
        if self.keep_last < 2:
            raise ValueError(f"TrainConfig.keep_last must be >= 2, got {self.keep_last}")
        if self.ckpt_every < 1 or self.log_every < 1:
            raise ValueError(f"TrainConfig.ckpt_every/log_every must be >= 1, got {self.ckpt_every}/{self.log_every}")
        if self.mixed_precision not in ("auto", "bf16", "fp16", "no"):
            raise ValueError(f"TrainConfig.mixed_precision must be auto|bf16|fp16|no, got {self.mixed_precision!r}")
        if not isinstance(self.tf32, bool):
            raise ValueError(f"TrainConfig.tf32 must be true or false, got {self.tf32!r}")
        if self.pg_timeout_s <= 0:
            raise ValueError(f"TrainConfig.pg_timeout_s must be > 0, got {self.pg_timeout_s}")
        if self.validate_every < 0:
            raise ValueError(f"TrainConfig.validate_every must be >= 0, got {self.validate_every}")
        if self.validate_every > 0 and self.validation is None:
            raise ValueError(f"TrainConfig.validate_every={self.validate_every} needs a validation "
                             "{video, audio} pair (TrainConfig.validation)")

    # ---- saved form ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return _lists(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        _check_keys(cls, d, "TrainConfig")
        for k in ("model", "data", "optim", "loss", "validation"):
            if d.get(k) is not None and not isinstance(d[k], dict):
                raise ValueError(f"TrainConfig.{k} must be a mapping of fields, got {d[k]!r}")
        d["model"] = LipSyncModelConfig.from_dict(d.get("model") or {})
        d["data"] = _build(DataConfig, d.get("data") or {}, tuples=("shards",))
        if "optim" in d:
            d["optim"] = _build(OptimConfig, d["optim"], tuples=("betas",))
        if "loss" in d:
            loss = dict(d["loss"])
            if "scheduler" in loss:
                loss["scheduler"] = _build(EDMSchedulerConfig, loss["scheduler"])
            d["loss"] = _build(LossConfig, loss)
        if "cluster" in d:
            d["cluster"] = _build(ClusterConfig, d["cluster"] or {})
        if d.get("validation") is not None:
            d["validation"] = _build(ValidationConfig, d["validation"])
        if "output_dir" not in d:
            raise ValueError("TrainConfig.output_dir is required")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> "TrainConfig":
        """``overrides``: ``"dotted.field=value"`` strings (``--set``), the value read as YAML, applied
        to the file's dict before validation, so they are checked exactly as the file is."""
        import yaml

        d = yaml.safe_load(Path(path).read_text()) or {}
        for o in overrides:
            apply_override(d, o)
        return cls.from_dict(d)

    def to_yaml(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def apply_override(d: dict[str, Any], override: str) -> None:
    """``"optim.lr=3e-5"`` -> ``d["optim"]["lr"] = 3e-5`` (value parsed as YAML; a new key is left
    for validation to refuse by name).

    >>> d = {"optim": {"lr": 1.0}}
    >>> apply_override(d, "optim.lr=3e-5"); apply_override(d, "optim.ema=off"); d
    {'optim': {'lr': 3e-05, 'ema': False}}
    """
    import yaml

    key, sep, raw = override.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ValueError(f"--set {override!r}: expected FIELD=VALUE with a dotted field, e.g. optim.lr=3e-5")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ValueError(f"--set {override!r}: the value is not YAML ({' '.join(str(e).split())})") from None
    if isinstance(value, str):
        try:  # PyYAML reads 3e-5 (no dot) as a string; the command line means the number
            value = float(value)
        except ValueError:
            pass
    node = d
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ValueError(f"--set {override!r}: {'.'.join(parts[:i + 1])} is a value, not a section")
        node = nxt
    node[parts[-1]] = value


_SCALARS = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}


def _check_keys(cls, d: dict[str, Any], name: str) -> None:
    """Unknown fields, and scalar fields of the wrong type (``lr: abc``), named before validation
    compares them (which would fail with a TypeError traceback)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"{name}: unknown fields {unknown}")
    for k, v in d.items():
        ann = str(fields[k].type).replace(" ", "")
        opt = ann.endswith("|None")
        want = _SCALARS.get(ann[:-5] if opt else ann)
        if want is None or (v is None and opt):
            continue
        if not isinstance(v, want) or (bool not in want and isinstance(v, bool)):
            raise ValueError(f"{name}.{k} must be {ann.replace('|None', ' or null')}, got {v!r}")


def _build(cls, d: dict[str, Any], tuples: tuple[str, ...] = ()):
    _check_keys(cls, d, cls.__name__)
    d = {k: (tuple(v) if k in tuples else v) for k, v in d.items()}
    return cls(**d)


def _lists(x):
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_lists(v) for v in x]
    return x
