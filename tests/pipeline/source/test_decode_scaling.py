"""The working-size conversion of FrameStream: YUV scaled before RGB, other formats in one pass."""
from __future__ import annotations

import numpy as np


def _frame(fmt: str):
    import av

    rgb = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    if fmt.startswith("bayer"):
        return av.VideoFrame.from_ndarray(rgb[..., 1].copy(), format=fmt)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)


def test_every_pixel_format_converts_at_the_working_size():
    from lipforge.pipeline.source.normalize import FrameStream

    for fmt in ("yuv420p", "yuvj420p", "nv12", "gray", "rgb24", "bayer_rggb8"):  # bayer: swscale cannot write it
        fs = FrameStream("unused.mp4", work_max_side=48)
        out = fs._convert(_frame(fmt))
        assert out.shape == (32, 48, 3) and out.dtype == np.uint8, fmt
        assert (fs.width, fs.height, fs.work_scale) == (48, 32, 0.5), fmt


def test_yuv_scaled_first_stays_within_a_few_levels_of_the_one_pass():
    from lipforge.pipeline.source.normalize import FrameStream

    f = _frame("yuv420p")
    one_pass = f.reformat(width=48, height=32, format="rgb24", threads=1).to_ndarray().astype(int)
    got = FrameStream("unused.mp4", work_max_side=48)._convert(f).astype(int)
    assert np.abs(got - one_pass).mean() < 8  # noise frame: the worst case for scaling order
