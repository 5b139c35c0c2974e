"""Condition dropout rates, and that a dropped condition really has no effect on the output."""
from __future__ import annotations

import pytest
import torch

from lipforge.infer.models import LipSyncModel, LipSyncModelConfig
from lipforge.train.objective import pixel_loss, sample_dropout


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


def test_keysync_dropout_is_independent_at_its_rates():
    g = torch.Generator().manual_seed(0)
    da, dr = sample_dropout(100_000, g, 0.2, 0.1, independent=True)
    assert abs(da.float().mean().item() - 0.2) < 0.005 and abs(dr.float().mean().item() - 0.1) < 0.005
    # the branch KeySync's guidance samples (audio dropped, identity kept) is trained
    assert abs(dr[da].float().mean().item() - 0.1) < 0.01 and (da & ~dr).float().mean() > 0.17


def test_pixel_loss_masked_and_sigma_weighted():
    x, y = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, 2:, :] = 1
    x[:, :, :2] = 5.0  # error outside the mask only
    assert pixel_loss(x, y, mask) == 0 and pixel_loss(x, y) > 0
    x[0, :, 3] = 2.0  # inside: sample 0's masked mean is 4 * 4 / 8 = 2
    assert pixel_loss(x, y, mask) == pytest.approx(1.0)
    assert pixel_loss(x, y, mask, torch.tensor([3.0, 1.0])) == pytest.approx(3.0)
