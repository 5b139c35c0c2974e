import os

import numpy as np
import pytest

from tests.pipeline.av.avcheck_helpers import make_item


def test_offline_backend_finds_delay_records_it_and_never_shifts_or_drops(synth):
    from lipforge.pipeline.stages.sync import SyncStage

    crops, lm, audio, v = synth
    st = SyncStage()
    (it,) = st([make_item(crops, audio, lm)])
    assert it.kept, it.measurements
    assert abs(it.measurements["sync_offset"] - 5) <= 1
    # a weight-free stand-in: the offset is recorded, never used to shift the audio
    assert it.measurements["audio_shift_s"] == 0.0
    np.testing.assert_array_equal(it.audio, audio)
    assert it.measurements["prov_sync_measure"] == "lowerlip (weight-free stand-in)"
    assert it.measurements["sync_backend"] == "lowerlip"
    assert it.measurements["prov_sync_rule"].startswith("recorded only")
    # an offset far beyond max_offset (12 > 6 frames) does not drop the clip either
    late = np.concatenate([np.zeros(7 * 640, np.float32), audio])[: len(audio)]
    (far,) = st([make_item(crops, late, lm, "far")])
    assert far.kept and abs(far.measurements["sync_offset"]) > st.config.max_offset


def test_offline_backend_refuses_a_confidence_gate():
    from lipforge.pipeline.stages.sync import SyncStage

    with pytest.raises(ValueError, match="min_conf=0.1.*never drops"):
        SyncStage.Config(min_conf=0.1)
    assert SyncStage().conf_threshold is None
    with pytest.raises(ValueError, match="offline_gate_min_s must be >= 6"):
        SyncStage.Config(offline_gate=True, offline_gate_min_s=4.0)
    with pytest.raises(ValueError, match="offline_gate is for backend 'offline'"):
        SyncStage.Config(backend="syncnet", syncnet_weights="x", offline_gate=True)


def test_offline_gate_drops_only_long_clips_under_the_threshold_and_never_shifts(synth, caplog):
    from lipforge.pipeline.stages.sync import SyncStage

    crops, lm, audio, v = synth  # 4 s: under the gate's 6 s minimum
    long_crops, long_lm, own = np.concatenate([crops, crops]), np.concatenate([lm, lm]), np.concatenate([audio, audio])
    other = np.roll(own, 2 * 16000)  # the same voice 2 s away: other words (own: conf ~0.6, this ~0.15)
    st = SyncStage(SyncStage.Config(offline_gate=True, offline_gate_conf=0.3, offline_gate_min_s=6.0))
    assert "offline_gate is on" in caplog.text and "own speech dropped 4% of 54" in caplog.text
    short_other, long_own, long_other = st([make_item(crops, np.roll(audio, 20800), lm, "s"),
                                            make_item(long_crops, own, long_lm, "lo"),
                                            make_item(long_crops, other, long_lm, "lx")])
    assert short_other.kept and short_other.measurements["sync_conf"] < 0.3  # too short to gate: recorded
    assert long_own.kept and long_own.measurements["audio_shift_s"] == 0.0  # never shifted
    np.testing.assert_array_equal(long_own.audio, own)
    assert not long_other.kept and long_other.reason == "av_unsynced"
    assert long_own.measurements["prov_sync_rule"].startswith("sync_conf >= 0.3 on clips >= 6 s")
    assert "own speech dropped" in long_own.measurements["prov_sync_rule"]
    # re-judging a stored row gives the same verdicts
    for it in (short_other, long_own, long_other):
        row = dict(it.measurements, duration_s=it.n_frames / 25)
        assert st.judge(row) == (None if it.kept else "av_unsynced")


def test_offline_backend_unrelated_speech_less_confident(synth):
    from lipforge.testing.synth import speech_wav
    from lipforge.pipeline.stages.sync import SyncStage

    crops, lm, audio, v = synth
    other = speech_wav(len(crops) / 25, seed=7)
    st = SyncStage()
    own_it, other_it = st([make_item(crops, audio, lm, "own"), make_item(crops, other, lm, "other")])
    assert other_it.measurements["sync_conf"] < own_it.measurements["sync_conf"]


def test_offline_backend_without_landmarks(synth):
    from lipforge.pipeline.av.offline_sync import offline_sync

    crops, lm, audio, v = synth
    r = offline_sync(crops, audio, None)
    assert abs(r.offset - 5) <= 1


def test_syncnet_backend_end_to_end_random_init(tmp_path, synth):
    import torch

    from lipforge.pipeline.av.syncnet import SyncNetV2
    from lipforge.pipeline.stages.sync import SyncStage

    torch.manual_seed(0)
    p = tmp_path / "syncnet_v2.model"
    torch.save(SyncNetV2().state_dict(), p)
    crops, lm, audio, v = synth
    n = 24
    st = SyncStage(SyncStage.Config(backend="syncnet", syncnet_weights=str(p), min_conf=0.0, vshift=4, max_offset=4))
    (it,) = st([make_item(crops[:n], audio[: n * 640], lm[:n])])
    m = it.measurements
    assert m["sync_backend"] == "syncnet" and -4 <= m["sync_offset"] <= 4
    assert np.isfinite(m["sync_conf"]) and m["sync_conf"] >= 0 and m["sync_min_dist"] > 0
    assert it.kept and len(it.audio) == n * 640
    import hashlib

    assert m["prov_sync_measure"] == "syncnet" and m["prov_sync_rule"].startswith("sync_conf >= 0.0")
    assert m["prov_sync_weights"] == f"syncnet_v2.model@sha256:{hashlib.sha256(p.read_bytes()).hexdigest()[:12]}"


def test_syncnet_missing_weights_fail_at_construction(tmp_path):
    from lipforge.pipeline.stages.sync import SyncStage

    with pytest.raises(FileNotFoundError, match="missing_sync.model"):
        SyncStage(SyncStage.Config(backend="syncnet", syncnet_weights=str(tmp_path / "missing_sync.model")))
    with pytest.raises(ValueError, match="syncnet_weights"):
        SyncStage.Config(backend="syncnet")


def test_shift_audio_keeps_length():
    from lipforge.pipeline.av.lse import offset_confidence, shift_audio

    a = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(shift_audio(a, 1, 3), [3, 4, 5, 6, 7, 8, 9, 0, 0, 0])
    np.testing.assert_array_equal(shift_audio(a, -1, 3), [0, 0, 0, 0, 1, 2, 3, 4, 5, 6])
    # audio embeddings that lag the video ones by 3 positions -> offset +3
    rng = np.random.default_rng(0)
    e = rng.standard_normal((40, 8))
    r = offset_confidence(e, np.concatenate([np.zeros((3, 8)), e])[:40], vshift=5)
    assert r.offset == 3 and r.conf > 0


@pytest.mark.skipif(not os.environ.get("LIPFORGE_SYNCNET_V2"), reason="set LIPFORGE_SYNCNET_V2=/path/syncnet_v2.model")
def test_real_syncnet_finds_5_frame_delay_on_real_fixture(real):
    from lipforge.pipeline.stages.sync import SyncStage

    crops, lm, audio = real
    delayed = np.concatenate([np.zeros(5 * 640, np.float32), audio])[: len(audio)]
    st = SyncStage(SyncStage.Config(backend="syncnet", syncnet_weights=os.environ["LIPFORGE_SYNCNET_V2"]))
    (it,) = st([make_item(crops, delayed, lm)])
    assert abs(it.measurements["sync_offset"] - 5) <= 1, it.measurements
