"""lipforge train-sync and the expert sync backend, on a tiny corpus (8 clips of 12 frames, 32 px)."""
import json

import numpy as np
import pytest
import torch

pytest.importorskip("duckdb", reason="train-sync --where needs duckdb")


def _cfg(corpus, **over):
    from lipforge.pipeline.av.sync_expert import ExpertArch
    from lipforge.pipeline.av.sync_train import TrainSyncConfig

    kw = dict(corpus=str(corpus), steps=30, batch_size=16, lr=3e-3, min_shift=2, vshift=4, val_frac=0.25,
              arch=ExpertArch(size=32, width=8, dim=16))
    kw.update(over)
    return TrainSyncConfig(**kw)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from lipforge.testing.train_data import tiny_corpus

    return tiny_corpus(tmp_path_factory.mktemp("sync_expert") / "corpus", n_shards=2, per_shard=4)


def test_loss_falls_and_expert_loads_weights_only_and_scores(tmp_path, corpus):
    from lipforge.pipeline.av.sync_expert import expert_sync, load_expert, read_expert_meta
    from lipforge.pipeline.av.sync_train import load_clips, train_sync

    torch.set_num_threads(1)
    cfg = _cfg(corpus, steps=60, where="sync_conf >= 0")
    meta = train_sync(cfg, tmp_path / "x", log_every=1000, ckpt_every=1000)
    loss = json.loads((tmp_path / "x" / "train_sync.json").read_text())["loss"]
    assert np.mean(loss[-10:]) < np.mean(loss[:10]) - 0.05, loss
    # the file is a plain state dict + metadata: loads with weights_only=True (load_expert does)
    raw = torch.load(tmp_path / "x" / "expert.pt", map_location="cpu", weights_only=True)
    assert raw["format"] == "lipforge-sync-expert"
    m = read_expert_meta(tmp_path / "x" / "expert.pt")
    assert m["steps"] == 60 and m["where"] == "sync_conf >= 0" and 0 <= m["val_acc"] <= 1
    assert m == json.loads(json.dumps(meta))
    assert m["train_clips"] + m["val_clips"] == 8 and m["val_sources"]
    net = load_expert(tmp_path / "x" / "expert.pt")
    c = load_clips(cfg)[0]
    frames = np.zeros((len(c.lower), 32, 32, 3), np.uint8)
    frames[:, 16:] = c.lower
    r = expert_sync(net, frames, c.audio, 16000, vshift=4)
    assert -4 <= r.offset <= 4 and np.isfinite(r.conf) and len(r.mean_dists) == 9


def test_split_is_by_source(corpus):
    from lipforge.pipeline.av.sync_train import load_clips, split_sources

    clips = load_clips(_cfg(corpus, where="sync_conf < 6"))
    assert len(clips) == 6  # the where selects clips 0..5 (sync_conf = clip index)
    train, val = split_sources(clips, 0.25, 0)
    assert train and val and not set(train) & set(val) and set(train) | set(val) == {c.source_id for c in clips}


def test_resume_is_exact(tmp_path, corpus):
    from lipforge.pipeline.av.sync_train import load_clips, train_sync

    torch.set_num_threads(1)
    clips = load_clips(_cfg(corpus))
    train_sync(_cfg(corpus, steps=12), tmp_path / "full", log_every=1000, ckpt_every=5, clips=clips)
    train_sync(_cfg(corpus, steps=7), tmp_path / "half", log_every=1000, ckpt_every=5, clips=clips)
    train_sync(_cfg(corpus, steps=12), tmp_path / "half", resume=True, log_every=1000, ckpt_every=5, clips=clips)
    a = torch.load(tmp_path / "full" / "expert.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "half" / "expert.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "half" / "checkpoint.prev.pt").is_file()
    with pytest.raises(ValueError, match="only --steps may change"):
        train_sync(_cfg(corpus, steps=14, lr=1e-2), tmp_path / "half", resume=True, clips=clips)
    with pytest.raises(FileExistsError, match="not empty"):
        train_sync(_cfg(corpus), tmp_path / "half", clips=clips)


def test_sync_stage_expert_backend_stamps_provenance(tmp_path, corpus):
    from lipforge.pipeline.av.sync_train import load_clips, train_sync
    from lipforge.pipeline.stages.sync import SyncStage
    from tests.pipeline.av.avcheck_helpers import make_item

    torch.set_num_threads(1)
    train_sync(_cfg(corpus, steps=5), tmp_path / "e", log_every=1000)
    p = tmp_path / "e" / "expert.pt"
    with pytest.raises(ValueError, match="expert_weights must be set"):
        SyncStage.Config(backend="expert")
    st = SyncStage(SyncStage.Config(backend="expert", expert_weights=str(p), vshift=4, max_offset=4, min_conf=-1.0))
    c = load_clips(_cfg(corpus))[0]
    frames = np.zeros((len(c.lower), 32, 32, 3), np.uint8)
    frames[:, 16:] = c.lower
    (it,) = st([make_item(frames, c.audio)])
    m = it.measurements
    assert it.kept and m["sync_backend"] == "expert" and -4 <= m["sync_offset"] <= 4
    assert m["prov_sync_measure"].startswith("expert (trained on ") and "5 steps" in m["prov_sync_measure"]
    assert m["prov_sync_weights"].startswith("expert.pt@sha256:")
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ValueError, match="not a lipforge sync expert"):
        SyncStage(SyncStage.Config(backend="expert", expert_weights=str(bad)))


