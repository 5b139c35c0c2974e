"""A video in tensorboard without moviepy: an animated GIF inside an Image summary.

Tensorboard's video panel is its image panel showing a GIF: ``SummaryWriter.add_video`` builds
``Summary.Image(height, width, colorspace, encoded_image_string=<gif>)``, but encodes the GIF with
moviepy (and its ``moviepy.editor`` import is gone in moviepy 2). Here Pillow encodes it and the
summary goes through the writer's own file writer at the step, so the event is the one
``add_video`` writes and tensorboard plays it. Pillow comes with the ``train`` extra (tensorboard
and diffusers require it).

>>> frames = np.zeros((4, 32, 32, 3), np.uint8)
>>> add_gif_video(writer, "validation/video", frames, step=10)   # doctest: +SKIP
"""
from __future__ import annotations

import io

import numpy as np

MAX_SIDE = 256  # px: a 10 s 1080p sample as a GIF would be hundreds of MB in the event file


def gif_bytes(frames: np.ndarray, fps: float = 25.0, max_side: int = MAX_SIDE) -> tuple[bytes, int, int]:
    """(T, H, W, 3) uint8 -> (animated GIF, height, width), looping, scaled so its longer side is at
    most ``max_side``. Pillow merges a frame identical to the previous one into it (the duration
    adds up), so the GIF can have fewer frames than ``T`` but always plays ``T / fps`` seconds."""
    from PIL import Image

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"gif_bytes: want (T, H, W, 3) uint8 frames with T >= 1, got {frames.shape} {frames.dtype}")
    if fps <= 0:
        raise ValueError(f"gif_bytes: fps must be > 0, got {fps}")
    h, w = frames.shape[1:3]
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    images = [Image.fromarray(f) for f in frames]
    if size != (w, h):
        images = [im.resize(size, Image.Resampling.BILINEAR) for im in images]
    buf = io.BytesIO()
    # GIF delays are in 1/100 s: 25 fps -> 40 ms exactly
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return buf.getvalue(), size[1], size[0]


def add_gif_video(writer, tag: str, frames: np.ndarray, step: int, fps: float = 25.0,
                  max_side: int = MAX_SIDE) -> None:
    """Log (T, H, W, 3) uint8 ``frames`` to a ``torch.utils.tensorboard.SummaryWriter`` as a playing video."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    gif, h, w = gif_bytes(frames, fps, max_side)
    image = Summary.Image(height=h, width=w, colorspace=3, encoded_image_string=gif)
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
