"""EDM denoising score matching with SayAnything's condition dropout.

loss = E_sigma[ lambda(sigma) || D(z0 + sigma n; sigma) - z0 ||^2 ], ln sigma ~ N(p_mean, p_std^2),
D = c_skip x + c_out F(c_in x; c_noise) - the scheduler owns every coefficient. All randomness
(sigma, noise, dropout) is drawn from one generator seeded per (seed, step, rank), so a resumed
run draws exactly what the uninterrupted run drew.
"""
from __future__ import annotations

import torch

from lipforge.infer.scheduler import EDMScheduler


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 4099 + rank)


def sample_dropout(batch_size: int, gen: torch.Generator, p_audio: float, p_ref: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(drop_audio (B,), drop_ref (B,)) bool: audio with p_audio and then the reference too;
    otherwise the reference alone with p_ref. The masked video is never dropped."""
    u = torch.rand(batch_size, generator=gen)
    v = torch.rand(batch_size, generator=gen)
    drop_audio = u < p_audio
    drop_ref = drop_audio | (v < p_ref)
    return drop_audio, drop_ref


def _b(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) coefficient -> float32 on ``like``'s device, broadcastable: the EDM math stays fp32 even
    when the frozen VAE runs in half precision or the caller is inside an autocast region."""
    return x.to(like.device, torch.float32).reshape(-1, *([1] * (like.ndim - 1)))


def compute_loss(model, core, batch: dict, scheduler: EDMScheduler, gen: torch.Generator, p_audio: float,
                 p_ref: float, pixel_loss_weight: float = 0.0, device: torch.device | str = "cpu",
                 autocast_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """One batch -> (scalar loss, stats). ``model`` may be DDP-wrapped; ``core`` is the bare LipSyncModel."""
    frames = batch["frames"].to(device, non_blocking=True)  # (B, T, 3, R, R) in [-1, 1]
    masks = batch["masks"].to(device, non_blocking=True)  # (B, T, 1, R, R)
    # the frozen VAE may run in fp16/bf16: its latents are the regression target, so fp32 from here on
    masked_latents = core.encode_video(frames * (1 - masks)).float()  # (B, T, 4, h, w)
    if "latents" in batch:  # per-clip cache written by lipforge.train.cache (float16 on disk)
        latents = batch["latents"].to(device, torch.float32)
        if latents.shape != masked_latents.shape:
            raise ValueError(f"cached latents.npy windows have shape {tuple(latents.shape)}, the model encodes "
                             f"{tuple(masked_latents.shape)}: rebuild the cache (python -m lipforge.train.cache) for this model")
    else:
        latents = core.encode_video(frames).float()  # (B, T, 4, h, w)
    if "whisper" in batch:  # cached Whisper features of the whole clip, cut to the window
        feats = batch["whisper"].float()  # (B, A, C)
        c = int(core.whisper.config.d_model)
        if feats.shape[-1] != c:
            raise ValueError(f"cached whisper.npy has {feats.shape[-1]} channels, the model's Whisper has {c}: "
                             "rebuild the cache (python -m lipforge.train.cache) for this model")
    else:
        feats = core.audio_features(batch["audio"])  # (B, A, C)
    windows = core.audio_windows(feats.to(device), batch["audio_centers"], batch["audio_valid"])  # (B, T, W, C)

    b = latents.shape[0]
    sigma = scheduler.sample_sigmas(b, gen)  # (B,)
    noise = torch.randn(latents.shape, generator=gen, dtype=torch.float32).to(device)  # CPU generator
    drop_audio, drop_ref = sample_dropout(b, gen, p_audio, p_ref)
    dev_type = torch.device(device).type
    with torch.autocast(device_type=dev_type, enabled=False):  # sigma, coefficients, noise: fp32
        noisy = scheduler.add_noise(latents, noise, sigma.to(device, torch.float32))
        c_skip, c_out, c_in, c_noise = scheduler.precondition(sigma.float())
        x_in = _b(c_in, noisy) * noisy
    with torch.autocast(device_type=dev_type, dtype=autocast_dtype or torch.float32,
                        enabled=autocast_dtype is not None):
        F = model(x_in, c_noise.to(device), masked_latents, batch["ref"].to(device), windows,
                  drop_audio=drop_audio.to(device), drop_ref=drop_ref.to(device))
    with torch.autocast(device_type=dev_type, enabled=False):  # the loss and its reduction: fp32
        D = _b(c_skip, noisy) * noisy + _b(c_out, noisy) * F.float()  # (B, T, 4, h, w)
        weight = scheduler.loss_weight(sigma.float()).to(device)
        per_sample = ((D - latents) ** 2).mean(dim=(1, 2, 3, 4))  # (B,)
        loss = (weight * per_sample).mean()
    stats = {"loss_dsm": float(loss.detach()), "sigma_mean": float(sigma.mean()),
             "drop_audio": float(drop_audio.float().mean()), "drop_ref": float(drop_ref.float().mean())}
    if pixel_loss_weight > 0:
        # KeySync: one decoded frame in pixel space, through the frozen decoder (gradients reach D)
        t0 = int(torch.randint(latents.shape[1], (1,), generator=gen))
        z = D[:, t0] / core.vae.config.scaling_factor  # (B, 4, h, w)
        x = core.vae.decode(z.to(core.vae.dtype), num_frames=1).sample  # (B, 3, R, R)
        pix = ((x.float() - frames[:, t0].float()) ** 2).mean()
        loss = loss + pixel_loss_weight * pix
        stats["loss_pixel"] = float(pix.detach())
    return loss, stats
