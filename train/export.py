"""Export a checkpoint as a self-contained diffusers-style model directory for inference.

The directory carries the weights, the EDM scheduler the run trained with and the run's input
recipe (mask type, crop, audio window, frames: :func:`lipforge.train.recipe.recipe_for`), written
by :meth:`lipforge.infer.pipeline.LipSyncPipeline.save_pretrained`, the one writer its
``from_pretrained`` reads.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from lipforge.infer.models import LipSyncModel
from lipforge.infer.scheduler import EDMScheduler
from lipforge.train.checkpoint import CheckpointManager
from lipforge.train.config import TrainConfig

log = logging.getLogger(__name__)


def load_trained(cfg: TrainConfig, checkpoint: str | Path | None = None, use_ema: bool = True) -> LipSyncModel:
    """The model of ``cfg`` with the weights (EMA by default) of a checkpoint (default: the latest)."""
    ckpt = Path(checkpoint) if checkpoint else CheckpointManager(Path(cfg.output_dir) / "checkpoints").latest()
    if ckpt is None:
        raise FileNotFoundError(f"no committed checkpoint under {Path(cfg.output_dir) / 'checkpoints'}")
    st = CheckpointManager.load(ckpt)
    torch.manual_seed(cfg.seed)
    model = LipSyncModel.from_config(cfg.model)
    try:
        # a run with ema: off saved no EMA: its raw weights are the model
        model.trainable_modules().load_state_dict(st["ema"] if use_ema and st["ema"] else st["model"])
    except RuntimeError as e:  # e.g. a checkpoint of the first ID-Guider layout under today's defaults
        raise ValueError(f"{ckpt}: its weights do not fit the model of this config ({str(e).splitlines()[0]}); "
                         "a run from before model.id_guider_downsample / id_guider_mid_block existed needs "
                         "id_guider_downsample: conv and id_guider_mid_block: false") from e
    for name, sd in st.get("frozen", {}).items():
        getattr(model, name).load_state_dict(sd)
    return model


def export(cfg: TrainConfig, directory: str | Path, checkpoint: str | Path | None = None, use_ema: bool = True) -> Path:
    from lipforge.infer.pipeline import LipSyncPipeline
    from lipforge.train.recipe import recipe_for

    model = load_trained(cfg, checkpoint, use_ema)
    recipe = recipe_for(cfg)
    if recipe.crop_source.startswith("defaults"):
        log.warning("export: the recipe's crop margin/smoothing/mask padding are %s", recipe.crop_source)
    pipe = LipSyncPipeline(model, EDMScheduler(cfg.loss.scheduler), device="cpu", recipe=recipe)
    return pipe.save_pretrained(directory)
