"""Condition dropout rates, and that a dropped condition really has no effect on the output."""
from __future__ import annotations

import torch

from lipforge.infer.models import LipSyncModel, LipSyncModelConfig
from lipforge.train.objective import sample_dropout


def test_dropout_rates_and_audio_implies_reference():
    g = torch.Generator().manual_seed(0)
    da, dr = sample_dropout(40_000, g, 0.05, 0.15)
    assert abs(da.float().mean().item() - 0.05) < 0.006
    assert abs(dr[~da].float().mean().item() - 0.15) < 0.01  # the reference alone
    assert dr[da].all()  # an audio drop always drops the reference


def test_dropped_conditions_do_not_reach_the_output():
    torch.manual_seed(0)
    m = LipSyncModel.from_config(LipSyncModelConfig.tiny()).eval()
    for z in m.id_guider.zero_convs:  # make the ID residuals non-zero, as after training
        torch.nn.init.normal_(z.weight, std=0.1)
    x = torch.randn(1, 4, 4, 16, 16)
    a1, a2 = torch.randn(1, 4, 6, 32), torch.randn(1, 4, 6, 32)
    r1, r2 = torch.randn(1, 4, 32, 32), torch.randn(1, 4, 32, 32)
    yes, no = torch.tensor([True]), torch.tensor([False])
    with torch.no_grad():
        f = lambda a, r, da, dr: m(x, torch.zeros(1), x, r, a, drop_audio=da, drop_ref=dr)  # noqa: E731
        assert torch.equal(f(a1, r1, yes, no), f(a2, r1, yes, no))
        assert not torch.equal(f(a1, r1, no, no), f(a2, r1, no, no))
        assert torch.equal(f(a1, r1, no, yes), f(a1, r2, no, yes))
        assert not torch.equal(f(a1, r1, no, no), f(a1, r2, no, no))
