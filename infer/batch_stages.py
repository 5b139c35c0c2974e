"""The three per-job stages of a batch: prepare (CPU), generate (model actor), finish (CPU).

Each takes and returns a result row (a dict of plain values, as Ray Data carries it); a failing
job becomes ``status="error"`` with a one-line message and its traceback, never an exception.
No Ray here: :mod:`lipforge.infer.batch` maps these onto Ray Data or runs them in-process.
"""
from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lipforge.infer.jobs import BatchConfig


def result_row(job: dict, **kw) -> dict[str, Any]:
    base = {"job_id": job["job_id"], "video": job["video"], "audio": job["audio"], "output": job["output"],
            "status": "pending", "error": "", "traceback": "", "prep_path": "", "gen_path": "",
            "seconds_prepare": 0.0, "seconds_generate": 0.0, "seconds_finish": 0.0, "device": "", "input_ids": ""}
    base.update({k: job[k] for k in base if k in job})
    base.update(kw)
    return base


def fail_row(row: dict, stage: str, e: BaseException) -> dict:
    from lipforge.infer.errors import user_errors

    msg = " ".join(str(e).split())
    row["status"] = "error"
    row["error"] = f"{stage}: {msg}" if isinstance(e, user_errors()) else f"{stage}: {type(e).__name__}: {msg}"
    row["traceback"] = traceback.format_exc(limit=5)
    return row


def prepare_row(row: dict, cfg: BatchConfig, crop_size: int, max_prepared: int | None = None) -> dict:
    """Prepare one job after taking a prepare slot (``max_prepared``; the model actor gives it back)."""
    import shutil

    from lipforge.infer.cluster import PrepareSlots
    from lipforge.infer.prepare import prepare_job
    from lipforge.infer.recipe import Recipe
    from lipforge.infer.resume import input_ids

    row = result_row(row)
    slots = PrepareSlots(cfg.work_dir, max_prepared) if max_prepared else None
    if slots is not None:
        slots.take(row["job_id"])
    t = time.perf_counter()
    jobdir = Path(cfg.work_dir) / "jobs" / row["job_id"]
    try:
        shutil.rmtree(jobdir, ignore_errors=True)  # a killed run's scratch of this job
        row["input_ids"] = input_ids(row)  # the inputs as read now: the done record keeps them
        # the checkpoint's crop / mask recipe, as LipSyncPipeline.prepare uses it
        prep = prepare_job(row["video"], row["audio"], crop_size, cache_dir=cfg.cache, seed=cfg.seed,
                           work_dir=jobdir, recipe=Recipe.load(cfg.checkpoint), max_face_gap=cfg.max_face_gap)
        path = Path(cfg.work_dir) / f"{row['job_id']}.prep.npz"
        prep.save(path)
        row["prep_path"] = str(path)
    except Exception as e:  # a bad job is a row, not a failed batch
        fail_row(row, "prepare", e)
        shutil.rmtree(jobdir, ignore_errors=True)
        if slots is not None:
            slots.give(row["job_id"])
    row["seconds_prepare"] = time.perf_counter() - t
    return row


def finish_row(row: dict, cfg: BatchConfig, ckpt: str = "", settings: dict | None = None) -> dict:
    import shutil

    from lipforge.infer.framestore import FrameStore
    from lipforge.infer.prepare import PreparedJob, finish_job
    from lipforge.infer.resume import write_record

    row = result_row(row)
    if row["status"] == "error":
        return row
    t = time.perf_counter()
    try:
        prep = PreparedJob.load(row["prep_path"])
        gen = FrameStore(row["gen_path"], prep.store.frame_shape)
        jobdir = Path(cfg.work_dir) / "jobs" / row["job_id"]
        finish_job(prep, gen, row["output"], fps=cfg.fps, work_dir=jobdir, audio_mix=cfg.audio_mix)
        write_record(cfg.work_dir, row, ckpt, settings if settings is not None else {})
        row["status"] = "done"
        gen.unlink()
        Path(row["prep_path"]).unlink(missing_ok=True)
        shutil.rmtree(jobdir, ignore_errors=True)
    except Exception as e:
        fail_row(row, "finish", e)
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
                             out_store=out_store, sampler=cfg.sampler)

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
        from lipforge.infer.cluster import PrepareSlots

        row = result_row(row)
        if row["status"] == "error":
            return row
        t = time.perf_counter()
        try:
            return self._generate(row)
        finally:
            PrepareSlots(self.cfg.work_dir, 1).give(row["job_id"])  # sampled (or failed): a slot frees
            row["seconds_generate"] = time.perf_counter() - t

    def _generate(self, row: dict) -> dict:
        from lipforge.infer.framestore import FrameStore
        from lipforge.infer.prepare import PreparedJob

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
            fail_row(row, "generate", e)
        return row

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        """Ray Data batch (dict of columns) -> the same columns, each job processed."""
        n = len(next(iter(batch.values())))
        rows = [self.row({k: plain(v[i]) for k, v in batch.items()}) for i in range(n)]
        return {k: [r.get(k, "") for r in rows] for k in rows[0]}


def plain(v):
    return v.item() if isinstance(v, np.generic) else v


def crop_size_of(cfg: BatchConfig) -> int:
    if cfg.crop_size:
        return int(cfg.crop_size)
    from lipforge.infer.pipeline import LipSyncPipeline

    return LipSyncPipeline.resolution_of(cfg.checkpoint)


