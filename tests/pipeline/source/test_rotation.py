"""Phone videos: a display rotation in the container must give upright frames and sizes."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.pipeline.stages.config import SegmentConfig  # noqa: E402
from lipforge.pipeline.stages.segment import Segmenter  # noqa: E402
from lipforge.pipeline.source import probe_source  # noqa: E402

from _source_media import tone, write  # noqa: E402


def _pattern(n: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A bright block in the top-left corner: any rotation moves it to another corner."""
    fr = np.full((n, h, w, 3), 40, np.uint8)
    fr[:, : h // 2, : w // 3] = 230
    return fr


@pytest.mark.parametrize("turns", [1, 3])
def test_display_rotation_gives_upright_frames(tmp_path, turns):
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg CLI not installed: needed to tag a test file with a display rotation")
    frames = _pattern(60)
    plain = write(tmp_path / "plain.mp4", frames, audio=tone(2.4))
    rotated = tmp_path / "rot.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", plain, "-c", "copy",
                    "-metadata:s:v:0", f"rotate={90 * turns}", str(rotated)], check=True)
    rec = probe_source(str(rotated), "rot")
    assert (rec.status, rec.width, rec.height) == ("ok", 48, 64)
    seg = Segmenter(SegmentConfig(min_clip_s=1.0, max_clip_s=10.0, scene_detector="none"))
    items = list(seg.run(str(rotated), rec))
    got = np.concatenate([it.frames for it in items])
    assert got.shape == (60, 64, 48, 3)
    assert (items[0].source_width, items[0].source_height) == (48, 64)
    # ffmpeg's autorotation shows a frame tagged with a counter-clockwise angle as rot90(angle / 90)
    want = np.rot90(frames, turns, axes=(1, 2))
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 8
    assert np.abs(got.astype(int) - np.rot90(frames, -turns, axes=(1, 2)).astype(int)).mean() > 40
    # inference decodes the user's video with the same rule
    from lipforge.pipeline.media import decode_video

    dec = decode_video(rotated)
    assert dec.shape == (60, 64, 48, 3)
    assert np.abs(dec.astype(int) - want.astype(int)).mean() < 8
