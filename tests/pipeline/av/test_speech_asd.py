import numpy as np
import pytest

from tests.pipeline.av.avcheck_helpers import LIGHT_ASD, make_item


def pink_noise(n, seed=0):
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
    x = np.fft.irfft(spec, n)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_real_video_passes_vad_and_replaced_audio_is_no_speech(real):
    from lipforge.pipeline.stages.speech import SpeechStage

    crops, lm, audio = real
    items = [make_item(crops, audio, lm, "own"), make_item(crops, np.zeros_like(audio), lm, "silence"),
             make_item(crops, pink_noise(len(audio)), lm, "pink")]
    out = {it.clip_id: it for it in SpeechStage()(items)}
    assert out["own"].kept and out["own"].measurements["speech_ratio"] > 0.5
    for k in ("silence", "pink"):
        assert out[k].reason == "no_speech", (k, out[k].measurements)
        assert out[k].measurements["speech_ratio"] < 0.3


def test_real_video_is_active_speaker(real):
    if not LIGHT_ASD.is_file():
        pytest.skip(f"Light-ASD fixture weights missing: {LIGHT_ASD}")
    from lipforge.pipeline.stages.asd import ActiveSpeakerStage

    crops, lm, audio = real
    stage = ActiveSpeakerStage(ActiveSpeakerStage.Config(weights=str(LIGHT_ASD), window_s=(1, 2)))
    (it,) = stage([make_item(crops, audio, lm)])
    assert it.kept, it.measurements
    assert it.measurements["asd_scale"] == "raw"
    assert it.measurements["asd_score"] > 0.75
    assert it.arrays["asd_scores.npy"].shape == (len(crops),)
    # provenance: the real Light-ASD file, by name and the sha256 prefix shared/fixtures/README.md lists
    assert it.measurements["prov_asd_measure"] == "light_asd"
    assert it.measurements["prov_asd_weights"] == "light_asd_finetuning_talkset.model@sha256:efc375833887"


def test_asd_frozen_face_scores_lower(real):
    """A still face (no mouth motion) must score below the talking one: the model reads the mouth."""
    if not LIGHT_ASD.is_file():
        pytest.skip(f"Light-ASD fixture weights missing: {LIGHT_ASD}")
    from lipforge.pipeline.stages.asd import ActiveSpeakerStage

    crops, lm, audio = real
    n = 50
    stage = ActiveSpeakerStage(ActiveSpeakerStage.Config(weights=str(LIGHT_ASD), window_s=(1, 2)))
    talk, still = stage([make_item(crops[:n], audio[: n * 640], lm[:n], "talk"),
                         make_item(np.repeat(crops[:1], n, 0), audio[: n * 640], np.repeat(lm[:1], n, 0), "still")])
    assert still.measurements["asd_score"] < talk.measurements["asd_score"]


def test_missing_weights_fail_at_construction(tmp_path):
    from lipforge.pipeline.stages.asd import ActiveSpeakerStage

    p = tmp_path / "nope.model"
    with pytest.raises(FileNotFoundError, match="nope.model"):
        ActiveSpeakerStage(ActiveSpeakerStage.Config(weights=str(p)))
    with pytest.raises(ValueError, match="scale"):
        ActiveSpeakerStage.Config(scale="logit")


@pytest.mark.parametrize("stage,field", [("asd", "weights"), ("sync", "syncnet_weights")])
def test_model_file_that_does_not_load_is_one_line_before_any_work(tmp_path, capsys, stage, field):
    """A weights file that is there but is no such model (random bytes, or another net's state
    dict): exit 2 with one line naming the field, before the output is touched."""
    import torch

    from lipforge.testing.corpus import curate, stage_config

    video = tmp_path / "in" / "a.mp4"
    video.parent.mkdir()
    video.write_bytes(b"x")
    for bad in (b"not a model", None):
        w = tmp_path / f"{stage}.model"
        if bad is None:
            torch.save({"fc.weight": torch.zeros(2, 2)}, w)  # a state dict of some other net
        else:
            w.write_bytes(bad)
        fields = {field: str(w), **({"backend": "syncnet"} if stage == "sync" else {})}
        cfg = stage_config(tmp_path / "run.yaml", {stage: fields})
        out = tmp_path / "out"
        capsys.readouterr()
        assert curate(out, "--input", str(video.parent), cfg=cfg) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{stage}.{field}" in err[0] and "does not load" in err[0] and str(w) in err[0]
        assert not out.exists()


def test_mfcc_rate_matches_video():
    from lipforge.pipeline.av.mfcc import mfcc

    m = mfcc(np.random.default_rng(0).standard_normal(640 * 25).astype(np.float32) * 0.1)
    assert m.shape == (4 * 25 - 1, 13)
    assert np.isfinite(m).all()
