"""Shapes of the ID-Guider outputs and audio windows, EDM coefficients, model save/load round trip."""
from __future__ import annotations

import pytest
import torch

from lipforge.infer.models import IDGuider, LipSyncModel, LipSyncModelConfig, audio_windows
from lipforge.infer.scheduler import EDMScheduler


def test_id_guider_shapes_match_unet_levels():
    g = IDGuider(block_out_channels=(32, 64, 128), downsample_channels=(32, 64, 128, 64), vae_scale_factor=8)
    res = g(torch.randn(2, 4, 64, 64))  # pixels -> latents at /8; the last residual is the mid block's
    assert [tuple(r.shape) for r in res] == [(2, 32, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2), (2, 128, 2, 2),
                                             (2, 128, 2, 2)]
    assert all(r.abs().max() == 0 for r in res)  # zero-init: a pretrained UNet starts unchanged
    first = IDGuider(block_out_channels=(32, 64, 128), downsample_channels=(32, 64, 128, 64), vae_scale_factor=8,
                     downsample="conv", mid_block=False)
    assert [tuple(r.shape) for r in first(torch.randn(2, 4, 72, 72))] == [  # odd latent sizes round up
        (2, 32, 9, 9), (2, 32, 5, 5), (2, 64, 3, 3), (2, 128, 3, 3)]
    assert [tuple(r.shape) for r in g(torch.randn(2, 4, 72, 72))][1:3] == [(2, 32, 5, 5), (2, 64, 3, 3)]
    with pytest.raises(ValueError, match="downsample must be one of"):
        IDGuider(downsample="stride")


def test_full_size_id_guider_has_the_documented_parameter_count():
    """The counts in README "The model" (SVD's channels, built on the meta device: no weights)."""
    with torch.device("meta"):
        default, first = IDGuider(), IDGuider(downsample="conv", mid_block=False)
    assert sum(p.numel() for p in default.parameters()) == 97_258_208  # the paper: about 98 M
    assert sum(p.numel() for p in first.parameters()) == 85_475_488


def test_unet_adds_the_mid_block_residual_and_refuses_a_wrong_count():
    torch.manual_seed(0)
    m = LipSyncModel.from_config(LipSyncModelConfig.tiny())
    x = torch.randn(1, 4, 4, 16, 16)
    ref, win = torch.randn(1, 4, 32, 32), torch.randn(1, 4, 6, 32)
    res = [torch.zeros_like(r) for r in m.id_guider(ref)]
    assert len(res) == len(m.unet.down_blocks) + 2
    with torch.no_grad():
        base = m(x, torch.zeros(1), x, None, win, id_residuals=res)
        bumped = m(x, torch.zeros(1), x, None, win, id_residuals=res[:-1] + [torch.ones_like(res[-1])])
        without_mid = m(x, torch.zeros(1), x, None, win, id_residuals=res[:-1])
    assert not torch.allclose(base, bumped)  # the mid residual reaches the output
    assert torch.allclose(base, without_mid)  # a zero mid residual is the same as none
    with pytest.raises(ValueError, match="down_residuals"):
        m(x, torch.zeros(1), x, None, win, id_residuals=res[:2])


def test_an_export_without_the_layout_fields_loads_as_the_first_layout(tmp_path):
    import json

    torch.manual_seed(0)
    m = LipSyncModel.from_config(LipSyncModelConfig.tiny(id_guider_downsample="conv", id_guider_mid_block=False))
    m.save_pretrained(tmp_path / "old")
    for p, keys in ((tmp_path / "old" / "lipsync_config.json", ("id_guider_downsample", "id_guider_mid_block")),
                    (tmp_path / "old" / "id_guider" / "config.json", ("downsample", "mid_block"))):
        d = json.loads(p.read_text())
        for k in keys:
            del d[k]  # as written before the fields existed
        p.write_text(json.dumps(d))
    m2 = LipSyncModel.from_pretrained(tmp_path / "old")
    assert (m2.config.id_guider_downsample, m2.config.id_guider_mid_block, m2.id_guider.mid) == ("conv", False, None)
    sd, sd2 = m.id_guider.state_dict(), m2.id_guider.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    assert IDGuider.from_pretrained(tmp_path / "old" / "id_guider").mid is None  # standalone too
    # a layout asked for that is not the saved one would load with re-initialised layers: refused
    with pytest.raises(ValueError, match="downsample='conv', asked for 'pool'"):
        IDGuider.from_pretrained(tmp_path / "old" / "id_guider", downsample="pool", mid_block=True)