def test_cli_train_sync(tmp_path, corpus, capsys):
    from lipforge.cli import main

    rc = main(["train-sync", "--corpus", str(corpus), "--output", str(tmp_path / "o"), "--steps", "3",
               "--batch-size", "8", "--size", "32", "--threads", "1"])
    assert rc == 2  # 12-frame clips are shorter than the default vshift needs
    assert "source(s) selected" in capsys.readouterr().err
    rc = main(["train-sync", "--corpus", str(corpus), "--where", "sync_conf >= 2", "--output", str(tmp_path / "o"),
               "--steps", "3", "--batch-size", "8", "--size", "32", "--threads", "1", "--vshift", "4",
               "--min-shift", "2", "--val-sources", "c002"])
    out = capsys.readouterr().out
    assert rc == 0 and "held-out sources ['c002']" in out and "sync.backend: expert" in out
    from lipforge.pipeline.av.sync_expert import read_expert_meta

    m = read_expert_meta(tmp_path / "o" / "expert.pt")
    assert m["train_clips"] == 5 and m["val_clips"] == 1 and m["steps"] == 3


def test_window_norm_cancels_a_face_look_and_a_voice_level():
    from lipforge.pipeline.av.sync_expert import audio_windows, video_windows

    rng = np.random.default_rng(0)
    lower = rng.integers(40, 200, (12, 8, 16, 3)).astype(np.uint8)
    brighter = lower + np.uint8(30)  # another "face": the same motion on a different look
    st = np.array([0, 3, 7])
    a, b = video_windows(lower, st, "window"), video_windows(brighter, st, "window")
    assert torch.allclose(a, b, atol=1e-5) and a.abs().max() > 0.1
    assert not torch.allclose(video_windows(lower, st), video_windows(brighter, st))
    mel = rng.normal(size=(48, 26)).astype(np.float32)
    louder = mel + rng.normal(size=(1, 26)).astype(np.float32)  # a per-band level offset
    assert torch.allclose(audio_windows(mel, st, "window"), audio_windows(louder, st, "window"), atol=1e-5)
    assert torch.allclose(audio_windows(mel, st, "window").mean(dim=3), torch.zeros(3, 1, 26), atol=1e-5)


def test_a_file_from_before_norm_loads_with_its_inputs(tmp_path):
    from lipforge.pipeline.av.sync_expert import ExpertArch, SyncExpert, load_expert, save_expert

    meta = {"corpus": "c", "where": None, "steps": 0, "val_acc": 0.5, "val_auc": 0.5, "threshold": 0.0}
    p = save_expert(SyncExpert(ExpertArch(size=16, width=4, dim=4)), tmp_path / "new.pt", meta)
    assert load_expert(p).arch.norm == "window"
    obj = torch.load(p, weights_only=True)
    del obj["arch"]["norm"]  # what the first version wrote
    torch.save(obj, tmp_path / "old.pt")
    assert load_expert(tmp_path / "old.pt").arch.norm == "none"
    with pytest.raises(ValueError, match="norm"):
        ExpertArch(norm="clip")


def test_synthetic_speaker_from_a_real_video_talks_in_sync(tmp_path):
    import shutil
    from pathlib import Path

    from lipforge.testing.synth_speakers import faces_from_videos, talking_crops

    vid = Path(__file__).resolve().parents[4] / "shared/fixtures/real/talking/PCAVS_00015.mp4"
    if not vid.is_file() or shutil.which("espeak-ng") is None:
        pytest.skip("needs the real talking fixtures and espeak-ng")
    (face,) = faces_from_videos([vid], tmp_path)
    assert Path(face).parent == tmp_path
    crops, speech = talking_crops(face, seconds=3.0, seed=1)
    assert crops.shape == (75, 96, 96, 3) and crops.dtype == np.uint8 and speech.shape == (75 * 640,)
    mouth = crops[:, 48:, 24:72].astype(np.float32).mean(axis=(1, 2, 3))  # darkens as it opens
    rms = np.sqrt((speech.reshape(75, 640) ** 2).mean(axis=1))
    assert np.corrcoef(mouth, rms)[0, 1] < -0.5


def test_init_starts_from_an_expert_file(tmp_path, corpus):
    from lipforge.pipeline.av.sync_expert import ExpertArch
    from lipforge.pipeline.av.sync_train import load_clips, train_sync

    torch.set_num_threads(1)
    clips = load_clips(_cfg(corpus))
    train_sync(_cfg(corpus, steps=5), tmp_path / "a", log_every=1000, clips=clips)
    src = tmp_path / "a" / "expert.pt"
    meta = train_sync(_cfg(corpus, steps=1, lr=1e-12, init=str(src)), tmp_path / "b", log_every=1000, clips=clips)
    assert meta["init"] == str(src)
    a = torch.load(src, weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "expert.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    fresh = train_sync(_cfg(corpus, steps=1, lr=1e-12), tmp_path / "c", log_every=1000, clips=clips)
    c = torch.load(tmp_path / "c" / "expert.pt", weights_only=True)["state_dict"]
    assert fresh["init"] is None and not all(torch.allclose(a[k], c[k], atol=1e-6) for k in a)
    with pytest.raises(ValueError, match="differs from this run"):
        train_sync(_cfg(corpus, init=str(src), arch=ExpertArch(size=32, width=8, dim=8)), tmp_path / "d", clips=clips)
