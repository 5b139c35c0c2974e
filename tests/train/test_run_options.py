"""Run options users of diffusers' training scripts expect: --set overrides (validated like the
YAML), --resume CHECKPOINT_DIR, ema off, --report_to, TensorBoard purge on resume; and the input
checks that come before the model is built or anything is written."""
from __future__ import annotations

import dataclasses
import sys

import pyarrow as pa
import pytest
import torch
import yaml

from lipforge.infer.models import LipSyncModel
from lipforge.testing.train_data import tiny_train_config
from lipforge.train.checkpoint import CheckpointManager
from lipforge.train.config import TrainConfig
from lipforge.train.corpus_data import check_where_scales
from lipforge.train.loop import train
from lipforge.train.progress import make_tracker
from lipforge.train.rundir import RunDirError


def _cfg(tmp, shards, **over):
    base = dict(max_steps=2, ckpt_every=100, data={"batch_size": 2}, optim={"lr": 1e-3})
    base.update(over)
    return tiny_train_config(tmp, shards, **base)


def test_set_overrides_are_validated_like_the_yaml(shards, tmp_path):
    y = tmp_path / "train.yaml"
    _cfg(tmp_path / "run", shards).to_yaml(y)
    cfg = TrainConfig.from_yaml(y, overrides=["optim.lr=3e-5", "optim.ema=off", "loss.dropout=independent"])
    assert (cfg.optim.lr, cfg.optim.ema, cfg.loss.dropout) == (3e-5, False, "independent")
    for bad, needle in (("optim.lr=abc", "OptimConfig.lr must be float"), ("optim.nope=1", "unknown fields ['nope']"),
                        ("optim=1", "optim"), ("lr", "FIELD=VALUE"), ("loss.dropout=sometimes", "nested|independent")):
        with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("|", r"\|")):
            TrainConfig.from_yaml(y, overrides=[bad])
    d = yaml.safe_load(y.read_text())
    d["optim"]["lr"] = "abc"  # the file gets the same check
    y.write_text(yaml.safe_dump(d))
    with pytest.raises(ValueError, match="OptimConfig.lr must be float"):
        TrainConfig.from_yaml(y)


def test_resume_a_chosen_checkpoint_purges_later_tensorboard_steps(shards, tmp_path):
    torch.set_num_threads(1)
    cfg = _cfg(tmp_path, shards, max_steps=4, ckpt_every=2, log_every=1)
    first = train(cfg)
    step2 = tmp_path / "checkpoints" / "step_00000002"
    again = train(cfg, resume=str(step2))  # a chosen checkpoint, not the latest (step 4)
    assert [h["step"] for h in again] == [3, 4]
    assert [h["loss"] for h in again] == [h["loss"] for h in first[2:]]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tmp_path / "tb"))
    ea.Reload()
    assert [e.step for e in ea.Scalars("train/loss")] == [1, 2, 3, 4]  # the first run's 3, 4 purged
    with pytest.raises(RunDirError, match="not a committed checkpoint directory.*step_00000004"):
        train(cfg, resume=str(tmp_path / "checkpoints" / "step_00000003"))


def test_ema_off_saves_none_and_exports_the_raw_weights(shards, tmp_path):
    from lipforge.train.export import load_trained

    torch.set_num_threads(1)
    cfg = _cfg(tmp_path, shards, optim={"lr": 1e-3, "ema": False})
    train(cfg, report_to="none")
    assert not (tmp_path / "tb").exists()
    st = CheckpointManager.load(CheckpointManager(tmp_path / "checkpoints").latest())
    assert st["ema"] == {}
    m = load_trained(cfg)
    for k, v in m.trainable_modules().state_dict().items():
        assert torch.equal(v, st["model"][k])


def test_wandb_without_the_package_names_the_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match="pip install wandb"):
        make_tracker("wandb", tmp_path, None, {})
    with pytest.raises(ValueError, match="report_to"):
        make_tracker("mlflow", tmp_path, None, {})


def test_inputs_are_checked_before_the_model_is_built_or_anything_written(shards, tmp_path, monkeypatch):
    def no_build(*a, **kw):
        raise AssertionError("the model was built before the inputs were checked")

    monkeypatch.setattr(LipSyncModel, "from_config", no_build)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="cannot feed 64 streams"):
        train(_cfg(out, shards, data={"batch_size": 1, "num_workers": 64}))
    cfg = _cfg(out, shards)
    with pytest.raises(FileNotFoundError, match="svd_dir.*nowhere"):
        train(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, svd_dir=str(tmp_path / "nowhere"))))
    assert not out.exists()


def test_architecture_change_is_refused_even_with_allow_config_change(shards, tmp_path):
    torch.set_num_threads(1)
    cfg = _cfg(tmp_path, shards, max_steps=2)
    train(cfg, stop_at_step=1)
    d = cfg.to_dict()
    d["model"]["audio_context_k"] = 2
    with pytest.raises(RunDirError, match="model architecture differs.*model.audio_context_k: 1 -> 2"):
        train(TrainConfig.from_dict(d), resume=True, allow_config_change=True)


def test_score_thresholds_need_their_measure_when_a_stand_in_scored():
    kept = pa.table({"sync_backend": ["offline", "offline"], "iqa_measure": ["laplacian", "hyperiqa"],
                     "sync_conf": [1.0, 9.0], "iqa_score": [0.9, 0.2]})
    with pytest.raises(ValueError, match="thresholds sync_conf.*'offline'.*sync_backend = 'syncnet'"):
        check_where_scales("sync_conf >= 5", kept)
    with pytest.raises(ValueError, match="thresholds iqa_score.*'laplacian'"):
        check_where_scales("iqa_score >= 0.5", kept)
    check_where_scales("sync_backend = 'syncnet' and sync_conf >= 5 and iqa_measure = 'hyperiqa' and iqa_score >= 0.5",
                       kept)
    check_where_scales("iqa_score >= 0.5", pa.table({"iqa_measure": ["hyperiqa"], "iqa_score": [0.7]}))
