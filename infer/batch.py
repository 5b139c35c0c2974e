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

A rerun skips a job only when its output exists and was made from the same inputs (content
identity: size, mtime, edge hashes), with the same checkpoint (content hash) and output settings
(:mod:`lipforge.infer.resume`); a changed input is redone, outputs made with other settings are
refused (one line, exit 2) unless ``overwrite``, then redone. A failing job becomes a row with
``status="error"``, a one-line message naming the file and the reason, and its traceback; it
never fails the batch. The result table, with each job's settings, checkpoint hash, input
identities and device, goes to ``<work>/results.parquet`` after every finished job. Model actors
request GPUs from the Ray cluster's resources (waiting, bounded, for an autoscaling cluster's GPU
nodes to join: :mod:`lipforge.infer.cluster`), one actor per GPU by default, and a batch never
runs the model on CPUs unless ``device="cpu"`` (:mod:`lipforge.infer.devices`). At most
``max_prepared`` jobs wait prepared for the model (their crop files are on disk). This is the
only module of ``infer`` that imports Ray (inside functions).

>>> run_jobs("jobs.csv", BatchConfig(checkpoint="ckpt/", work_dir="work/"))   # doctest: +SKIP
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from lipforge.infer.batch_stages import (
    GenerateStage,
    crop_size_of,
    fail_row,
    finish_row,
    plain,
    prepare_row,
    result_row,
)
from lipforge.infer.jobs import BatchConfig, config_dict, read_jobs


def run_jobs(jobs: str | Path | list[dict], cfg: BatchConfig, factory: Callable | None = None,
             log: Callable[[str], None] = print) -> list[dict]:
    """Run every job not yet done with this checkpoint and these settings; one result row per job.

    Raises ValueError (one line) when outputs made with another checkpoint or settings exist and
    ``cfg.overwrite`` is not set, or when no device is usable (see :mod:`lipforge.infer.devices`).
    """
    import dataclasses
    import json

    from lipforge.infer.cluster import PrepareSlots
    from lipforge.infer.resume import ResultsTable, checkpoint_hash, job_state, output_settings, settings_hash

    rows = read_jobs(jobs) if not isinstance(jobs, list) else jobs
    ckpt = checkpoint_hash(cfg.checkpoint) if cfg.checkpoint else ""
    settings = output_settings(cfg)
    state = {r["job_id"]: job_state(cfg.work_dir, r, ckpt, settings) for r in rows}
    stale = [r for r in rows if state[r["job_id"]] == "stale"]
    changed = [r for r in rows if state[r["job_id"]] == "changed"]
    if stale and not cfg.overwrite:
        raise ValueError(f"{len(stale)} output(s) exist that were not made with this checkpoint and these settings "
                         f"(e.g. {stale[0]['output']}); pass --overwrite to redo them, or use another output path")
    Path(cfg.work_dir).mkdir(parents=True, exist_ok=True)
    cfg.cache.mkdir(parents=True, exist_ok=True)
    PrepareSlots(cfg.work_dir, 1).clear()  # a killed run's slots
    table = ResultsTable(Path(cfg.work_dir) / "results.parquet",
                         {"checkpoint_hash": ckpt, "settings_hash": settings_hash(settings),
                          "settings": json.dumps(settings)})
    for r in rows:
        if state[r["job_id"]] == "done":
            table.add(result_row(r, status="skipped"), write=False)
    table.write()
    pending = [r for r in rows if state[r["job_id"]] != "done"]
    log(f"lipforge infer: {len(rows)} jobs, {len(rows) - len(pending)} already done, {len(pending)} to run "
        f"({cfg.runner})" + (f", {len(stale)} redone (--overwrite)" if stale else "")
        + (f", {len(changed)} redone (an input changed since its output was made)" if changed else ""))
    cfg_file = Path(cfg.work_dir) / "infer_config.json"
    tmp = cfg_file.with_name(cfg_file.name + ".partial")
    tmp.write_text(json.dumps({**config_dict(cfg), "checkpoint_hash": ckpt}, indent=2))
    os.replace(tmp, cfg_file)

    def finished(r: dict) -> None:
        table.add(r)  # results.parquet after every job: a kill leaves the account of what finished
        log(f"  {r['status']}: {r['output']} {r['error']}")

    if pending:
        crop = crop_size_of(cfg)
        if cfg.runner == "local":
            _run_local(pending, cfg, crop, factory, log, ckpt, settings, finished)
        else:
            _run_ray(pending, cfg, crop, factory, log, ckpt, settings, finished)
    order = {r["job_id"]: i for i, r in enumerate(rows)}
    table.rows.sort(key=lambda r: order.get(r["job_id"], len(order)))  # the jobs table's order
    table.write()
    return table.rows


