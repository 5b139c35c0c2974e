"""The training loop: build from config, load checkpoint, loop, close in ``finally``.

Run under torchrun for DDP (gloo on CPU, nccl on CUDA); one process without it. Every step draws
its randomness from a generator seeded by (seed, step, rank) and reads the batch at the saved
data position, so a resumed run continues bit for bit (checked in tests/train/test_resume.py).
Every ``validate_every`` steps rank 0 writes a sample with the EMA weights (train/validate.py)
without touching the training state.

The misuse paths (a used output directory, ``--resume`` without a checkpoint, a changed config
on resume) are refused with one line before anything is written (:mod:`lipforge.train.rundir`).
A sample that cannot be read is left out of its batch and counted; past
``data.max_bad_fraction`` of the samples seen the run stops (:class:`BadDataError`).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from lipforge.errors import UserError
from lipforge.infer.models import LipSyncModel, LipSyncModelConfig
from lipforge.infer.models.lipsync import check_pretrained_dirs
from lipforge.infer.models.audio import whisper_chunk_samples
from lipforge.infer.scheduler import EDMScheduler
from lipforge.train.checkpoint import CheckpointManager, rng_states, set_rng_states
from lipforge.train.config import TrainConfig
from lipforge.train.loader import DataPosition, ShardLoader, WindowSpec, seed_everything
from lipforge.train.objective import compute_loss, step_generator
from lipforge.train.optim import build_optimizer
from lipforge.train.progress import Interval, log_interval, make_tracker, progress_bar
from lipforge.train.rundir import RunDirError, check_fresh_output_dir, check_resume_config, no_checkpoint_message
from lipforge.train.schedule import lr_at
from lipforge.train.validate import check_validation_inputs, log_sample_to_tensorboard, write_validation_sample

log = logging.getLogger(__name__)


class BadDataError(UserError, ValueError):
    """More unreadable samples than ``data.max_bad_fraction`` allows (a user error: exit code 2)."""


class _StopFlag:
    """SIGTERM / SIGUSR1 (cluster preemption) -> save a checkpoint at the end of the step, then exit."""

    def __init__(self) -> None:
        self.set = False
        self._old = {}
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. some test runners)
                pass

    def _handle(self, signum, frame) -> None:
        log.warning("signal %s: checkpointing after this step", signum)
        self.set = True

    def restore(self) -> None:
        for sig, h in self._old.items():
            signal.signal(sig, h)


def _frozen_random(cfg: TrainConfig) -> list[str]:
    """Frozen parts built with random init (no pretrained dir) are saved too: they are not on disk."""
    return (["vae"] if cfg.model.svd_dir is None else []) + (["whisper"] if cfg.model.whisper_dir is None else [])


def window_spec(cfg: TrainConfig) -> WindowSpec:
    m, d = cfg.model, cfg.data
    return WindowSpec(m.num_frames, m.resolution, m.audio_context_k, d.mask_field, d.min_ref_distance, d.shuffle_buffer,
                      d.use_cached_latents, d.use_cached_audio, m.audio_features_per_frame, whisper_chunk_samples(m))


def _autocast_dtype(cfg: TrainConfig, cuda: bool) -> torch.dtype | None:
    mp = cfg.mixed_precision
    if mp == "auto":
        return torch.bfloat16 if cuda else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "no": None}[mp]


class _BadSamples:
    """Unreadable samples: counted, logged, and the run stopped past the allowed fraction."""

    def __init__(self, max_fraction: float, state: dict | None = None) -> None:
        self.max_fraction = max_fraction
        self.seen = int((state or {}).get("seen", 0))
        self.bad = int((state or {}).get("bad", 0))
        self.error: str | None = None  # set once too many were seen; the loop stops every rank on it

    def update(self, n_good: int, bad: list[tuple[str, str]]) -> None:
        self.seen += n_good + len(bad)
        for key, reason in bad:
            self.bad += 1
            log.warning("sample %s skipped: %s (%d unreadable of %d seen)", key, reason, self.bad, self.seen)
        # one bad sample never stops a run; more than the allowed share of those seen does
        if bad and self.error is None and self.bad > max(1.0, self.max_fraction * self.seen):
            key, reason = bad[-1]
            self.error = (f"{self.bad} of {self.seen} samples unreadable, more than data.max_bad_fraction="
                          f"{self.max_fraction}; last: {key}: {reason}")

    def state(self) -> dict[str, int]:
        return {"seen": self.seen, "bad": self.bad}


def train(cfg: TrainConfig, resume: bool | str | Path = False, stop_at_step: int | None = None,
          rank: int | None = None, world_size: int | None = None, overwrite: bool = False,
          allow_config_change: bool = False, report_to: str = "tensorboard") -> list[dict[str, Any]]:
    """Train to ``cfg.max_steps`` (or checkpoint and stop after ``stop_at_step``, as a preemption
    would). Returns this process's history: one dict per step with step, loss, keys, timings.

    ``resume``: False (a fresh run; the output dir must be empty unless ``overwrite``), True
    (continue the latest committed checkpoint; none is an error), ``"if-any"`` (continue it
    when there is one, else start fresh) or a checkpoint directory (continue that one).
    ``report_to``: tensorboard | wandb (offline mode) | none."""
    if not (resume in (False, True, "if-any") or isinstance(resume, (str, Path))):
        raise ValueError(f"train: resume must be False, True, 'if-any' or a checkpoint path, got {resume!r}")
    if report_to not in ("tensorboard", "wandb", "none"):
        raise ValueError(f"--report_to must be tensorboard, wandb or none, got {report_to!r}")
    rank = int(os.environ.get("RANK", "0")) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", "1")) if world_size is None else world_size
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if cuda else "cpu")
    # a process group the caller made (scripts/gpu-check.sh: NCCL with one rank) is used as is
    distributed = world_size > 1 or (dist.is_available() and dist.is_initialized())
    if cuda:
        # NCCL collectives (barrier, all_gather_object) run on the *current* device: without this
        # every rank would use cuda:0 (hangs or oversubscribes GPU 0)
        torch.cuda.set_device(device)
        # TF32 for the fp32 matmuls/convolutions left outside autocast (Ampere and newer; a switch)
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.backends.cudnn.allow_tf32 = cfg.tf32
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world_size,
                                timeout=timedelta(seconds=cfg.pg_timeout_s))
    out = Path(cfg.output_dir)
    ckpts = CheckpointManager(out / "checkpoints", keep_last=cfg.keep_last)
    stop = _StopFlag()
    writer = None
    bar = None
    history: list[dict[str, Any]] = []
    try:
        # ---- inputs: corpus, where, streams, model files, validation pair (before the model is
        # built and before anything is written: a typo costs seconds, not a model load per rank)
        loader = ShardLoader.from_config(cfg.data, rank, world_size, cfg.seed, window_spec(cfg))
        loader.batches_per_epoch(0)  # "more streams than shards / samples" is refused here
        check_pretrained_dirs(cfg.model)
        if rank == 0 and cfg.validate_every > 0:
            check_validation_inputs(cfg.validation)
        # ---- the run directory (before anything is written) ---------------------------------
        latest = _checkpoint_to_resume(ckpts, resume)
        if latest is None:
            check_fresh_output_dir(out, overwrite, delete=rank == 0, resuming=resume == "if-any")
        else:  # from the checkpoint's config.yaml: refused before minutes of model loading, not after
            import yaml

            old_cfg = yaml.safe_load((latest / "config.yaml").read_text()) or {}
            for c in check_resume_config(_resolved(old_cfg), cfg.to_dict(), latest, allow_config_change):
                log.warning("resume with a changed config: %s", c)
        if distributed:
            dist.barrier()  # every rank checked the directory before rank 0 writes into it
        # ---- build -------------------------------------------------------------------------
        seed_everything(cfg.seed)
        model = LipSyncModel.from_config(cfg.model).to(device)
        trainable = model.trainable_modules()
        params = [p for p in trainable.parameters() if p.requires_grad]
        opt = build_optimizer(params, cfg.optim)
        ema = {k: v.detach().clone() for k, v in trainable.state_dict().items()} if cfg.optim.ema else {}
        amp_dtype = _autocast_dtype(cfg, cuda)
        # fp16 needs loss scaling (its range underflows small gradients); bf16 and fp32 do not
        scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        scheduler = EDMScheduler(cfg.loss.scheduler)
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None) \
            if distributed else model
        bad = _BadSamples(cfg.data.max_bad_fraction)
        step = 0
        # ---- resume ------------------------------------------------------------------------
        if latest is not None:
            st = CheckpointManager.load(latest)
            if st["world_size"] != world_size:
                raise RunDirError(f"checkpoint {latest} was written with world_size={st['world_size']}, this run has "
                                  f"{world_size}: the data position is per rank, resume with the same world size")
            trainable.load_state_dict(st["model"])
            if cfg.optim.ema and not st["ema"]:
                log.warning("checkpoint %s has no EMA (ema: off): the EMA restarts from the current weights", latest)
                st["ema"] = trainable.state_dict()
            for name, sd in st.get("frozen", {}).items():
                getattr(model, name).load_state_dict(sd)
            opt.load_state_dict(st["optimizer"])
            for g in opt.param_groups:  # the restored groups carry the old run's values: use this config's
                g["betas"], g["weight_decay"] = tuple(cfg.optim.betas), cfg.optim.weight_decay
            # the checkpoint is mapped from disk: the EMA must be a copy where the weights it tracks live
            live = trainable.state_dict()
            ema = {k: v.to(live[k].device, copy=True) for k, v in st["ema"].items()} if cfg.optim.ema else {}
            if st["scaler"]:
                scaler.load_state_dict(st["scaler"])
            step = st["step"]
            loader.position = DataPosition(**st["data_positions"][rank])
            bad = _BadSamples(cfg.data.max_bad_fraction, st.get("bad_samples", {}).get(str(rank)))
            set_rng_states(st["rng"][rank])
            log.info("resumed from %s at step %d, data %s", latest, step, loader.position)
            del st  # the mapped file: nothing keeps it open through the run
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            cfg.to_yaml(out / "config.yaml")
            # resumed: drop the points a killed run drew after this checkpoint (they would overlap)
            writer = make_tracker(report_to, out, step + 1 if latest is not None else None, cfg.to_dict())
            bar = progress_bar(cfg.max_steps, step)

        def save() -> None:
            positions = [loader.position.to_dict()]
            rngs = [rng_states()]
            bads = [bad.state()]
            if distributed:
                positions, rngs, bads = [None] * world_size, [None] * world_size, [None] * world_size
                dist.all_gather_object(positions, loader.position.to_dict())
                dist.all_gather_object(rngs, rng_states())
                dist.all_gather_object(bads, bad.state())
            if rank == 0:
                state = {"model": trainable.state_dict(), "optimizer": opt.state_dict(), "ema": ema,
                         "scaler": scaler.state_dict(), "step": step, "rng": rngs, "data_positions": positions,
                         "world_size": world_size, "config": cfg.to_dict(),
                         "bad_samples": {str(r): b for r, b in enumerate(bads)},
                         "frozen": {n: getattr(model, n).state_dict() for n in _frozen_random(cfg)}}
                import yaml

                ckpts.save(step, state, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
            if distributed:
                dist.barrier()

        def validate(step: int) -> None:
            """A sample through the inference pipeline; a media failure is logged, not fatal to the run."""
            t = time.perf_counter()
            try:
                path = write_validation_sample(model, ema, cfg, step, device)
            except Exception:
                log.exception("validation sample at step %d failed", step)
                if writer is not None:
                    writer.add_text("validation/sample", f"step {step}: failed (see the log)", step)
                return
            log.info("validation sample %s (%.1f s)", path, time.perf_counter() - t)
            if writer is not None:
                writer.add_text("validation/sample", str(path), step)
                writer.add_scalar("time/validation_s", time.perf_counter() - t, step)
                log_sample_to_tensorboard(writer, path, step)

        def next_batch() -> dict:
            """The next batch with at least one readable sample; unreadable ones are counted."""
            while True:
                b = next(batches)
                bad.update(len(b["keys"]), b.get("bad", []))
                if b["keys"]:
                    return b

        # ---- loop --------------------------------------------------------------------------
        model.train()
        batches = iter(loader)
        accum = cfg.optim.grad_accum_steps
        interval = Interval()
        # EMA with foreach ops: two fused launches over the float tensors instead of two per tensor
        live_sd = trainable.state_dict()
        ema_f = [ema[k] for k, v in live_sd.items() if ema and v.dtype.is_floating_point]
        live_f = [v for v in live_sd.values() if ema and v.dtype.is_floating_point]
        ema_o = [(ema[k], v) for k, v in live_sd.items() if ema and not v.dtype.is_floating_point]
        while step < cfg.max_steps:
            t0 = time.perf_counter()
            lr = lr_at(step, cfg.optim.lr, cfg.optim.warmup_steps, cfg.optim.lr_schedule, cfg.max_steps,
                       cfg.optim.min_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            data_s, keys, losses, stats = 0.0, [], [], {}
            for micro in range(accum):
                td = time.perf_counter()
                batch = next_batch()
                data_s += time.perf_counter() - td
                # micro-batch i of optimizer step s draws from (seed, s * accum + i, rank): accum=1 is (seed, s, rank)
                gen = step_generator(cfg.seed, step * accum + micro, rank)
                sync = micro == accum - 1 or not distributed
                with (ddp_model.no_sync() if not sync else contextlib.nullcontext()):
                    loss, stats = compute_loss(ddp_model, model, batch, scheduler, gen, cfg.loss.p_drop_audio,
                                               cfg.loss.p_drop_ref, cfg.loss.pixel_loss_weight, device, amp_dtype,
                                               independent_dropout=cfg.loss.dropout == "independent",
                                               pixel_loss_sigma_weighted=cfg.loss.pixel_loss_sigma_weighted,
                                               pixel_loss_masked=cfg.loss.pixel_loss_masked)
                    scaler.scale(loss / accum).backward()
                keys += list(batch["keys"])
                losses.append(loss.detach())  # stays on the device: read once per log interval
            scaler.unscale_(opt)
            gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            scaler.step(opt)
            scaler.update()
            step += 1
            if ema:
                decay = min(cfg.optim.ema_decay, (1 + step) / (10 + step))
                with torch.no_grad():
                    torch._foreach_mul_(ema_f, decay)
                    torch._foreach_add_(ema_f, live_f, alpha=1 - decay)
                    for e, v in ema_o:
                        e.copy_(v)
            t2 = time.perf_counter()
            rec = {"step": step, "loss": losses[0] if accum == 1 else torch.stack(losses).mean(), "keys": keys,
                   "epoch": batch["epoch"], "lr": lr, "data_s": data_s, "compute_s": t2 - t0 - data_s,
                   "grad_norm": gnorm.detach(), **stats}
            history.append(rec)
            interval.add(rec)
            log_now = step % cfg.log_every == 0 or step == cfg.max_steps
            if log_now:  # the one host sync of the interval
                log_interval(interval, step, cfg.max_steps, writer, bad.bad, device, distributed)
                interval = Interval()
            if bar is not None:
                bar.update(1)
                if log_now:
                    bar.set_postfix(loss=f"{history[-1]['loss']:.4f}", lr=f"{lr:.2e}", refresh=False)
            if rank == 0 and cfg.validate_every > 0 and step % cfg.validate_every == 0:
                validate(step)
            # host-side flags; ranks agree on them at log and checkpoint steps (a collective there,
            # not every step): stop_at_step is the same on every rank, so it needs no agreement
            want_stop = stop_at_step is not None and step >= stop_at_step
            ckpt_now = step % cfg.ckpt_every == 0 or step == cfg.max_steps
            signal_stop, bad_stop = stop.set, bad.error is not None
            if distributed and (log_now or ckpt_now or want_stop):
                flags = torch.tensor([float(signal_stop), float(bad_stop)], device=device)  # NCCL: on the device
                dist.all_reduce(flags, op=dist.ReduceOp.MAX)  # every rank stops at the same step
                signal_stop, bad_stop = (bool(f) for f in flags.tolist())
            elif distributed:
                signal_stop = bad_stop = False  # seen at the next log or checkpoint step, on every rank at once
            if bad_stop:  # too many unreadable samples on some rank: every rank stops now
                raise BadDataError(bad.error or "another rank saw more unreadable samples than "
                                   f"data.max_bad_fraction={cfg.data.max_bad_fraction} allows (see its log)")
            want_stop = want_stop or signal_stop
            if ckpt_now or want_stop:
                save()
            if want_stop:
                break
        if bad.bad:
            log.warning("%d of %d samples were unreadable and skipped (rank %d)", bad.bad, bad.seen, rank)
        interval.flush()  # the steps after the last log line: floats in the history too
        return history
    finally:
        stop.restore()
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _resolved(old_config: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's saved config with this version's defaults filled in (new fields are no change),
    except the model's, which get the values the run really had (a layout change is a change)."""
    try:
        model = LipSyncModelConfig.saved_before_fields(old_config.get("model") or {})
        return TrainConfig.from_dict({**old_config, "model": model}).to_dict()
    except (ValueError, TypeError):
        return old_config


def _checkpoint_to_resume(ckpts: CheckpointManager, resume: bool | str | Path) -> Path | None:
    """The checkpoint ``resume`` names: the latest committed one (True / "if-any") or a given directory."""
    if resume is False:
        return None
    if resume is True or resume == "if-any":
        latest = ckpts.latest()
        if resume is True and latest is None:
            raise RunDirError(no_checkpoint_message(ckpts.root))
        return latest
    p = Path(resume)
    if not (p / "state.pt").is_file() or not (p / "COMMITTED").is_file():
        raise RunDirError(f"--resume {p}: not a committed checkpoint directory (expected {p / 'state.pt'} and "
                          f"{p / 'COMMITTED'}; committed ones: {', '.join(c.name for c in ckpts.committed()) or 'none'})")
    return p
