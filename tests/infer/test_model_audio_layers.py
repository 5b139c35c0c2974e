"""Which layers hear a frame's audio: every cross-attention layer, spatial and temporal, hears frame t's
window at frame t and nowhere else; masked latents enter at SVD's conditioning scale."""
from __future__ import annotations

import torch

from lipforge.infer.models import LipSyncModel, LipSyncModelConfig

T = 4


def _attn2_inputs(m, args) -> dict[str, torch.Tensor]:
    """The query-side input of every cross-attention layer (``attn2``) during one forward."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [mod.register_forward_pre_hook(lambda mod, a, kw, name=name: seen.__setitem__(name, a[0]),
                                           with_kwargs=True)
             for name, mod in m.unet.named_modules() if name.endswith(".attn2")]
    try:
        with torch.no_grad():
            m(*args)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _model_and_audio():
    """The tiny model, a noisy input and two audio sequences that differ only in frame 2's window."""
    torch.manual_seed(0)
    m = LipSyncModel.from_config(LipSyncModelConfig.tiny()).eval()
    x = torch.randn(1, T, 4, 16, 16)
    a1 = torch.randn(1, T, 6, 32)
    a2 = a1.clone()
    a2[0, 2] = torch.randn(6, 32)  # only frame 2's audio window differs
    return m, x, a1, a2


def test_one_frames_audio_reaches_that_frame_in_every_audio_layer():
    m, x, a1, a2 = _model_and_audio()
    inputs = _attn2_inputs(m, (x, torch.zeros(1), x, torch.randn(1, 4, 32, 32), a1))
    with torch.no_grad():
        c1, c2 = (m.audio_proj(a.flatten(0, 1)) for a in (a1, a2))  # (B*T, W, C): what the UNet gets
    hears: dict[str, list[bool]] = {}
    for name, h in inputs.items():
        mod = m.unet.get_submodule(name)
        temporal = ".temporal_transformer_blocks." in name
        with torch.no_grad():
            if temporal:  # hidden (B*HW, T, C); context (B, T, W, C)
                o1, o2 = (mod(h, encoder_hidden_states=c.reshape(1, T, *c.shape[1:])) for c in (c1, c2))
                diff = (o1 - o2).abs().amax(dim=(0, 2))  # per frame
            else:  # hidden (B*T, HW, C); context (B*T, W, C)
                o1, o2 = mod(h, encoder_hidden_states=c1), mod(h, encoder_hidden_states=c2)
                diff = (o1 - o2).reshape(1, T, -1).abs().amax(dim=(0, 2))
        hears[name] = (diff > 0).tolist()
    temporal = [n for n in hears if ".temporal_transformer_blocks." in n]
    spatial = [n for n in hears if n not in temporal]
    assert len(temporal) == 4 and len(spatial) == 4  # the tiny model's audio layers
    assert all(v == [False, False, True, False] for v in hears.values()), hears


def test_whole_network_output_follows_one_frames_audio():
    m, x, a1, a2 = _model_and_audio()
    with torch.no_grad():
        f1, f2 = (m(x, torch.zeros(1), x, None, a) for a in (a1, a2))
    assert (f1 - f2)[0, 2].abs().max() > 0


def test_masked_latents_enter_the_unet_unscaled():
    """SVD's conv_in channels 4..7 were trained on image latents without the VAE scaling factor."""
    torch.manual_seed(0)
    m = LipSyncModel.from_config(LipSyncModelConfig.tiny()).eval()
    seen = {}
    h = m.unet.conv_in.register_forward_pre_hook(lambda mod, a: seen.__setitem__("x", a[0]))
    x, masked = torch.randn(1, T, 4, 16, 16), torch.randn(1, T, 4, 16, 16)
    with torch.no_grad():
        m(x, torch.zeros(1), masked, None, torch.randn(1, T, 6, 32))
    h.remove()
    sf = m.vae.config.scaling_factor
    assert sf != 1.0
    got = seen["x"].reshape(1, T, 8, 16, 16)
    assert torch.allclose(got[:, :, 4:], masked / sf) and torch.equal(got[:, :, :4], x)