def _run_local(pending: list[dict], cfg: BatchConfig, crop: int, factory, log, ckpt: str, settings: dict,
               finished: Callable[[dict], None]) -> None:
    """In this process, one job after another; every job's inputs are probed before the model loads
    (a batch of bad inputs fails in seconds, without loading it)."""
    import dataclasses

    from lipforge.infer.devices import resolve_device
    from lipforge.infer.inputs import probe_inputs

    local = dataclasses.replace(cfg, device=resolve_device(cfg.device, allow_cpu_fallback=False))
    good = []
    for r in pending:
        try:
            probe_inputs(r["video"], r["audio"])
            good.append(r)
        except Exception as e:  # a bad job is a row, not a failed batch
            finished(fail_row(result_row(r), "prepare", e))
    if not good:
        return
    from lipforge.infer.scratch import sigterm_exits

    stage = GenerateStage(local, factory)
    log(f"lipforge infer: model on {stage.device or local.device}")
    with sigterm_exits():  # a SIGTERM unwinds the job: its partial output and spool go (jobs/<id> at the next run)
        for r in good:
            finished(finish_row(stage.row(prepare_row(r, local, crop)), local, ckpt, settings))


def _start_ray(cfg: BatchConfig) -> bool:
    """A private loopback-only Ray runtime for this run (``ray_address="local"``), or join the
    given cluster (:func:`lipforge.local_ray.start_ray`).

    Returns True when this call initialised Ray (the caller then shuts it down, which stops a
    private runtime's processes or just disconnects from a cluster); False when the process was
    already connected.
    """
    from lipforge.local_ray import start_ray

    local = cfg.ray_address == "local"
    return start_ray(cfg.ray_address, num_cpus=cfg.ray_num_cpus if local and cfg.ray_num_cpus else None,
                     log_to_driver=False)


def _request_gpus(bundles: list[dict]) -> None:
    """Ask the autoscaler for GPU nodes (a cluster without an autoscaler ignores the request)."""
    try:
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=bundles)
    except Exception:  # noqa: BLE001 - no autoscaler (a fixed or local cluster): nothing to ask
        pass


def _run_ray(pending: list[dict], cfg: BatchConfig, crop: int, factory, log, ckpt: str, settings: dict,
             finished: Callable[[dict], None]) -> None:
    import dataclasses

    started = _start_ray(cfg)
    import ray
    from ray.data import ActorPoolStrategy, DataContext, TaskPoolStrategy

    from lipforge.infer.cluster import plan_actors, wait_for_gpus
    from lipforge.infer.devices import plan_actor_gpus

    asked = False
    try:
        def cluster_gpus() -> float:
            return float(ray.cluster_resources().get("GPU", 0))

        have = cluster_gpus()
        if cfg.device != "cpu" and cfg.ray_address != "local":  # a private runtime never grows: no wait
            g = float(cfg.num_gpus_per_actor or 1.0)
            n = cfg.num_actors or 1

            def request() -> None:
                nonlocal asked
                asked = True
                _request_gpus([{"GPU": g}] * n)

            have = wait_for_gpus(cluster_gpus, n * g, cfg.gpu_wait_s, log, request)
        actors = plan_actors(cfg.num_actors, 0.0 if cfg.device == "cpu" else float(cfg.num_gpus_per_actor or 1.0),
                             have)
        gpus, line = plan_actor_gpus("cpu" if cfg.device == "cpu" else cfg.device, actors,
                                     cfg.num_gpus_per_actor, have)
        limit = cfg.prepared_limit(actors)
        log(f"lipforge infer: {line}; at most {limit} job(s) prepared ahead of the model")
        # inside an actor Ray gave GPUs to, "auto" means its own GPU(s); with 0 GPUs only "cpu" was allowed
        actor_cfg = dataclasses.replace(cfg, device="cpu" if gpus == 0 else
                                        ("cuda" if cfg.device == "auto" else cfg.device), num_gpus_per_actor=gpus)
        DataContext.get_current().enable_progress_bars = False
        ds = ray.data.from_items(pending, override_num_blocks=len(pending))
        ds = ds.map(prepare_row, fn_kwargs={"cfg": cfg, "crop_size": crop, "max_prepared": limit},
                    num_cpus=cfg.prepare_cpus, compute=TaskPoolStrategy(size=limit))
        ds = ds.map_batches(GenerateStage, fn_constructor_args=(actor_cfg, factory), batch_size=1,
                            compute=ActorPoolStrategy(size=actors), num_gpus=gpus,
                            num_cpus=1, batch_format="numpy")
        ds = ds.map(finish_row, fn_kwargs={"cfg": cfg, "ckpt": ckpt, "settings": settings}, num_cpus=1)
        for r in ds.iter_rows():
            finished({k: plain(v) for k, v in r.items()})
    finally:
        if asked:
            _request_gpus([])  # the autoscaler may let the GPU nodes go again
        if started:
            ray.shutdown()