def test_audio_windows_zero_padded_at_clip_ends():
    feats = torch.arange(1, 21, dtype=torch.float32).reshape(1, 20, 1)  # 10 frames x 2 features
    w = audio_windows(feats, torch.arange(10)[None], torch.tensor([10]), k=2, per_frame=2)
    assert w.shape == (1, 10, 10, 1)
    assert w[0, 0, :4].abs().sum() == 0 and torch.equal(w[0, 0, 4:, 0], torch.arange(1, 7.0))  # frames -2,-1 padded
    assert w[0, 9, 6:].abs().sum() == 0 and torch.equal(w[0, 9, :6, 0], torch.arange(15, 21.0))  # frames 10,11 padded
    assert torch.equal(w[0, 5, :, 0], torch.arange(7, 17.0))  # interior frame: frames 3..7
    w2 = audio_windows(feats, torch.arange(10)[None], torch.tensor([6]), k=2, per_frame=2)
    assert w2[0, 5, 6:].abs().sum() == 0  # frames >= valid count are padding too


def test_edm_preconditioning_identity():
    s = EDMScheduler()
    sigma = torch.tensor([0.01, 1.0, 50.0])
    c_skip, c_out, c_in, c_noise = s.precondition(sigma)
    x0, n = torch.randn(3, 5), torch.randn(3, 5)
    x = s.add_noise(x0, n, sigma)
    F_ideal = (x0 - c_skip[:, None] * x) / c_out[:, None]
    assert torch.allclose(s.denoise(F_ideal, x, sigma), x0, atol=1e-4)
    assert torch.allclose(s.loss_weight(sigma), 1 / c_out ** 2)
    assert torch.allclose(c_noise, sigma.log() / 4)
    d = s.sampler()  # diffusers' EDMEulerScheduler from the same config
    d.set_timesteps(5)
    assert d.sigmas[0] == pytest.approx(700.0) and d.sigmas[-1] == 0 and (d.sigmas.diff() < 0).all()
    assert torch.allclose(d.timesteps, d.sigmas[:-1].log() / 4)  # the network's c_noise


def test_diffusers_samplers_by_name_follow_the_edm_ode():
    """Euler and DPM-Solver++ from diffusers, built from the training config, take a sample whose
    denoiser is exact (F_ideal for a known x0) to that x0; a scheduler without EDM is refused."""
    s = EDMScheduler()
    x0 = torch.randn(1, 2, 4, 8, 8)
    for name in ("EDMEulerScheduler", "EDMDPMSolverMultistepScheduler"):
        d = s.sampler(name)
        d.set_timesteps(8)
        x = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)) * d.init_noise_sigma
        for t in d.timesteps:
            sigma = (4 * t).exp()
            c_skip, c_out, _, _ = s.precondition(sigma)
            F = (x0 - c_skip * x) / c_out  # the network output whose D(x; sigma) is x0
            d.scale_model_input(x, t)  # the network's input c_in x (unused by an exact denoiser)
            x = d.step(F, t, x).prev_sample
        assert torch.allclose(x, x0, atol=1e-3), name
    with pytest.raises(ValueError, match="EDMEulerScheduler, EDMDPMSolverMultistepScheduler"):
        s.sampler("DDIMScheduler")


