"""Learning-rate schedule: linear warmup, then constant, cosine or linear decay (a pure function of the step).

The trainer sets every parameter group's lr from :func:`lr_at` before each optimizer step, so
the rate is a function of (config, step) alone: a resumed run continues the schedule exactly,
and a resume with ``--allow-config-change`` and a new ``optim.lr`` really trains at the new rate.

>>> [round(lr_at(s, 1e-3, warmup_steps=4, schedule="constant", max_steps=10), 6) for s in (0, 1, 3, 8)]
[0.00025, 0.0005, 0.001, 0.001]
>>> round(lr_at(10, 1e-3, 0, "cosine", 10, min_lr_ratio=0.1), 6)
0.0001
"""
from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "linear")


def lr_at(step: int, lr: float, warmup_steps: int, schedule: str, max_steps: int, min_lr_ratio: float = 0.0) -> float:
    """Learning rate of optimizer step ``step`` (0-based: the first update uses ``lr_at(0, ...)``)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"lr schedule must be one of {SCHEDULES}, got {schedule!r}")
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr
    span = max(1, max_steps - warmup_steps)
    p = min(1.0, max(0.0, (step - warmup_steps) / span))
    lo = lr * min_lr_ratio
    if schedule == "linear":
        return lo + (lr - lo) * (1.0 - p)
    return lo + (lr - lo) * 0.5 * (1.0 + math.cos(math.pi * p))
