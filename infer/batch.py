"""Many inference jobs on Ray Data: CPU prepare -> model actors -> CPU finish, resumable.

Each row of the jobs table is (video, audio, output). The three stages are separate Ray Data
operators so the model actors never wait for decoding, cropping, compositing or encoding:

* ``prepare`` (CPU tasks): streamed decode, face track per shot (cached per source video by
  content hash under ``cache_dir``), crops -> ``<work>/<job>.prep.npz`` + ``<job>.crops.u8``;
* ``generate`` (actors; the model is loaded once per actor, ``num_gpus`` each): VAE encode (the
  masked crops' latents cached per source video under ``cache_dir``, :mod:`infer.latent_cache`),
  sampling and VAE decode -> ``<work>/<job>.gen.u8`` (a FrameStore: decoded chunks go to disk);
* ``finish`` (CPU tasks): paste-back and muxing; the output is written under a temporary name
  and renamed, so an output that exists is complete.

A rerun skips a job only when its output exists and was made with the same checkpoint (content
hash) and output settings (:mod:`lipforge.infer.resume`); outputs made otherwise are refused
(one line, exit 2) unless ``overwrite``, then redone. A failing job becomes a row with
``status="error"`` and a one-line message naming the file and the reason; it never fails the
batch. The result table, with each job's settings, checkpoint hash and device, goes to
``<work>/results.parquet``. Model actors request GPUs from the Ray cluster's resources and a
batch never runs the model on CPUs unless ``device="cpu"`` (:mod:`lipforge.infer.devices`).
This is the only module of ``infer`` that imports Ray (inside functions).

>>> run_jobs("jobs.csv", BatchConfig(checkpoint="ckpt/", work_dir="work/"))   # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import os
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

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
    num_actors: int = 1
    num_gpus_per_actor: float | None = None  # None: 1 per actor, from the cluster's GPUs (0 with device="cpu")
    prepare_cpus: float = 1.0
    ray_num_cpus: int | None = None  # only when this process starts Ray
    ray_address: str = "local"  # "local": a private runtime for this run; "auto" or host:port: join a cluster
    cache_latents: bool = True  # keep the masked crops' VAE latents per source video under cache_dir
    fps: float | None = None  # output fps; None: the source's
    dtype: str = "auto"  # auto | bf16 | fp16 | fp32
    overwrite: bool = False  # redo outputs made with another checkpoint or settings

    def __post_init__(self) -> None:
        if self.runner not in ("ray", "local"):
            raise ValueError(f"BatchConfig.runner must be 'ray' or 'local', got {self.runner!r}")
        if self.num_actors < 1:
            raise ValueError(f"BatchConfig.num_actors must be >= 1, got {self.num_actors}")
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
    return rows


def _row(job: dict, **kw) -> dict[str, Any]:
    base = {"job_id": job["job_id"], "video": job["video"], "audio": job["audio"], "output": job["output"],
            "status": "pending", "error": "", "traceback": "", "prep_path": "", "gen_path": "",
            "seconds_prepare": 0.0, "seconds_generate": 0.0, "seconds_finish": 0.0, "device": ""}
    base.update({k: job[k] for k in base if k in job})
    base.update(kw)
    return base


def _fail(row: dict, stage: str, e: BaseException) -> dict:
    from lipforge.infer.errors import user_errors

    msg = " ".join(str(e).split())
    row["status"] = "error"
    row["error"] = f"{stage}: {msg}" if isinstance(e, user_errors()) else f"{stage}: {type(e).__name__}: {msg}"
    row["traceback"] = traceback.format_exc(limit=5)
    return row


def prepare_row(row: dict, cfg: BatchConfig, crop_size: int) -> dict:
    from lipforge.infer.prepare import prepare_job
    from lipforge.infer.recipe import Recipe

    row = _row(row)
    t = time.perf_counter()
    try:
        # the checkpoint's crop / mask recipe, as LipSyncPipeline.prepare uses it
        prep = prepare_job(row["video"], row["audio"], crop_size, cache_dir=cfg.cache, seed=cfg.seed,
                           work_dir=Path(cfg.work_dir) / "jobs" / row["job_id"], recipe=Recipe.load(cfg.checkpoint))
        path = Path(cfg.work_dir) / f"{row['job_id']}.prep.npz"
        prep.save(path)
        row["prep_path"] = str(path)
    except Exception as e:  # a bad job is a row, not a failed batch
        _fail(row, "prepare", e)
    row["seconds_prepare"] = time.perf_counter() - t
    return row


def finish_row(row: dict, cfg: BatchConfig, ckpt: str = "", settings: dict | None = None) -> dict:
    import shutil

    from lipforge.infer.framestore import FrameStore
    from lipforge.infer.prepare import PreparedJob, finish_job
    from lipforge.infer.resume import write_record

    row = _row(row)
    if row["status"] == "error":
        return row
    t = time.perf_counter()
    try:
        prep = PreparedJob.load(row["prep_path"])
        gen = FrameStore(row["gen_path"], prep.store.frame_shape)
        jobdir = Path(cfg.work_dir) / "jobs" / row["job_id"]
        finish_job(prep, gen, row["output"], fps=cfg.fps, work_dir=jobdir)
        write_record(cfg.work_dir, row, ckpt, settings if settings is not None else {})
        row["status"] = "done"
        gen.unlink()
        Path(row["prep_path"]).unlink(missing_ok=True)
        shutil.rmtree(jobdir, ignore_errors=True)
    except Exception as e:
        _fail(row, "finish", e)
    row["seconds_finish"] = time.perf_counter() - t
    return row


def default_generator(cfg: BatchConfig) -> Callable:
    """Load the LipSyncPipeline once; returns ``PreparedJob -> (T, S, S, 3) uint8``."""
    from lipforge.infer.devices import describe, resolve_device, resolve_dtype
    from lipforge.infer.pipeline import LipSyncPipeline

    # cfg.device was resolved by run_jobs: "cpu" only when asked for; "cuda" inside an actor that Ray
    # gave a GPU (it sees only its own through CUDA_VISIBLE_DEVICES); an unusable device fails here
    device = resolve_device(cfg.device, allow_cpu_fallback=False)
    pipe = LipSyncPipeline.from_pretrained(cfg.checkpoint, device=device, dtype=resolve_dtype(cfg.dtype, device))
    pipe.cast_weights()

    def generate(prep, out_store):
        return pipe.generate(prep, num_inference_steps=cfg.num_inference_steps, guidance_scale=cfg.guidance_scale,
                             audio_guidance_scale=cfg.audio_guidance_scale,
                             identity_guidance_scale=cfg.identity_guidance_scale,
                             segment_length=cfg.segment_length, overlap=cfg.overlap, seed=cfg.seed,
                             progress=False, latent_cache_dir=cfg.cache if cfg.cache_latents else None,
                             out_store=out_store)

    generate.crop_size = pipe.resolution
    generate.device = describe(pipe.device)
    return generate


class GenerateStage:
    """Holds the model for the lifetime of an actor; one job per call."""

    def __init__(self, cfg: BatchConfig, factory: Callable | None = None) -> None:
        self.cfg = cfg
        self.generate = (factory or default_generator)(cfg)
        self.device = getattr(self.generate, "device", "")

    def row(self, row: dict) -> dict:
        from lipforge.infer.framestore import FrameStore
        from lipforge.infer.prepare import PreparedJob

        row = _row(row)
        if row["status"] == "error":
            return row
        t = time.perf_counter()
        try:
            path = Path(self.cfg.work_dir) / f"{row['job_id']}.gen.u8"
            tmp = path.with_name(path.name + ".partial")
            gen = self.generate(PreparedJob.load(row["prep_path"]), tmp)
            if not isinstance(gen, FrameStore):  # a factory that returns an array
                FrameStore.create(tmp, np.shape(gen)[1:]).append(np.asarray(gen, np.uint8))
            os.replace(tmp, path)
            row["gen_path"] = str(path)
            row["device"] = self.device
        except Exception as e:
            _fail(row, "generate", e)
        row["seconds_generate"] = time.perf_counter() - t
        return row

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        """Ray Data batch (dict of columns) -> the same columns, each job processed."""
        n = len(next(iter(batch.values())))
        rows = [self.row({k: _py(v[i]) for k, v in batch.items()}) for i in range(n)]
        return {k: [r.get(k, "") for r in rows] for k in rows[0]}


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def _crop_size(cfg: BatchConfig) -> int:
    if cfg.crop_size:
        return int(cfg.crop_size)
    from lipforge.infer.pipeline import LipSyncPipeline

    return LipSyncPipeline.resolution_of(cfg.checkpoint)


def run_jobs(jobs: str | Path | list[dict], cfg: BatchConfig, factory: Callable | None = None,
             log: Callable[[str], None] = print) -> list[dict]:
    """Run every job not yet done with this checkpoint and these settings; one result row per job.

    Raises ValueError (one line) when outputs made with another checkpoint or settings exist and
    ``cfg.overwrite`` is not set, or when no device is usable (see :mod:`lipforge.infer.devices`).
    """
    import dataclasses
    import json

    from lipforge.infer.resume import checkpoint_hash, job_state, output_settings, settings_hash

    rows = read_jobs(jobs) if not isinstance(jobs, list) else jobs
    ckpt = checkpoint_hash(cfg.checkpoint) if cfg.checkpoint else ""
    settings = output_settings(cfg)
    state = {r["job_id"]: job_state(cfg.work_dir, r, ckpt, settings) for r in rows}
    stale = [r for r in rows if state[r["job_id"]] == "stale"]
    if stale and not cfg.overwrite:
        raise ValueError(f"{len(stale)} output(s) exist that were not made with this checkpoint and these settings "
                         f"(e.g. {stale[0]['output']}); pass --overwrite to redo them, or use another output path")
    Path(cfg.work_dir).mkdir(parents=True, exist_ok=True)
    cfg.cache.mkdir(parents=True, exist_ok=True)
    skipped = [_row(r, status="skipped") for r in rows if state[r["job_id"]] == "done"]
    pending = [r for r in rows if state[r["job_id"]] != "done"]
    log(f"lipforge infer: {len(rows)} jobs, {len(skipped)} already done, {len(pending)} to run ({cfg.runner})"
        + (f", {len(stale)} redone (--overwrite)" if stale else ""))
    cfg_file = Path(cfg.work_dir) / "infer_config.json"
    tmp = cfg_file.with_name(cfg_file.name + ".partial")
    tmp.write_text(json.dumps({**config_dict(cfg), "checkpoint_hash": ckpt}, indent=2))
    os.replace(tmp, cfg_file)
    done: list[dict] = []
    if pending:
        crop = _crop_size(cfg)
        if cfg.runner == "local":
            from lipforge.infer.devices import resolve_device

            local = dataclasses.replace(cfg, device=resolve_device(cfg.device, allow_cpu_fallback=False))
            stage = GenerateStage(local, factory)
            log(f"lipforge infer: model on {stage.device or local.device}")
            for r in pending:
                done.append(finish_row(stage.row(prepare_row(r, local, crop)), local, ckpt, settings))
                log(f"  {done[-1]['status']}: {done[-1]['output']} {done[-1]['error']}")
        else:
            done = _run_ray(pending, cfg, crop, factory, log, ckpt, settings)
    results = skipped + done
    for r in results:
        r.update(checkpoint_hash=ckpt, settings_hash=settings_hash(settings), settings=json.dumps(settings))
    _write_results(results, Path(cfg.work_dir) / "results.parquet")
    return results


def _start_ray(cfg: BatchConfig) -> bool:
    """A private Ray runtime for this run (``ray_address="local"``), or join the given cluster.

    Returns True when this call initialised Ray (the caller then shuts it down, which stops a
    private runtime's processes or just disconnects from a cluster); False when the process was
    already connected.
    """
    for k, v in (("RAY_USAGE_STATS_ENABLED", "0"), ("RAY_AUTH_MODE", "disabled")):
        os.environ.setdefault(k, v)  # never let usage stats probe the network
    import ray

    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"address": cfg.ray_address, "log_to_driver": False}
    if cfg.ray_address == "local":
        kw["include_dashboard"] = False
    if cfg.ray_num_cpus and cfg.ray_address == "local":
        kw["num_cpus"] = cfg.ray_num_cpus
    ray.init(**kw)
    return True


def _run_ray(pending: list[dict], cfg: BatchConfig, crop: int, factory, log, ckpt: str = "",
             settings: dict | None = None) -> list[dict]:
    import dataclasses

    started = _start_ray(cfg)
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    from lipforge.infer.devices import plan_actor_gpus

    try:
        gpus, line = plan_actor_gpus("cpu" if cfg.device == "cpu" else cfg.device, cfg.num_actors,
                                     cfg.num_gpus_per_actor, float(ray.cluster_resources().get("GPU", 0)))
        log(f"lipforge infer: {line}")
        # inside an actor Ray gave GPUs to, "auto" means its own GPU(s); with 0 GPUs only "cpu" was allowed
        actor_cfg = dataclasses.replace(cfg, device="cpu" if gpus == 0 else
                                        ("cuda" if cfg.device == "auto" else cfg.device), num_gpus_per_actor=gpus)
        DataContext.get_current().enable_progress_bars = False
        ds = ray.data.from_items(pending, override_num_blocks=len(pending))
        ds = ds.map(prepare_row, fn_kwargs={"cfg": cfg, "crop_size": crop}, num_cpus=cfg.prepare_cpus)
        ds = ds.map_batches(GenerateStage, fn_constructor_args=(actor_cfg, factory), batch_size=1,
                            compute=ActorPoolStrategy(size=cfg.num_actors), num_gpus=gpus,
                            num_cpus=1, batch_format="numpy")
        ds = ds.map(finish_row, fn_kwargs={"cfg": cfg, "ckpt": ckpt, "settings": settings or {}}, num_cpus=1)
        out = []
        for r in ds.iter_rows():
            r = {k: _py(v) for k, v in r.items()}
            out.append(r)
            log(f"  {r['status']}: {r['output']} {r['error']}")
        return out
    finally:
        if started:
            ray.shutdown()


def _write_results(rows: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = ("job_id", "video", "audio", "output", "status", "error", "seconds_prepare", "seconds_generate",
            "seconds_finish", "device", "checkpoint_hash", "settings_hash", "settings")
    table = pa.table({c: [r.get(c, "" if not c.startswith("seconds") else 0.0) for r in rows] for c in cols})
    tmp = path.with_name(path.name + ".partial")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def config_dict(cfg: BatchConfig) -> dict:
    return asdict(cfg)
