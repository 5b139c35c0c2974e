"""Validation samples: the EMA weights lip-sync a fixed (video, audio) pair through the inference pipeline.

The sample is made with :class:`lipforge.infer.pipeline.LipSyncPipeline`, the exact code path users run,
so a sample that looks wrong points at the model, not at a training-only sampler. It runs on
rank 0 between two steps and leaves training untouched: the trainable weights are swapped for
the EMA and copied back, and the python / numpy / torch RNG states are saved and restored, so a
run with validation is bitwise the same as one without (tests/train/test_validation.py).

>>> write_validation_sample(model, ema, cfg, step=1000, device="cpu")   # doctest: +SKIP
PosixPath('runs/x/samples/step_0001000.mp4')
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from lipforge.train.checkpoint import rng_states, set_rng_states
from lipforge.train.config import TrainConfig, ValidationConfig

log = logging.getLogger(__name__)


def samples_dir(cfg: TrainConfig) -> Path:
    return Path(cfg.output_dir) / "samples"


def sample_path(cfg: TrainConfig, step: int) -> Path:
    return samples_dir(cfg) / f"step_{step:07d}.mp4"


def check_validation_inputs(vc: ValidationConfig) -> None:
    """Fail at startup, not hours later at the first validation step."""
    try:
        import PIL  # noqa: F401 - encodes the tensorboard video (train/tb_video.py)
    except ImportError:
        raise ImportError("validation videos in tensorboard need Pillow: pip install 'lipforge[train]'") from None
    for name in ("video", "audio"):
        p = Path(getattr(vc, name))
        if not p.is_file():
            raise FileNotFoundError(f"ValidationConfig.{name}={str(p)!r} does not exist")


def driving_audio(vc: ValidationConfig, directory: Path) -> Path:
    """The validation audio cut to ``vc.seconds`` as a 16 kHz WAV (written once per run directory)."""
    from lipforge.pipeline.media import encode_wav
    from lipforge.infer.prepare import load_audio

    path = directory / f"validation_audio_{round(vc.seconds * 1000):07d}ms.wav"
    if not path.is_file():
        wav = load_audio(vc.audio)[:max(1, round(vc.seconds * 16000))]
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(encode_wav(wav))
        tmp.replace(path)
    return path


@torch.no_grad()
def write_validation_sample(model, ema: dict[str, torch.Tensor], cfg: TrainConfig, step: int,
                            device: torch.device | str = "cpu") -> Path:
    """Lip-sync ``cfg.validation`` with the EMA weights; returns ``<output_dir>/samples/step_XXXXXXX.mp4``.

    ``model`` is the bare LipSyncModel being trained (its trainable weights are restored bit for
    bit afterwards, as are its train/eval mode and every global RNG)."""
    from lipforge.infer.pipeline import LipSyncPipeline
    from lipforge.infer.scheduler import EDMScheduler
    from lipforge.train.recipe import recipe_for

    vc = cfg.validation
    if vc is None:
        raise ValueError("write_validation_sample: TrainConfig.validation is not set")
    out_dir = samples_dir(cfg)
    trainable = model.trainable_modules()
    states = rng_states()
    backup = {k: v.detach().clone() for k, v in trainable.state_dict().items()}
    was_training = model.training
    try:
        audio = driving_audio(vc, out_dir / ".cache")
        if ema:  # ema: off -> the live weights
            trainable.load_state_dict(ema)
        n = int(cfg.model.num_frames)  # segments as long as the training windows
        pipe = LipSyncPipeline(model, EDMScheduler(cfg.loss.scheduler), device=str(device), recipe=recipe_for(cfg))
        return pipe(vc.video, audio, sample_path(cfg, step), num_inference_steps=vc.num_steps,
                    guidance_scale=vc.guidance_scale, segment_length=n, overlap=n // 4, seed=cfg.seed,
                    cache_dir=out_dir / ".cache", progress=False)
    finally:
        trainable.load_state_dict(backup)
        model.train(was_training)
        set_rng_states(states)


def log_sample_to_tensorboard(writer, path: Path, step: int, max_frames: int = 250) -> str:
    """The sample as a playing tensorboard video at ``validation/video``: the first ``max_frames``
    frames (10 s at 25 fps) as an animated GIF, no moviepy needed (:mod:`lipforge.train.tb_video`).
    Returns the tag written; a sample that cannot be decoded is logged and skipped."""
    from lipforge.infer.prepare import load_source
    from lipforge.infer.recipe import FPS
    from lipforge.train.tb_video import add_gif_video

    try:
        frames = load_source(path)  # (T, H, W, 3) uint8 on the 25 fps timeline
    except Exception:  # noqa: BLE001 - a progress picture must not stop training
        log.exception("validation sample %s could not be read back for tensorboard", path)
        return ""
    add_gif_video(writer, "validation/video", frames[:max_frames], step, fps=FPS)
    return "validation/video"
