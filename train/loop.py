"""The training loop: build from config, load checkpoint, loop, close in ``finally``.

Run under torchrun for DDP (gloo on CPU, nccl on CUDA); one process without it. Every step draws
its randomness from a generator seeded by (seed, step, rank) and reads the batch at the saved
data position, so a resumed run continues bit for bit (checked in tests/train/test_resume.py).
Every ``validate_every`` steps rank 0 writes a sample with the EMA weights (train/validate.py)
without touching the training state.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from lipforge.infer.models import LipSyncModel
from lipforge.infer.scheduler import EDMScheduler
from lipforge.train.checkpoint import CheckpointManager, rng_states, set_rng_states
from lipforge.train.config import TrainConfig
from lipforge.train.loader import DataPosition, ShardLoader, WindowSpec, seed_everything
from lipforge.train.objective import compute_loss, step_generator
from lipforge.train.validate import check_validation_inputs, write_validation_sample

log = logging.getLogger(__name__)


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
                      d.use_cached_latents, d.use_cached_audio, m.audio_features_per_frame)


def train(cfg: TrainConfig, resume: bool = False, stop_at_step: int | None = None,
          rank: int | None = None, world_size: int | None = None) -> list[dict[str, Any]]:
    """Train to ``cfg.max_steps`` (or checkpoint and stop after ``stop_at_step``, as a preemption
    would). Returns this process's history: one dict per step with step, loss, keys, timings."""
    rank = int(os.environ.get("RANK", "0")) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", "1")) if world_size is None else world_size
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if cuda else "cpu")
    distributed = world_size > 1
    if cuda:
        # NCCL collectives (barrier, all_gather_object) run on the *current* device: without this
        # every rank would use cuda:0 (hangs or oversubscribes GPU 0)
        torch.cuda.set_device(device)
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world_size,
                                timeout=timedelta(seconds=cfg.pg_timeout_s))
    out = Path(cfg.output_dir)
    ckpts = CheckpointManager(out / "checkpoints", keep_last=cfg.keep_last)
    stop = _StopFlag()
    writer = None
    history: list[dict[str, Any]] = []
    try:
        # ---- build -------------------------------------------------------------------------
        seed_everything(cfg.seed)
        model = LipSyncModel.from_config(cfg.model).to(device)
        trainable = model.trainable_modules()
        params = [p for p in trainable.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)
        ema = {k: v.detach().clone() for k, v in trainable.state_dict().items()}
        scaler = torch.amp.GradScaler(device.type, enabled=False)  # bf16 needs no loss scaling; kept for fp16
        bf16 = cfg.mixed_precision == "bf16" or (cfg.mixed_precision == "auto" and cuda)
        scheduler = EDMScheduler(cfg.loss.scheduler)
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None) \
            if distributed else model
        loader = ShardLoader(list(cfg.data.shards), rank, world_size, cfg.data.batch_size, cfg.data.num_workers,
                             cfg.seed, window_spec(cfg))
        step = 0
        # ---- resume ------------------------------------------------------------------------
        latest = ckpts.latest() if resume else None
        if latest is not None:
            st = CheckpointManager.load(latest)
            if st["world_size"] != world_size:
                raise ValueError(f"checkpoint {latest} was written with world_size={st['world_size']}, this run has "
                                 f"{world_size}: the data position is per rank, resume with the same world size")
            trainable.load_state_dict(st["model"])
            for name, sd in st.get("frozen", {}).items():
                getattr(model, name).load_state_dict(sd)
            opt.load_state_dict(st["optimizer"])
            # the checkpoint is loaded to the CPU: the EMA must live where the weights it tracks live
            live = trainable.state_dict()
            ema = {k: v.to(live[k].device) for k, v in st["ema"].items()}
            scaler.load_state_dict(st["scaler"])
            step = st["step"]
            loader.position = DataPosition(**st["data_positions"][rank])
            set_rng_states(st["rng"][rank])
            log.info("resumed from %s at step %d, data %s", latest, step, loader.position)
        if rank == 0 and cfg.validate_every > 0:
            check_validation_inputs(cfg.validation)
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            cfg.to_yaml(out / "config.yaml")
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"))

        def save() -> None:
            positions = [loader.position.to_dict()]
            rngs = [rng_states()]
            if distributed:
                positions, rngs = [None] * world_size, [None] * world_size
                dist.all_gather_object(positions, loader.position.to_dict())
                dist.all_gather_object(rngs, rng_states())
            if rank == 0:
                state = {"model": trainable.state_dict(), "optimizer": opt.state_dict(), "ema": ema,
                         "scaler": scaler.state_dict(), "step": step, "rng": rngs, "data_positions": positions,
                         "world_size": world_size, "config": cfg.to_dict(),
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

        # ---- loop --------------------------------------------------------------------------
        model.train()
        batches = iter(loader)
        while step < cfg.max_steps:
            t0 = time.perf_counter()
            batch = next(batches)
            t1 = time.perf_counter()
            gen = step_generator(cfg.seed, step, rank)
            loss, stats = compute_loss(ddp_model, model, batch, scheduler, gen, cfg.loss.p_drop_audio,
                                       cfg.loss.p_drop_ref, cfg.loss.pixel_loss_weight, device,
                                       torch.bfloat16 if bf16 else None)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            opt.step()
            step += 1
            decay = min(cfg.optim.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for k, v in trainable.state_dict().items():
                    if v.dtype.is_floating_point:
                        ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
                    else:
                        ema[k].copy_(v)
            t2 = time.perf_counter()
            rec = {"step": step, "loss": float(loss.detach()), "keys": list(batch["keys"]), "epoch": batch["epoch"],
                   "data_s": t1 - t0, "compute_s": t2 - t1, "grad_norm": float(gnorm), **stats}
            history.append(rec)
            if writer is not None and step % cfg.log_every == 0:
                for k in ("loss", "grad_norm", "loss_dsm", "sigma_mean"):
                    writer.add_scalar(f"train/{k}", rec[k], step)
                writer.add_scalar("time/data_wait_s", rec["data_s"], step)
                writer.add_scalar("time/compute_s", rec["compute_s"], step)
                writer.add_scalar("time/data_wait_share", rec["data_s"] / max(1e-9, t2 - t0), step)
            if rank == 0 and cfg.validate_every > 0 and step % cfg.validate_every == 0:
                validate(step)
            # on the device: NCCL cannot all_reduce a CPU tensor
            want_stop = torch.tensor([float(stop.set or (stop_at_step is not None and step >= stop_at_step))],
                                     device=device)
            if distributed:
                dist.all_reduce(want_stop, op=dist.ReduceOp.MAX)  # every rank stops at the same step
            if step % cfg.ckpt_every == 0 or step == cfg.max_steps or want_stop.item() > 0:
                save()
            if want_stop.item() > 0:
                break
        return history
    finally:
        stop.restore()
        if writer is not None:
            writer.close()
        if distributed and dist.is_initialized():
            dist.destroy_process_group()
