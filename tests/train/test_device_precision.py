"""CPU stand-ins for defects that otherwise only show on a GPU: half-precision frozen encoders and
autocast leaking into the EDM math, and checkpoints that must load onto whatever device resumes them."""
from __future__ import annotations

import torch

from lipforge.infer.models import LipSyncModel, LipSyncModelConfig
from lipforge.infer.scheduler import EDMScheduler
from lipforge.train.checkpoint import CheckpointManager, rng_states, set_rng_states
from lipforge.train.objective import compute_loss, step_generator


class _SpyScheduler(EDMScheduler):
    """Records the dtypes the objective hands to the EDM math."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, torch.dtype] = {}

    def add_noise(self, original_samples, noise, sigmas):
        out = super().add_noise(original_samples, noise, sigmas)
        self.seen.update(x0=original_samples.dtype, noise=noise.dtype, sigma=sigmas.dtype, noisy=out.dtype)
        return out

    def precondition(self, sigma):
        c = super().precondition(sigma)
        self.seen.update(c_skip=c[0].dtype, c_out=c[1].dtype, c_in=c[2].dtype, c_noise=c[3].dtype)
        return c

    def loss_weight(self, sigma):
        w = super().loss_weight(sigma)
        self.seen["weight"] = w.dtype
        return w


def _batch(b: int = 2, t: int = 4, r: int = 32) -> dict:
    g = torch.Generator().manual_seed(1)
    masks = torch.zeros(b, t, 1, r, r)
    masks[..., r // 2:, :] = 1
    return {"frames": torch.rand(b, t, 3, r, r, generator=g) * 2 - 1, "masks": masks,
            "ref": torch.rand(b, 4, r, r, generator=g), "audio": torch.randn(b, (t + 2) * 640, generator=g) * 0.1,
            "audio_centers": torch.arange(1, t + 1).repeat(b, 1), "audio_valid": torch.full((b,), t + 2),
            "audio_offset": torch.zeros(b, dtype=torch.long)}


def test_edm_math_stays_fp32_with_bf16_vae_and_outer_autocast():
    """A frozen VAE in bf16 (to save GPU memory) and an enclosing autocast must not pull the target
    latents, sigma, the EDM coefficients or the loss reduction out of float32."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    m = LipSyncModel.from_config(LipSyncModelConfig.tiny())
    m.vae.to(torch.bfloat16)
    sched = _SpyScheduler()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _stats = compute_loss(m, m, _batch(), sched, step_generator(0, 0, 0), 0.1, 0.1,
                                   autocast_dtype=torch.bfloat16)
    assert set(sched.seen) >= {"x0", "noise", "sigma", "noisy", "c_skip", "c_out", "c_in", "c_noise", "weight"}
    bad = {k: v for k, v in sched.seen.items() if v != torch.float32}
    assert not bad, f"EDM math left float32: {bad}"
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()  # gradients reach the trainable weights through the bf16 forward
    assert m.unet.conv_in.weight.grad is not None


def test_bf16_autocast_loss_close_to_fp32():
    """Same batch and draw: the bf16 forward changes the loss only by rounding, not by a dtype bug."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    m = LipSyncModel.from_config(LipSyncModelConfig.tiny())
    batch = _batch()
    l32, _ = compute_loss(m, m, batch, EDMScheduler(), step_generator(0, 3, 0), 0.0, 0.0)
    l16, _ = compute_loss(m, m, batch, EDMScheduler(), step_generator(0, 3, 0), 0.0, 0.0,
                          autocast_dtype=torch.bfloat16)
    l16, l32 = float(l16.detach()), float(l32.detach())
    assert abs(l16 - l32) <= 0.05 * abs(l32) + 1e-3


def test_checkpoint_load_maps_to_cpu(tmp_path, monkeypatch):
    """A checkpoint written on cuda:N must load on any machine: CheckpointManager.load maps to the CPU
    (the trainer then moves weights, optimizer state and EMA to its own device)."""
    mgr = CheckpointManager(tmp_path)
    path = mgr.save(1, {"model": {"w": torch.ones(2)}, "ema": {"w": torch.ones(2)}, "step": 1}, "x: 1\n")
    calls = []
    real = torch.load

    def spy(*a, **kw):
        calls.append(kw)
        return real(*a, **kw)

    monkeypatch.setattr(torch, "load", spy)
    st = CheckpointManager.load(path)
    assert calls and str(calls[0].get("map_location")) == "cpu" and calls[0].get("weights_only") is True
    assert st["ema"]["w"].device.type == "cpu"


def test_rng_states_roundtrip_through_checkpoint(tmp_path):
    """RNG states survive torch.save / torch.load(weights_only=True) and restore the same draws."""
    st = rng_states()
    a = torch.rand(3)
    mgr = CheckpointManager(tmp_path)
    path = mgr.save(1, {"rng": [st]}, "x: 1\n")
    set_rng_states(CheckpointManager.load(path)["rng"][0])
    assert torch.equal(torch.rand(3), a)


def test_widen_conv_in_keeps_dtype_and_device():
    """A UNet loaded in half precision (or already moved to a GPU) gets a conv_in of the same kind."""
    from lipforge.infer.models.unet import LipSyncUNet, widen_conv_in

    cfg = dict(LipSyncModelConfig.tiny().unet_config, in_channels=4)
    unet = LipSyncUNet(**cfg).to(torch.bfloat16)
    old = unet.conv_in.weight.detach().clone()
    widen_conv_in(unet)
    w = unet.conv_in.weight
    assert w.shape[1] == 8 and w.dtype == torch.bfloat16 and w.device == old.device
    assert torch.equal(w[:, :4], old) and not w[:, 4:].any()
