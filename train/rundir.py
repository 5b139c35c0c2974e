"""The run directory's misuse paths: a used output directory, a missing checkpoint, a changed config.

Each gets a one-line message and a defined outcome (``lipforge train`` prints it and exits 2):

* a fresh run (no ``--resume``) in a non-empty ``output_dir`` is refused; ``--overwrite`` deletes
  the previous run's ``checkpoints/``, ``tb/``, ``samples/`` and ``config.yaml`` first (nothing
  else), so new checkpoints are never pruned against an old run's;
* ``--resume`` with no committed checkpoint stops; ``--resume if-any`` starts fresh instead;
* a resumed run whose config differs from the checkpoint's is refused with every differing field
  (``optim.lr: 0.001 -> 0.5``) unless ``allow_config_change``; then the new values are used
  (the trainer re-applies learning rate, betas and weight decay to the restored optimizer).
  Fields that only say how long to run or how often to log/checkpoint/validate may change freely.

>>> config_changes({"optim": {"lr": 1e-3}, "max_steps": 5}, {"optim": {"lr": 0.5}, "max_steps": 9})
['optim.lr: 0.001 -> 0.5']
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from lipforge.errors import UserError

# may differ between a checkpoint and the run resuming it: how long, how often, where to log
RESUME_FREE = frozenset({"max_steps", "log_every", "ckpt_every", "keep_last", "validate_every", "validation",
                         "pg_timeout_s", "output_dir", "cluster"})
RUN_OUTPUTS = ("checkpoints", "tb", "wandb", "samples", "config.yaml")
# model fields a checkpoint's weights do not depend on: any other model change is a new architecture
ARCH_FREE = ("model.gradient_checkpointing", "model.svd_dir", "model.whisper_dir", "model.num_frames:",
             "model.resolution:", "model.added_time_ids", "model.unscaled_condition_latents:")


class RunDirError(UserError, ValueError):
    """A user error about the output directory or resuming (one line, exit code 2)."""


def check_fresh_output_dir(out: Path, overwrite: bool, delete: bool, resuming: bool = False) -> None:
    """Refuse a non-empty ``out`` for a fresh run; with ``overwrite`` remove the previous run's
    outputs (only when ``delete``: rank 0 deletes, the other ranks only check). ``resuming``: the
    fresh start of ``--resume if-any``, which found no checkpoint to continue."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        if resuming:
            raise RunDirError(f"--resume if-any: output_dir {out} holds no committed checkpoint but is not empty "
                              f"(a run that crashed before its first checkpoint?): pass --overwrite to delete its "
                              f"{', '.join(RUN_OUTPUTS)} and start over")
        raise RunDirError(f"output_dir {out} is not empty (a previous run?): pass --resume to continue it, or "
                          f"--overwrite to delete its {', '.join(RUN_OUTPUTS)} and start over")
    if delete:
        for name in RUN_OUTPUTS:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()


def no_checkpoint_message(root: Path) -> str:
    return (f"--resume: no committed checkpoint under {root} (nothing to continue); run without --resume to "
            "start, or pass --resume if-any to start fresh when there is none")


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``field: old -> new`` for every field (dotted path) that differs, except :data:`RESUME_FREE`."""
    a, b = _flat(old), _flat(new)
    out = []
    for k in sorted(set(a) | set(b)):
        top = k.split(".")[0]
        if top in RESUME_FREE or k in RESUME_FREE:
            continue
        va, vb = a.get(k, "<absent>"), b.get(k, "<absent>")
        if va != vb:
            out.append(f"{k}: {_short(va)} -> {_short(vb)}")
    return out


def _short(v: Any) -> str:
    s = repr(v) if isinstance(v, str) else str(v)
    return s if len(s) <= 80 else s[:77] + "..."


def check_resume_config(old: dict[str, Any], new: dict[str, Any], checkpoint: Path, allow: bool) -> list[str]:
    """Raise :class:`RunDirError` listing the changes unless ``allow``; returns the changes."""
    changes = config_changes(old, new)
    arch = [c for c in changes if c.startswith("model.") and not c.startswith(ARCH_FREE)]
    if arch:  # the weights would not load: refused even with --allow-config-change
        raise RunDirError(f"resume from {checkpoint}: the model architecture differs from the checkpoint's: "
                          f"{'; '.join(arch)} (its weights cannot load into it; start a new run in another output_dir)")
    if changes and not allow:
        raise RunDirError(f"resume from {checkpoint}: the config differs from the checkpoint's: "
                          f"{'; '.join(changes)} (pass --allow-config-change to continue with the new values)")
    return changes
