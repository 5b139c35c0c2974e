"""The optimizer: AdamW (SayAnything's), or bitsandbytes' 8-bit AdamW when asked and installed.

8-bit AdamW keeps the two moment buffers in 8 bits (about 6 bytes per trainable parameter
less than fp32 AdamW: 1.5 GB saved on the 1.5 B-parameter SVD UNet + ID-Guider). It is an
optional dependency: asking for it without bitsandbytes fails at construction with the install
command, never later in the run.
"""
from __future__ import annotations

import torch

OPTIMIZERS = ("adamw", "adamw8bit")


def build_optimizer(params, cfg) -> torch.optim.Optimizer:
    """``cfg`` is a :class:`lipforge.train.config.OptimConfig`."""
    if cfg.optimizer == "adamw":
        params = list(params)
        # fused on CUDA (one kernel per step, and no foreach temporary the size of the weights)
        fused = bool(params) and all(p.is_cuda for p in params)
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=fused or None)
    if cfg.optimizer == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError as e:
            raise ImportError("OptimConfig.optimizer='adamw8bit' needs bitsandbytes: pip install bitsandbytes "
                              f"(or use optimizer: adamw) [{e}]") from e
        return bnb.optim.AdamW8bit(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    raise ValueError(f"OptimConfig.optimizer must be one of {OPTIMIZERS}, got {cfg.optimizer!r}")
