"""The lip-sync network shared by training and inference.

- :class:`LipSyncModelConfig` (``tiny()`` for tests): what to build, from local pretrained
  directories (``svd_dir``, ``whisper_dir``) or random init from architecture dicts.
- :class:`LipSyncModel`: ``from_config`` / ``save_pretrained(dir)`` / ``from_pretrained(dir)``;
  ``forward(x_in, c_noise, masked_latents, ref, audio_windows, drop_audio=None, drop_ref=None,
  id_residuals=None) -> F`` in EDM terms (D = c_skip x + c_out F, see :mod:`lipforge.infer.scheduler`);
  helpers ``encode_video`` / ``decode_latents`` (frozen VAE), ``audio_features`` (frozen Whisper
  encoder) and ``audio_windows`` (per-frame windows t-k..t+k, zero-padded at the ends).

Shapes (B batch, T frames, h = H / vae_scale_factor):
  x_in, masked_latents, F: (B, T, 4, h, w); c_noise: (B,); ref: (B, 4, H, W) RGB in [-1, 1] +
  mask indicator; audio_windows: (B, T, config.window_tokens, whisper d_model).

Example (sampling one step, as the pipeline does)::

    model = LipSyncModel.from_pretrained("export/")
    sched = EDMScheduler().sampler(); sched.set_timesteps(15)         # diffusers' EDMEulerScheduler
    feats = model.audio_features(audio)                                 # (1, A, C)
    win = model.audio_windows(feats, torch.arange(T)[None], torch.tensor([T]))
    res = model.id_guider(ref)                                          # once per video
    x = torch.randn(1, T, 4, h, w) * sched.init_noise_sigma
    for c_noise in sched.timesteps:
        F = model(sched.scale_model_input(x, c_noise), c_noise.expand(1), masked_lat, None, win, id_residuals=res)
        x = sched.step(F, c_noise, x).prev_sample
"""
from lipforge.infer.models.config import LipSyncModelConfig


def __getattr__(name: str):
    """The torch classes load on first use: a config (``LipSyncModelConfig``, read by
    ``lipforge train --config``'s checks) imports no torch or diffusers."""
    if name in ("audio_windows", "load_whisper_encoder", "save_whisper_encoder"):
        from lipforge.infer.models import audio as mod
    elif name == "IDGuider":
        from lipforge.infer.models import id_guider as mod
    elif name in ("AudioProjection", "LipSyncModel"):
        from lipforge.infer.models import lipsync as mod
    elif name in ("LipSyncUNet", "widen_conv_in"):
        from lipforge.infer.models import unet as mod
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(mod, name)


__all__ = [
    "AudioProjection",
    "IDGuider",
    "LipSyncModel",
    "LipSyncModelConfig",
    "LipSyncUNet",
    "audio_windows",
    "load_whisper_encoder",
    "save_whisper_encoder",
    "widen_conv_in",
]
