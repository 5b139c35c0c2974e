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


def sample_dropout(batch_size: int, gen: torch.Generator, p_audio: float, p_ref: float,
                   independent: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(drop_audio (B,), drop_ref (B,)) bool. SayAnything (``independent=False``): audio with
    p_audio and then the reference too, otherwise the reference alone with p_ref. KeySync
    (``independent=True``): audio with p_audio and the identity with p_ref, drawn independently,
    so "audio dropped, reference kept" - the branch KeySync's guidance samples - is trained.
    The masked video is never dropped."""
    u = torch.rand(batch_size, generator=gen)
    v = torch.rand(batch_size, generator=gen)
    drop_audio = u < p_audio
    drop_ref = (v < p_ref) if independent else drop_audio | (v < p_ref)
    return drop_audio, drop_ref


def window_audio(core, batch: dict, device: torch.device | str = "cpu") -> torch.Tensor:
    """A batch's per-frame audio tokens (B, T, W, C): the cached Whisper rows of the window, or the
    window's Whisper chunks encoded now and cut at ``audio_offset`` to the same rows; both are the
    features inference computes over the whole job (:mod:`lipforge.infer.models.audio`)."""
    if "whisper" in batch:  # cached Whisper features of the whole clip, cut to the window
        feats = batch["whisper"].float()  # (B, A, C)
        c = int(core.whisper.config.d_model)
        if feats.shape[-1] != c:
            raise ValueError(f"cached whisper.npy has {feats.shape[-1]} channels, the model's Whisper has {c}: "
                             "rebuild the cache (python -m lipforge.train.cache) for this model")
    else:
        full = core.audio_features(batch["audio"])  # (B, A_chunks, C): whole encoder chunks
        fpf = core.config.audio_features_per_frame
        rows = batch["audio_centers"].shape[1] + 2 * core.config.audio_context_k
        idx = batch["audio_offset"].to(full.device)[:, None] * fpf + torch.arange(rows * fpf, device=full.device)
        idx = idx.clamp(max=full.shape[1] - 1)  # rows past the chunks are past audio_valid: masked below
        feats = torch.gather(full, 1, idx[..., None].expand(-1, -1, full.shape[2]))  # (B, (T + 2k) * fpf, C)
    return core.audio_windows(feats.to(device), batch["audio_centers"], batch["audio_valid"])


def pixel_loss(x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """KeySync's pixel-space L2 of decoded frames x vs targets (B, 3, R, R): the mean over the
    lip mask (B, 1, R, R) when given (the region the model generates), each sample weighted by
    ``weight`` (B,) = lambda(sigma) when given; then the batch mean (fp32)."""
    err = (x.float() - target.float()) ** 2  # (B, 3, R, R)
    if mask is not None:
        m = mask.float()
        per = (err * m).sum(dim=(1, 2, 3)) / (err.shape[1] * m.sum(dim=(1, 2, 3))).clamp(min=1)
    else:
        per = err.mean(dim=(1, 2, 3))  # (B,)
    return (per * weight if weight is not None else per).mean()


def to_device(x: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A CPU tensor to ``device`` without a host sync: a pageable host-to-GPU copy waits for the
    GPU's queue, a pinned one is queued like a kernel (same values either way)."""
    if torch.device(device).type != "cuda":
        return x.to(device)
    return x.pin_memory().to(device, non_blocking=True)


def _b(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) coefficient -> float32 on ``like``'s device, broadcastable: the EDM math stays fp32 even
    when the frozen VAE runs in half precision or the caller is inside an autocast region."""
    return x.to(like.device, torch.float32).reshape(-1, *([1] * (like.ndim - 1)))


def compute_loss(model, core, batch: dict, scheduler: EDMScheduler, gen: torch.Generator, p_audio: float,
                 p_ref: float, pixel_loss_weight: float = 0.0, device: torch.device | str = "cpu",
                 autocast_dtype: torch.dtype | None = None, independent_dropout: bool = False,
                 pixel_loss_sigma_weighted: bool = False,
                 pixel_loss_masked: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One batch -> (scalar loss, stats). ``model`` may be DDP-wrapped; ``core`` is the bare LipSyncModel.

    The stats are detached tensors (on the device for the losses): reading them is a host sync,
    which the loop does once per logging interval, not every step."""
    frames = batch["frames"].to(device, non_blocking=True)  # (B, T, 3, R, R) in [-1, 1]
    masks = batch["masks"].to(device, non_blocking=True)  # (B, T, 1, R, R)
    dev_type = torch.device(device).type
    # the frozen VAE encodes under the UNet's autocast (a third of an fp32 step otherwise); masked
    # video and target in one call. Its latents are the regression target: fp32 from here on
    cached = batch.get("latents")
    with torch.autocast(device_type=dev_type, dtype=autocast_dtype or torch.float32,
                        enabled=autocast_dtype is not None):
        x = frames * (1 - masks) if cached is not None else torch.cat([frames * (1 - masks), frames])
        enc = core.encode_video(x).float()  # (B or 2B, T, 4, h, w)
        windows = window_audio(core, batch, device)  # (B, T, W, C): Whisper under autocast, as inference runs it
    b = frames.shape[0]
    masked_latents = enc[:b]
    if cached is not None:  # per-clip cache written by lipforge.train.cache (float16 on disk)
        latents = cached.to(device, torch.float32)
        if latents.shape != masked_latents.shape:
            raise ValueError(f"cached latents.npy windows have shape {tuple(latents.shape)}, the model encodes "
                             f"{tuple(masked_latents.shape)}: rebuild the cache (python -m lipforge.train.cache) for this model")
    else:
        latents = enc[b:]  # (B, T, 4, h, w)

    sigma = scheduler.sample_sigmas(b, gen)  # (B,) drawn on the CPU
    noise = torch.randn(latents.shape, generator=gen, dtype=torch.float32)  # CPU generator
    drop_audio, drop_ref = sample_dropout(b, gen, p_audio, p_ref, independent_dropout)
    sigma_d, noise, drop_a, drop_r = (to_device(t, device) for t in (sigma.float(), noise, drop_audio, drop_ref))
    with torch.autocast(device_type=dev_type, enabled=False):  # sigma, coefficients, noise: fp32
        noisy = scheduler.add_noise(latents, noise, sigma_d)
        c_skip, c_out, c_in, c_noise = scheduler.precondition(sigma_d)
        x_in = _b(c_in, noisy) * noisy
    with torch.autocast(device_type=dev_type, dtype=autocast_dtype or torch.float32,
                        enabled=autocast_dtype is not None):
        F = model(x_in, c_noise, masked_latents, batch["ref"].to(device, non_blocking=True), windows,
                  drop_audio=drop_a, drop_ref=drop_r)
    with torch.autocast(device_type=dev_type, enabled=False):  # the loss and its reduction: fp32
        D = _b(c_skip, noisy) * noisy + _b(c_out, noisy) * F.float()  # (B, T, 4, h, w)
        weight = scheduler.loss_weight(sigma_d)
        per_sample = ((D - latents) ** 2).mean(dim=(1, 2, 3, 4))  # (B,)
        loss = (weight * per_sample).mean()
    stats = {"loss_dsm": loss.detach(), "sigma_mean": sigma.mean(),
             "drop_audio": drop_audio.float().mean(), "drop_ref": drop_ref.float().mean()}
    if pixel_loss_weight > 0:
        # KeySync: one decoded frame in pixel space, through the frozen decoder (gradients reach D);
        # optionally lambda(sigma)-weighted like the latent loss and restricted to the lip mask
        t0 = int(torch.randint(latents.shape[1], (1,), generator=gen))
        z = D[:, t0] / core.vae.config.scaling_factor  # (B, 4, h, w)
        with torch.autocast(device_type=dev_type, dtype=autocast_dtype or torch.float32,
                            enabled=autocast_dtype is not None):
            x = core.vae.decode(z.to(core.vae.dtype), num_frames=1).sample  # (B, 3, R, R)
        pix = pixel_loss(x, frames[:, t0], masks[:, t0] if pixel_loss_masked else None,
                         weight if pixel_loss_sigma_weighted else None)
        loss = loss + pixel_loss_weight * pix
        stats["loss_pixel"] = pix.detach()
    return loss, stats
