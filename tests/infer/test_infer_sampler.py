"""DPM-Solver++(2M) (diffusers' EDMDPMSolverMultistepScheduler, ``--sampler dpmpp-2m``) solves the
sampling ODE more accurately per step than Euler, on a denoiser that is exact."""
from __future__ import annotations

import pytest
import torch


def _solve(name: str, steps: int, s_data: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian data N(0, s^2): D(x; sigma) = x s^2 / (s^2 + sigma^2) exactly, and the ODE's exact
    end point is x_T s / sqrt(s^2 + sigma_max^2). Returns (sampled, exact)."""
    from lipforge.infer.scheduler import EDMScheduler, EDMSchedulerConfig

    edm = EDMScheduler(EDMSchedulerConfig(sigma_max=80.0))
    sched = edm.sampler(name)
    sched.set_timesteps(steps)
    x_t = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)).double() * 80.0
    x = x_t.clone()
    for t in sched.timesteps:
        sigma = (4 * t.double()).exp()  # the network's c_noise is log(sigma) / 4
        d = x * s_data ** 2 / (s_data ** 2 + sigma ** 2)
        c_skip, c_out, _, _ = edm.precondition(sigma)
        f = (d - c_skip * x) / c_out  # the network output that makes D exact
        x = sched.step(f, t, x).prev_sample
    exact = x_t * s_data / (s_data ** 2 + 80.0 ** 2) ** 0.5
    return x, exact


def test_dpmpp_2m_beats_euler_at_equal_steps():
    errs = {}
    for name in ("euler", "dpmpp-2m"):
        for steps in (8, 15, 30):
            x, exact = _solve(name, steps)
            errs[name, steps] = float((x - exact).abs().mean() / exact.abs().mean())
    assert errs["dpmpp-2m", 8] < errs["euler", 15] < errs["euler", 8], errs  # 8 DPM steps beat 15 Euler steps
    assert errs["dpmpp-2m", 30] < errs["dpmpp-2m", 15] < errs["dpmpp-2m", 8], errs


def test_short_names_are_the_diffusers_schedulers_and_others_are_refused():
    from lipforge.infer.scheduler import EDMScheduler

    s = EDMScheduler()
    assert type(s.sampler("euler")).__name__ == "EDMEulerScheduler"
    assert type(s.sampler("dpmpp-2m")).__name__ == "EDMDPMSolverMultistepScheduler"
    with pytest.raises(ValueError, match="sampler"):
        s.sampler("ddim")

