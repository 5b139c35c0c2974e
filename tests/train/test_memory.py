"""Gradient checkpointing covers the temporal transformer blocks, and the dry run measures what a
training forward saves for backward (meta device) instead of modelling it."""
from __future__ import annotations

import torch

from lipforge.infer.models import LipSyncModel, LipSyncModelConfig
from lipforge.train.dry_run import activation_bytes


def _args():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 4, 16, 16, generator=g)
    return x, torch.zeros(1), x, torch.randn(1, 4, 32, 32, generator=g), torch.randn(1, 4, 6, 32, generator=g)


def test_temporal_blocks_recompute_in_backward_with_the_same_gradients():
    from diffusers.models.attention import TemporalBasicTransformerBlock

    torch.manual_seed(0)
    m = LipSyncModel.from_config(LipSyncModelConfig.tiny(gradient_checkpointing=True)).train()
    calls = []  # forward runs (module hooks do not fire during checkpoint's recompute: count forward itself)
    for mod in m.unet.modules():
        if isinstance(mod, TemporalBasicTransformerBlock):
            mod.forward = (lambda f: lambda *a, **kw: calls.append(1) or f(*a, **kw))(mod.forward)
    n_blocks = sum(isinstance(mod, TemporalBasicTransformerBlock) for mod in m.unet.modules())
    m(*_args()).square().mean().backward()
    assert len(calls) == 2 * n_blocks  # forward, then the recompute in backward
    grads = {k: p.grad.clone() for k, p in m.unet.named_parameters() if p.grad is not None}
    m.zero_grad(set_to_none=True)
    m.unet.disable_gradient_checkpointing()
    calls.clear()
    m(*_args()).square().mean().backward()
    assert len(calls) == n_blocks
    for k, p in m.unet.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(p.grad, grads[k], rtol=1e-5, atol=1e-6)


def test_dry_run_measures_saved_activations_on_meta():
    with torch.device("meta"):
        m = LipSyncModel.from_config(LipSyncModelConfig.tiny(gradient_checkpointing=True))
    m.to("meta")
    act = activation_bytes(m, batch=1)
    assert act is not None and act["temporal"] == 0 < act["temporal_no_checkpointing"]
    assert 0 < act["kept"] < act["no_checkpointing"] and act["recompute"] > 0
    with torch.device("meta"):
        m2 = LipSyncModel.from_config(LipSyncModelConfig.tiny(gradient_checkpointing=True))
    m2.to("meta")
    assert activation_bytes(m2, batch=2)["kept"] > act["kept"]  # grows with the batch
