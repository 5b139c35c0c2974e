"""The recipe travels: an exported model carries its scheduler, mask and crop; inference uses them
or refuses to load."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from lipforge.infer.recipe import RECIPE_NAME, RecipeError
from lipforge.infer.scheduler import EDMSchedulerConfig
from lipforge.testing.train_data import tiny_train_config
from lipforge.train.export import export
from lipforge.train.loop import train
from lipforge.train.recipe import recipe_for

# every field away from its default: a loader that silently fell back would be caught
EDM = EDMSchedulerConfig(sigma_min=0.01, sigma_max=80.0, sigma_data=0.5, rho=5.0, p_mean=-1.2, p_std=1.1,
                         prediction_type="edm")


@pytest.fixture(scope="module")
def exported(shards, tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("recipe")
    cfg = tiny_train_config(d / "run", shards, max_steps=1, ckpt_every=100, data={"mask_field": "mask_keysync"},
                            loss={"scheduler": EDM})
    train(cfg)
    return cfg, export(cfg, d / "export")


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    from lipforge.testing import make_talking_head

    return make_talking_head(tmp_path_factory.mktemp("face") / "v.mp4", seconds=0.6, size=(96, 96), face_px=60)


def test_pipeline_uses_the_training_scheduler_and_mask(exported, face_video):
    from lipforge.infer.pipeline import LipSyncPipeline

    cfg, d = exported
    pipe = LipSyncPipeline.from_pretrained(d, device="cpu")
    assert pipe.scheduler.config == EDM == cfg.loss.scheduler
    assert pipe.recipe == recipe_for(cfg) and pipe.recipe.mask_type == "mask_keysync"
    size = pipe.resolution
    prep = pipe.prepare(face_video.path, face_video.path)
    # KeySync's mask runs from the nose down to the bottom edge of the crop; the adaptive one stops at the chin
    assert np.all(prep.mask_rects[:, 3] == size)
    adaptive = LipSyncPipeline(pipe.model, pipe.scheduler, device="cpu").prepare(face_video.path, face_video.path)
    assert np.all(adaptive.mask_rects[:, 3] < size)
    assert np.asarray(prep.masks).sum() > np.asarray(adaptive.masks).sum()  # masks render lazily


def _copy(d, tmp_path):
    dst = tmp_path / "export"
    shutil.copytree(d, dst)
    return dst


def test_missing_or_mismatched_recipe_files_fail_loudly(exported, tmp_path):
    from lipforge.infer.pipeline import LipSyncPipeline

    _, d = exported
    e = _copy(d, tmp_path / "a")
    (e / RECIPE_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=RECIPE_NAME):
        LipSyncPipeline.from_pretrained(e, device="cpu")
    e = _copy(d, tmp_path / "b")
    (e / "scheduler" / "scheduler_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="scheduler_config.json"):
        LipSyncPipeline.from_pretrained(e, device="cpu")
    e = _copy(d, tmp_path / "c")
    sc = json.loads((e / "scheduler" / "scheduler_config.json").read_text())
    del sc["sigma_data"]
    (e / "scheduler" / "scheduler_config.json").write_text(json.dumps(sc))
    with pytest.raises(ValueError, match="sigma_data"):
        LipSyncPipeline.from_pretrained(e, device="cpu")
    e = _copy(d, tmp_path / "d")
    r = json.loads((e / RECIPE_NAME).read_text())
    r["num_frames"] += 1
    (e / RECIPE_NAME).write_text(json.dumps(r))
    with pytest.raises(RecipeError, match="num_frames"):
        LipSyncPipeline.from_pretrained(e, device="cpu")
    e = _copy(d, tmp_path / "e")
    r = json.loads((e / RECIPE_NAME).read_text())
    del r["crop"]["margin"]
    (e / RECIPE_NAME).write_text(json.dumps(r))
    with pytest.raises(RecipeError, match="crop.margin"):
        LipSyncPipeline.from_pretrained(e, device="cpu")
