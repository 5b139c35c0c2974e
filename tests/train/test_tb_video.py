"""Tensorboard videos without moviepy: the GIF encoder and the summary it writes."""
from __future__ import annotations

import io

import numpy as np
import pytest


def _frames(t=6, h=40, w=64):
    x = np.zeros((t, h, w, 3), np.uint8)
    for i in range(t):
        x[i, :, i * 8:(i + 1) * 8] = (255, 40 * i, 0)  # a bar moving right: every frame differs
    return x


def _gif_frames(data):
    from PIL import Image

    gif = Image.open(io.BytesIO(data))
    out, durations = [], []
    for i in range(gif.n_frames):
        gif.seek(i)
        out.append(np.asarray(gif.convert("RGB")))
        durations.append(gif.info["duration"])
    return gif, out, durations


def test_gif_has_every_frame_at_the_frame_rate_and_loops():
    from lipforge.train.tb_video import gif_bytes

    frames = _frames()
    data, h, w = gif_bytes(frames, fps=25)
    gif, out, durations = _gif_frames(data)
    assert (h, w) == (40, 64) and gif.size == (64, 40) and gif.info.get("loop") == 0
    assert len(out) == 6 and durations == [40] * 6
    for i, f in enumerate(out):  # the moving bar is where it was (palette colours are approximate)
        bar = slice(i * 8, (i + 1) * 8)
        assert f[:, bar, 0].min() > 200 and np.delete(f, bar, axis=1)[..., 0].max() < 60


def test_gif_is_scaled_down_and_identical_frames_keep_the_duration():
    from lipforge.train.tb_video import gif_bytes

    big = np.repeat(_frames(t=3, h=300, w=600), 2, axis=0)  # each frame twice
    data, h, w = gif_bytes(big, fps=25, max_side=128)
    gif, out, durations = _gif_frames(data)
    assert (h, w) == (64, 128) and gif.size == (128, 64)
    assert sum(durations) == 6 * 40  # Pillow merges repeats; the clip still plays 6 frames' time
    with pytest.raises(ValueError, match="uint8"):
        gif_bytes(big.astype(np.float32))
    with pytest.raises(ValueError, match="fps"):
        gif_bytes(big, fps=0)


def test_summary_is_read_back_as_a_gif_image(tmp_path):
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    from lipforge.train.tb_video import add_gif_video

    w = SummaryWriter(str(tmp_path))
    add_gif_video(w, "validation/video", _frames(), step=7)
    w.close()
    acc = EventAccumulator(str(tmp_path), size_guidance={IMAGES: 0})
    acc.Reload()
    (ev,) = acc.Images("validation/video")
    assert (ev.step, ev.width, ev.height) == (7, 64, 40)
    gif = Image.open(io.BytesIO(ev.encoded_image_string))
    assert gif.format == "GIF" and gif.n_frames == 6
