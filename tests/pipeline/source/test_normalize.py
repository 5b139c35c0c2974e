"""Decode-once normalization: 30 fps -> 25 fps by timestamp, 44.1 kHz stereo -> 16 kHz mono."""
from __future__ import annotations

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.manifests.schema import SourceRecord  # noqa: E402
from lipforge.pipeline.stages.config import SegmentConfig  # noqa: E402
from lipforge.pipeline.stages.segment import Segmenter  # noqa: E402

from _source_media import counter_frames, read_counter, write  # noqa: E402


@pytest.fixture(scope="module")
def src30(tmp_path_factory):
    """3 s at 30 fps (frame k shows k in binary), 44.1 kHz stereo: 440 Hz left, 1000 Hz right."""
    sr = 44100
    t = np.arange(3 * sr) / sr
    audio = np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.4 * np.sin(2 * np.pi * 1000 * t)], 1).astype(np.float32)
    path = tmp_path_factory.mktemp("norm") / "c30.mp4"
    write(path, counter_frames(90), fps=30, audio=audio, sr=sr, channels=2)
    seg = Segmenter(SegmentConfig(min_clip_s=1.0, max_clip_s=10.0, scene_detector="none"))
    items = list(seg.run(str(path), SourceRecord("c30", str(path))))
    return seg, items


def test_30fps_becomes_25fps_by_timestamp(src30):
    seg, items = src30
    assert seg.n_frames == 75  # 3 s at 25 fps
    frames = np.concatenate([it.frames for it in items])
    assert frames.shape == (75, 48, 64, 3) and frames.dtype == np.uint8
    shown = read_counter(frames)
    # output frame i (at i/25 s) shows the latest source frame k with k/30 <= i/25 + 1/50
    expected = np.floor(np.arange(75) * 30 / 25 + 30 / 50 + 1e-9).astype(int)
    np.testing.assert_array_equal(shown, expected)
    dropped = set(range(90)) - set(shown.tolist())
    assert len(dropped) == 15  # one in six source frames dropped, none duplicated
    assert len(set(shown.tolist())) == 75


def test_44k_stereo_becomes_16k_mono(src30):
    _, items = src30
    audio = np.concatenate([it.audio for it in items])
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == 75 * 640  # 16 kHz, aligned to the 25 fps frames
    spec = np.abs(np.fft.rfft(audio[1600:-1600]))
    freqs = np.fft.rfftfreq(len(audio) - 3200, 1 / 16000)
    peaks = sorted(freqs[np.argsort(spec)[-2:]].round())
    assert abs(peaks[0] - 440) <= 2 and abs(peaks[1] - 1000) <= 2  # both channels mixed into mono
    lo = spec[np.abs(freqs - 440) < 3].max()
    hi = spec[np.abs(freqs - 1000) < 3].max()
    assert 0.7 < lo / hi < 1.4  # equal weight for each channel
    assert 0.15 < float(np.sqrt((audio[1600:-1600] ** 2).mean())) < 0.35  # half of each 0.4 sine


def test_frames_downscaled_to_work_max_side(tmp_path):
    path = write(tmp_path / "big.mp4", counter_frames(60, h=96, w=160), audio=np.zeros(38400, np.float32))
    seg = Segmenter(SegmentConfig(min_clip_s=1.0, max_clip_s=10.0, work_max_side=80, scene_detector="none"))
    (item,) = list(seg.run(path, SourceRecord("big", path)))
    assert item.frames.shape[1:] == (48, 80, 3)
    assert item.work_scale == pytest.approx(0.5)
    assert (item.source_width, item.source_height) == (160, 96)
    assert item.measurements == {"width": 160, "height": 96, "work_scale": 0.5}
