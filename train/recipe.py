"""The recipe of a training run: what its export tells inference (:mod:`lipforge.infer.recipe`).

The mask is the one the loader trains on (``data.mask_field``); the crop margin, smoothing and
mask padding are the corpus's, read from the curation run's resolved ``run_config.yaml`` when the
run trains from a corpus (``data.corpus``) and curation's defaults otherwise (``crop_source``
says which); frame count, resolution and audio window are the model's.
"""
from __future__ import annotations

import logging
from pathlib import Path

from lipforge.infer.recipe import CROP_FIELDS, Recipe
from lipforge.train.config import TrainConfig

log = logging.getLogger(__name__)
RUN_CONFIG = "run_config.yaml"


def corpus_crop(corpus: str | Path) -> tuple[dict, str] | None:
    """(crop-stage fields, source path) from a corpus's ``run_config.yaml``; None when it has none."""
    import yaml

    p = Path(corpus) / RUN_CONFIG  # written by curation's finalize next to the manifests
    if not p.is_file():
        return None
    d = yaml.safe_load(p.read_text()) or {}
    crop = (d.get("stages") or {}).get("crop") or {}
    return {k: crop[k] for k in CROP_FIELDS if k in crop}, str(p)


def recipe_for(cfg: TrainConfig) -> Recipe:
    m = cfg.model
    crop, source = {}, "defaults (curation's crop stage; the run trained from a shard list)"
    corpus = getattr(cfg.data, "corpus", None)
    if corpus:
        found = corpus_crop(corpus)
        if found is not None:
            crop, source = found
        else:
            source = f"defaults (curation's crop stage; {corpus} has no {RUN_CONFIG})"
    return Recipe(mask_type=cfg.data.mask_field, num_frames=m.num_frames, resolution=m.resolution,
                  audio_context_k=m.audio_context_k, audio_features_per_frame=m.audio_features_per_frame,
                  crop=crop, crop_source=source)
