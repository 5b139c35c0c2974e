"""Validation samples through the inference pipeline, written without disturbing training."""
from __future__ import annotations

import pytest
import torch
from lipforge.testing.train_data import tiny_train_config

from lipforge.train.config import TrainConfig, ValidationConfig
from lipforge.train.loop import train


@pytest.fixture(scope="module")
def val_media(tmp_path_factory):
    """A 1 s, 96 px talking head (dlib's HOG detector finds the 60 px face); its own audio drives it."""
    from lipforge.testing import make_talking_head

    return make_talking_head(tmp_path_factory.mktemp("val") / "val.mp4", seconds=1.0, size=(96, 96), face_px=60)


def _cfg(tmp, shards, validation=None, validate_every=0):
    return tiny_train_config(tmp, shards, max_steps=4, ckpt_every=100, log_every=1, data={"batch_size": 2},
                             optim={"lr": 1e-3}, validate_every=validate_every, validation=validation)


def test_validation_config_is_checked():
    with pytest.raises(ValueError, match="validate_every=5 needs a validation"):
        tiny_train_config("x", ["a.tar"], validate_every=5)
    with pytest.raises(ValueError, match="num_steps"):
        ValidationConfig(video="v.mp4", audio="a.wav", num_steps=0)
    cfg = tiny_train_config("x", ["a.tar"], validate_every=5,
                            validation=ValidationConfig(video="v.mp4", audio="a.wav", seconds=0.5))
    back = TrainConfig.from_dict(cfg.to_dict())
    assert back.validation == cfg.validation and back.to_dict() == cfg.to_dict()


def test_validation_samples_are_written_and_training_is_unchanged(shards, val_media, tmp_path):
    import av

    torch.set_num_threads(1)
    plain = train(_cfg(tmp_path / "plain", shards))
    vc = ValidationConfig(video=str(val_media.path), audio=str(val_media.path), num_steps=2, seconds=0.6)
    cfg = _cfg(tmp_path / "val", shards, vc, validate_every=2)
    hist = train(cfg, stop_at_step=3) + train(cfg, resume=True)  # a validation before the stop and after the resume
    assert [h["keys"] for h in hist] == [h["keys"] for h in plain]
    assert [h["loss"] for h in hist] == [h["loss"] for h in plain]  # bitwise: RNG streams and weights untouched
    samples = sorted(p.name for p in (tmp_path / "val" / "samples").glob("*.mp4"))
    assert samples == ["step_0000002.mp4", "step_0000004.mp4"]
    with av.open(str(tmp_path / "val" / "samples" / samples[-1])) as c:
        assert c.streams.video and c.streams.audio
        n = sum(1 for _ in c.decode(video=0))
        assert n == 15  # 0.6 s of driving audio at 25 fps
        assert (c.streams.video[0].width, c.streams.video[0].height) == (96, 96)
    events = b"".join(p.read_bytes() for p in (tmp_path / "val" / "tb").glob("events.*"))
    assert b"samples/step_0000004.mp4" in events and b"validation/sample" in events
    # the sample itself as a playing video: an animated GIF in an image summary at validation/video
    import io

    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

    acc = EventAccumulator(str(tmp_path / "val" / "tb"), size_guidance={IMAGES: 0})
    acc.Reload()
    videos = acc.Images("validation/video")
    assert [v.step for v in videos] == [2, 4]
    v = videos[-1]
    assert (v.width, v.height) == (96, 96)
    gif = Image.open(io.BytesIO(v.encoded_image_string))
    assert gif.format == "GIF" and gif.size == (96, 96) and gif.is_animated
    durations = []
    for i in range(gif.n_frames):
        gif.seek(i)
        durations.append(gif.info["duration"])
    assert gif.n_frames == n == 15 and sum(durations) == 15 * 40  # every frame of the mp4, at 25 fps


def test_missing_validation_video_fails_at_start(shards, tmp_path):
    vc = ValidationConfig(video=str(tmp_path / "nope.mp4"), audio=str(tmp_path / "nope.wav"))
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        train(_cfg(tmp_path, shards, vc, validate_every=1))