def test_model_save_load_roundtrip_and_pretrained_widening(tmp_path):
    torch.manual_seed(0)
    m = LipSyncModel.from_config(LipSyncModelConfig.tiny())
    x = torch.randn(1, 4, 4, 16, 16)
    args = (x, torch.zeros(1), x, torch.randn(1, 4, 32, 32), torch.randn(1, 4, 6, 32))
    with torch.no_grad():
        F = m(*args)
    m.save_pretrained(tmp_path / "export")
    m2 = LipSyncModel.from_pretrained(tmp_path / "export")
    sd, sd2 = m.state_dict(), m2.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)  # weights: bit for bit
    with torch.no_grad():
        F2 = m2(*args)
    # outputs: a reloaded tensor may take another kernel path on some CPUs (2e-6 seen on AMD EPYC)
    assert F.shape == (1, 4, 4, 16, 16) and torch.allclose(F, F2, rtol=1e-4, atol=1e-5)
    # a pretrained SVD-style directory whose UNet has 4 input channels: conv_in widened with zeros
    from diffusers import AutoencoderKLTemporalDecoder

    from lipforge.infer.models import LipSyncUNet, save_whisper_encoder
    cfg = LipSyncModelConfig.tiny()
    unet = LipSyncUNet(**{**cfg.unet_config, "in_channels": 4})
    unet.save_pretrained(tmp_path / "svd" / "unet")
    AutoencoderKLTemporalDecoder(**cfg.vae_config).save_pretrained(tmp_path / "svd" / "vae")
    save_whisper_encoder(m.whisper, tmp_path / "whisper")
    m3 = LipSyncModel.from_config(LipSyncModelConfig.tiny(svd_dir=str(tmp_path / "svd"), whisper_dir=str(tmp_path / "whisper")))
    w = m3.unet.conv_in.weight
    assert w.shape[1] == 8 and w[:, 4:].abs().sum() == 0 and torch.equal(w[:, :4], unet.conv_in.weight)
    assert torch.equal(m3.whisper.conv1.weight, m.whisper.conv1.weight)
    with pytest.raises(FileNotFoundError, match="whisper"):
        LipSyncModel.from_config(LipSyncModelConfig.tiny(whisper_dir=str(tmp_path / "nope")))


def test_svd_directory_with_only_the_fp16_variant_loads(tmp_path):
    """The hub's SVD repos ship diffusion_pytorch_model.fp16.safetensors; such a directory loads, in fp32."""
    from diffusers import AutoencoderKLTemporalDecoder

    from lipforge.infer.models import LipSyncUNet, save_whisper_encoder

    torch.manual_seed(0)
    cfg = LipSyncModelConfig.tiny()
    unet = LipSyncUNet(**cfg.unet_config).half()
    vae = AutoencoderKLTemporalDecoder(**cfg.vae_config).half()
    unet.save_pretrained(tmp_path / "svd" / "unet", variant="fp16")
    vae.save_pretrained(tmp_path / "svd" / "vae", variant="fp16")
    assert sorted(p.name for p in (tmp_path / "svd" / "unet").iterdir()) == [
        "config.json", "diffusion_pytorch_model.fp16.safetensors"]
    save_whisper_encoder(LipSyncModel.from_config(cfg).whisper, tmp_path / "whisper")
    m = LipSyncModel.from_config(LipSyncModelConfig.tiny(svd_dir=str(tmp_path / "svd"), whisper_dir=str(tmp_path / "whisper")))
    assert m.unet.conv_in.weight.dtype == torch.float32
    assert torch.equal(m.unet.conv_out.weight, unet.conv_out.weight.float())  # fp16 -> fp32 is exact
    assert torch.equal(m.vae.encoder.conv_in.weight, vae.encoder.conv_in.weight.float())
    (tmp_path / "svd" / "vae" / "diffusion_pytorch_model.fp16.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="diffusion_pytorch_model.safetensors"):
        LipSyncModel.from_config(LipSyncModelConfig.tiny(svd_dir=str(tmp_path / "svd"), whisper_dir=str(tmp_path / "whisper")))
