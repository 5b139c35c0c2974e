"""The run's stage list, constructed from its config: what curate, the runners and the provenance
block all build, so it lives with the stages, below every one of them."""
from __future__ import annotations

import dataclasses
import os

from lipforge.pipeline.stages.base import Stage
from lipforge.pipeline.stages.registry import stage_classes


def build_stages(cfg) -> list[Stage]:
    """The enabled stages of a :class:`~lipforge.pipeline.stages.config.RunConfig`, in run order,
    constructed (so missing model files fail now)."""
    out = []
    for name, cls in stage_classes().items():
        scfg = cfg.stage_config(name)
        if scfg.enabled:
            out.append(cls(resolve_model_paths(scfg, cfg.models_dir)))
    return out


def resolve_model_paths(scfg, models_dir: str | None):
    """Relative ``*_path`` / ``*weights`` fields of a stage config are looked up in models_dir;
    a stage config with its own ``models_dir`` field gets the run's when it has none."""
    if not models_dir:
        return scfg
    changes = {}
    if any(f.name == "models_dir" for f in dataclasses.fields(scfg)):
        if getattr(scfg, "models_dir") is None:
            return dataclasses.replace(scfg, models_dir=models_dir)
        return scfg
    for f in dataclasses.fields(scfg):
        v = getattr(scfg, f.name)
        if (f.name.endswith("_path") or f.name.endswith("weights")) and isinstance(v, str) and v and not os.path.isabs(v):
            changes[f.name] = os.path.join(models_dir, v)
    return dataclasses.replace(scfg, **changes) if changes else scfg
