"""A batch's jobs and settings: the jobs table (video, audio, output) and :class:`BatchConfig`.

The lowest floor of batch inference: the per-job stages (:mod:`lipforge.infer.batch_stages`) and
the driver (:mod:`lipforge.infer.batch`) both build on it.

>>> BatchConfig(checkpoint="export/", work_dir="work/").runner
'ray'
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

JOB_COLUMNS = ("video", "audio", "output")


@dataclass(frozen=True)
class BatchConfig:
    checkpoint: str | None
    work_dir: str
    cache_dir: str | None = None  # per-source face tracks and latents; default <work_dir>/cache
    num_inference_steps: int = 15
    guidance_scale: float = 3.0
    audio_guidance_scale: float | None = None  # KeySync separate scales (both or neither)
    identity_guidance_scale: float | None = None
    segment_length: int = 16
    overlap: int = 4
    crop_size: int | None = None  # default: the model's resolution
    seed: int = 0
    device: str = "auto"
    runner: str = "ray"  # ray | local
    num_actors: int | None = None  # None: one per GPU of the cluster (1 with device="cpu")
    num_gpus_per_actor: float | None = None  # None: 1 per actor, from the cluster's GPUs (0 with device="cpu")
    prepare_cpus: float = 1.0
    ray_num_cpus: int | None = None  # only when this process starts Ray
    ray_address: str = "local"  # "local": a private runtime for this run; "auto" or host:port: join a cluster
    cache_latents: bool = True  # keep the masked crops' VAE latents per source video under cache_dir
    fps: float | None = None  # output fps; None: the source's
    dtype: str = "auto"  # auto | bf16 | fp16 | fp32
    overwrite: bool = False  # redo outputs made with another checkpoint or settings
    audio_mix: str = "native"  # native (every channel of the driving audio) | stereo | mono
    max_face_gap: int | None = None  # frames without a face still filled in (None: faceprep.MAX_FACE_GAP)
    gpu_wait_s: float = 600.0  # joining a cluster: wait this long for GPU nodes to join
    max_prepared: int | None = None  # jobs prepared and not yet sampled (None: 2 per model actor)
    sampler: str = "euler"  # a diffusers EDM scheduler (infer.scheduler_config): euler | dpmpp-2m

    def __post_init__(self) -> None:
        if self.runner not in ("ray", "local"):
            raise ValueError(f"BatchConfig.runner must be 'ray' or 'local', got {self.runner!r}")
        if self.num_actors is not None and self.num_actors < 1:
            raise ValueError(f"BatchConfig.num_actors must be >= 1 or None (one per GPU), got {self.num_actors}")
        if self.audio_mix not in ("native", "stereo", "mono"):
            raise ValueError(f"BatchConfig.audio_mix must be native, stereo or mono, got {self.audio_mix!r}")
        if self.max_face_gap is not None and self.max_face_gap < 0:
            raise ValueError(f"BatchConfig.max_face_gap must be >= 0 frames or None, got {self.max_face_gap}")
        if not self.gpu_wait_s >= 0:
            raise ValueError(f"BatchConfig.gpu_wait_s must be >= 0, got {self.gpu_wait_s}")
        from lipforge.infer.scheduler_config import SAMPLER_NAMES

        if self.sampler not in SAMPLER_NAMES:
            raise ValueError(f"BatchConfig.sampler must be one of {', '.join(SAMPLER_NAMES)}, got {self.sampler!r}")
        if self.max_prepared is not None and self.max_prepared < 1:
            raise ValueError(f"BatchConfig.max_prepared must be >= 1 or None, got {self.max_prepared}")
        if self.num_gpus_per_actor is not None and self.num_gpus_per_actor < 0:
            raise ValueError(f"BatchConfig.num_gpus_per_actor must be >= 0, got {self.num_gpus_per_actor}")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"BatchConfig.fps must be > 0 or None (the source's), got {self.fps}")
        if self.dtype not in ("auto", "bf16", "fp16", "fp32"):
            raise ValueError(f"BatchConfig.dtype must be auto, bf16, fp16 or fp32, got {self.dtype!r}")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"BatchConfig.device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if (self.audio_guidance_scale is None) != (self.identity_guidance_scale is None):
            raise ValueError("BatchConfig: set both audio_guidance_scale and identity_guidance_scale, or neither "
                             f"(got {self.audio_guidance_scale}, {self.identity_guidance_scale})")

    @property
    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else Path(self.work_dir) / "cache"

    def prepared_limit(self, actors: int) -> int:
        return self.max_prepared or 2 * max(1, actors)


def read_jobs(path: str | Path) -> list[dict[str, str]]:
    """Jobs table (.parquet or .csv) -> rows of absolute (video, audio, output) paths + job_id.

    Relative paths are relative to the jobs file's folder.
    """
    import pandas as pd

    path = Path(path)
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    elif path.suffix == ".csv":
        df = pd.read_csv(path)
    else:
        raise ValueError(f"jobs file must be .parquet or .csv, got {path}")
    missing = [c for c in JOB_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"jobs file {path} lacks columns {missing} (has {list(df.columns)})")
    rows = []
    for r in df[list(JOB_COLUMNS)].itertuples(index=False):
        row = {c: str((path.parent / str(v)).resolve()) if not os.path.isabs(str(v)) else str(v)
               for c, v in zip(JOB_COLUMNS, r)}
        row["job_id"] = hashlib.sha1("\0".join(row[c] for c in JOB_COLUMNS).encode()).hexdigest()[:16]
        rows.append(row)
    outs = [r["output"] for r in rows]
    if len(set(outs)) != len(outs):
        raise ValueError(f"jobs file {path}: several jobs write the same output")
    from lipforge.infer.inputs import check_job_paths

    for i, r in enumerate(rows):
        try:
            check_job_paths(r["video"], r["audio"], r["output"])
        except ValueError as e:
            raise ValueError(f"jobs file {path}, row {i + 1}: {e}") from None
    return rows


def config_dict(cfg: BatchConfig) -> dict:
    return asdict(cfg)
