"""What the loop reports, and where: interval means to the log (the progress lines when stderr is
not a terminal), a tqdm bar when it is, and a tracker chosen by ``--report_to``.

Per-step values stay on the device as tensors; an interval is read back with one host sync
when it is logged (:meth:`Interval.flush`), so the GPU runs ahead between log lines.

>>> iv = Interval()
>>> iv.add({"step": 1, "lr": 1e-4, "loss": torch.tensor(0.5)})
>>> iv.flush()[0]["loss"]
0.5
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("lipforge.train.loop")

REPORT_TO = ("tensorboard", "wandb", "none")
MEAN_KEYS = ("loss", "grad_norm", "loss_dsm", "loss_pixel", "sigma_mean", "drop_audio", "drop_ref",
             "data_s", "compute_s")


class Interval:
    """The steps since the last log line: their records, with tensor values read back at once."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.t0 = time.perf_counter()

    def add(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)

    def flush(self) -> list[dict[str, Any]]:
        """Every tensor value of the interval's records to a float, in place: one host sync."""
        by_device: dict[torch.device, list[tuple[dict, str]]] = {}
        for r in self.records:
            for k, v in r.items():
                if isinstance(v, torch.Tensor):
                    by_device.setdefault(v.device, []).append((r, k))
        for slots in by_device.values():  # one read-back per device (CPU ones cost no sync)
            vals = torch.stack([r[k].detach().float().reshape(()) for r, k in slots]).tolist()
            for (r, k), v in zip(slots, vals):
                r[k] = v
        return self.records

    def mean(self, k: str) -> float:
        vals = [float(r[k]) for r in self.records if k in r]
        return sum(vals) / max(1, len(vals))


def make_tracker(report_to: str, out: Path, purge_step: int | None, config: dict[str, Any]):
    """TensorBoard (``purge_step``: points a killed run drew past its last checkpoint are dropped
    on resume), wandb in offline mode (never the network: ``wandb sync`` later), or None."""
    if report_to not in REPORT_TO:
        raise ValueError(f"--report_to must be one of {REPORT_TO}, got {report_to!r}")
    if report_to == "none":
        return None
    if report_to == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(out / "tb"), purge_step=purge_step)
    return WandbOffline(out, config, resume=purge_step is not None)


class WandbOffline:
    """The SummaryWriter calls the loop makes, sent to a wandb run in offline mode under ``out/wandb``."""

    def __init__(self, out: Path, config: dict[str, Any], resume: bool) -> None:
        try:
            import wandb
        except ImportError as e:
            raise ImportError(f"--report_to wandb needs wandb: pip install wandb (or --report_to tensorboard) [{e}]") from e
        self._wandb = wandb
        self.run = wandb.init(mode="offline", dir=str(out), project="lipforge", config=config,
                              name=out.name, resume="allow" if resume else None)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.run.log({tag: value}, step=step)

    def add_text(self, tag: str, text: str, step: int) -> None:
        self.run.log({tag: text}, step=step)

    def add_video(self, tag: str, video, step: int, fps: int = 25) -> None:
        self.run.log({tag: self._wandb.Video(video[0].numpy() if hasattr(video, "numpy") else video[0], fps=fps)},
                     step=step)

    def close(self) -> None:
        self.run.finish()


def log_interval(iv: Interval, step: int, max_steps: int, tracker, bad_count: int, device, distributed: bool) -> None:
    """Interval means to the log and the tracker; the loss is the mean over every rank."""
    iv.flush()
    loss = iv.mean("loss")
    if distributed:
        import torch.distributed as dist

        t = torch.tensor([loss], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        loss = float(t.item()) / dist.get_world_size()
        if dist.get_rank() != 0:
            return
    elapsed = time.perf_counter() - iv.t0
    n = len(iv.records)
    steps_s = n / max(1e-9, elapsed)
    eta = (max_steps - step) / max(1e-9, steps_s)
    data, comp = iv.mean("data_s"), iv.mean("compute_s")
    lr = iv.records[-1]["lr"] if iv.records else 0.0
    log.info("step %d/%d loss %.4f lr %.3g %.2f steps/s data-wait %.0f%% ETA %s (%.0f%% done)", step, max_steps,
             loss, lr, steps_s, 100 * data / max(1e-9, data + comp), hms(eta), 100 * step / max_steps)
    if tracker is None:
        return
    tracker.add_scalar("train/loss", loss, step)
    for k in ("grad_norm", "loss_dsm", "loss_pixel", "sigma_mean"):
        if any(k in r for r in iv.records):
            tracker.add_scalar(f"train/{k}", iv.mean(k), step)
    tracker.add_scalar("train/lr", lr, step)
    tracker.add_scalar("time/data_wait_s", data, step)
    tracker.add_scalar("time/compute_s", comp, step)
    tracker.add_scalar("time/data_wait_share", data / max(1e-9, data + comp), step)
    tracker.add_scalar("time/steps_per_s", steps_s, step)
    tracker.add_scalar("data/bad_samples", bad_count, step)


def hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def progress_bar(total: int, initial: int):
    """tqdm on rank 0 when stderr is a terminal; otherwise None and the log lines of
    :func:`log_interval` (step/total, percent, steps/s, ETA: one line per ``log_every`` steps)."""
    if not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step", dynamic_ncols=True)
