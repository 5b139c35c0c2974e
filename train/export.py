"""Export a checkpoint as a self-contained diffusers-style model directory for inference."""
from __future__ import annotations

from pathlib import Path

import torch

from lipforge.infer.models import LipSyncModel
from lipforge.infer.scheduler import EDMScheduler
from lipforge.train.checkpoint import CheckpointManager
from lipforge.train.config import TrainConfig


def load_trained(cfg: TrainConfig, checkpoint: str | Path | None = None, use_ema: bool = True) -> LipSyncModel:
    """The model of ``cfg`` with the weights (EMA by default) of a checkpoint (default: the latest)."""
    ckpt = Path(checkpoint) if checkpoint else CheckpointManager(Path(cfg.output_dir) / "checkpoints").latest()
    if ckpt is None:
        raise FileNotFoundError(f"no committed checkpoint under {Path(cfg.output_dir) / 'checkpoints'}")
    st = CheckpointManager.load(ckpt)
    torch.manual_seed(cfg.seed)
    model = LipSyncModel.from_config(cfg.model)
    model.trainable_modules().load_state_dict(st["ema"] if use_ema else st["model"])
    for name, sd in st.get("frozen", {}).items():
        getattr(model, name).load_state_dict(sd)
    return model


def export(cfg: TrainConfig, directory: str | Path, checkpoint: str | Path | None = None, use_ema: bool = True) -> Path:
    d = Path(directory)
    model = load_trained(cfg, checkpoint, use_ema)
    model.save_pretrained(d)
    EDMScheduler(cfg.loss.scheduler).save_pretrained(d / "scheduler")
    return d
