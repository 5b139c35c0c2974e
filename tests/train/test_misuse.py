"""The trainer's misuse paths: each a one-line message and a defined outcome, exit code 2 from the CLI."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

from lipforge.testing.train_data import synthetic_clip, tiny_train_config, write_shard
from lipforge.train.loop import BadDataError, train
from lipforge.train.rundir import RunDirError


def _cfg(tmp, shards, **over):
    base = dict(max_steps=2, ckpt_every=100, data={"batch_size": 2}, optim={"lr": 1e-3})
    base.update(over)
    return tiny_train_config(tmp, shards, **base)


def test_fresh_run_refuses_a_used_output_dir_unless_overwrite(shards, tmp_path):
    torch.set_num_threads(1)
    cfg = _cfg(tmp_path, shards, max_steps=3, ckpt_every=1)
    train(cfg)
    with pytest.raises(RunDirError, match="not empty.*--resume.*--overwrite"):
        train(_cfg(tmp_path, shards))
    hist = train(_cfg(tmp_path, shards), overwrite=True)
    assert [h["step"] for h in hist] == [1, 2]
    ck = sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*"))
    assert ck == ["step_00000002"]  # the old run's step 3 is gone, not "latest"


def test_resume_without_checkpoint_stops_unless_if_any(shards, tmp_path):
    with pytest.raises(RunDirError, match="no committed checkpoint"):
        train(_cfg(tmp_path, shards), resume=True)
    assert not (tmp_path / "config.yaml").exists()  # nothing written
    assert len(train(_cfg(tmp_path, shards), resume="if-any")) == 2
    crashed = tmp_path / "crashed"  # a run that died before its first checkpoint
    (crashed / "tb").mkdir(parents=True)
    with pytest.raises(RunDirError, match="if-any.*no committed checkpoint.*--overwrite"):
        train(_cfg(crashed, shards), resume="if-any")
    assert len(train(_cfg(crashed, shards), resume="if-any", overwrite=True)) == 2


def test_changed_config_on_resume_is_refused_then_really_applied(shards, tmp_path):
    torch.set_num_threads(1)
    train(_cfg(tmp_path, shards, max_steps=4), stop_at_step=2)
    changed = _cfg(tmp_path, shards, max_steps=4, optim={"lr": 0.5}, data={"batch_size": 1})
    with pytest.raises(RunDirError) as e:
        train(changed, resume=True)
    msg = str(e.value)
    assert "optim.lr: 0.001 -> 0.5" in msg and "data.batch_size: 2 -> 1" in msg and "\n" not in msg
    assert "--allow-config-change" in msg
    hist = train(changed, resume=True, allow_config_change=True)
    assert [h["step"] for h in hist] == [3, 4] and all(h["lr"] == 0.5 for h in hist)
    assert all(len(h["keys"]) == 1 for h in hist)
    from lipforge.train.checkpoint import CheckpointManager

    st = CheckpointManager.load(CheckpointManager(tmp_path / "checkpoints").latest())
    assert all(g["lr"] == 0.5 for g in st["optimizer"]["param_groups"])


def test_resuming_a_checkpoint_saved_before_the_id_guider_layout_fields(shards, tmp_path):
    """Such a checkpoint has the first layout: resumed with today's default it is refused naming the
    fields (not a state-dict traceback), and with the old values it continues."""
    import dataclasses

    from lipforge.infer.models import LipSyncModelConfig
    from lipforge.train.checkpoint import CheckpointManager

    torch.set_num_threads(1)
    first = LipSyncModelConfig.tiny(id_guider_downsample="conv", id_guider_mid_block=False)
    old = dataclasses.replace(_cfg(tmp_path, shards, max_steps=3), model=first)
    train(old, stop_at_step=2)
    saved = CheckpointManager(tmp_path / "checkpoints").latest() / "config.yaml"
    d = yaml.safe_load(saved.read_text())
    del d["model"]["id_guider_downsample"], d["model"]["id_guider_mid_block"]  # as an older version wrote it
    saved.write_text(yaml.safe_dump(d))
    with pytest.raises(RunDirError, match="model.id_guider_downsample: 'conv' -> 'pool'.*model.id_guider_mid_block: "
                                          "False -> True"):
        train(_cfg(tmp_path, shards, max_steps=3), resume=True)
    assert [h["step"] for h in train(old, resume=True)] == [3]


@pytest.fixture(scope="module")
def shards_with_bad(tmp_path_factory):
    """2 shards x 4 clips; 2 of the 8 samples lack their wav (or have a broken one)."""
    d = tmp_path_factory.mktemp("bad")
    out = []
    for s in range(2):
        clips = [synthetic_clip(f"b{s}-{c:08d}-00", seed=s * 5 + c) for c in range(4)]
        if s == 0:
            del clips[1]["wav"]
            clips[2]["mp4"] = b"not a video"
        out.append(str(write_shard(d / f"shard-{s:05d}.tar", clips)))
    return out


def test_bad_samples_are_skipped_counted_and_stop_the_run_past_the_fraction(shards_with_bad, tmp_path):
    torch.set_num_threads(1)
    cfg = _cfg(tmp_path / "ok", shards_with_bad, max_steps=4, data={"batch_size": 2, "max_bad_fraction": 0.5})
    hist = train(cfg)
    seen = [k for h in hist for k in h["keys"]]
    assert "b0-00000001-00" not in seen and "b0-00000002-00" not in seen
    assert len(set(seen[:6])) == 6  # the first epoch: 6 good samples, none duplicated
    events = b"".join(p.read_bytes() for p in (tmp_path / "ok" / "tb").glob("events.*"))
    assert b"data/bad_samples" in events
    strict = _cfg(tmp_path / "strict", shards_with_bad, max_steps=4, data={"batch_size": 2, "max_bad_fraction": 0.1})
    with pytest.raises(BadDataError, match=r"2 of \d+ samples unreadable.*max_bad_fraction=0.1; last: b0-0000000[12]-00"):
        train(strict)


def test_cli_user_errors_are_one_line_exit_2(shards, tmp_path, capsys):
    cfg = _cfg(tmp_path / "run", shards)
    y = tmp_path / "train.yaml"
    cfg.to_yaml(y)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "old.txt").write_text("x")
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    bad_shard = tmp_path / "bad.yaml"
    d = cfg.to_dict()
    d["data"]["shards"] = [str(empty)]
    d["output_dir"] = str(tmp_path / "run2")
    bad_shard.write_text(yaml.safe_dump(d))
    cases = [(["--config", str(y)], "not empty"),
             (["--config", str(y), "--resume"], "no committed checkpoint"),
             (["--config", str(tmp_path / "nope.yaml")], "nope.yaml"),
             (["--config", str(bad_shard)], "empty.tar"),
             (["--config", str(y), "--set", "optim.lr=fast"], "OptimConfig.lr must be float"),
             (["--config", str(y), "--resume", str(tmp_path / "run" / "nope")], "not a committed checkpoint")]
    args, needle = cases[0]  # one as a user runs it: a process, exit status 2, one line on stderr
    r = subprocess.run([sys.executable, "-m", "lipforge.cli", "train", *args], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2, (args, r.stderr[-2000:])
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("lipforge train:")]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr, r.stderr[-2000:]
    from lipforge.cli import main

    for args, needle in cases[1:]:  # the rest through the same dispatcher, in this process (no import cost each)
        capsys.readouterr()
        assert main(["train", *args]) == 2, args
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.startswith("lipforge train:")]
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err, err[-2000:]
