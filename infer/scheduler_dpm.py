"""DPM-Solver++(2M) on the EDM sigmas: the same model, about half the steps.

A second-order multistep solver of the probability-flow ODE (Lu et al. 2022, "DPM-Solver++";
the 2M form k-diffusion and diffusers' ``DPMSolverMultistepScheduler`` use): each step reuses the
previous step's denoised estimate to cancel the first-order error of Euler's step, at no extra
network evaluation. The preconditioning, sigmas and saved config are the export's
:class:`~lipforge.infer.scheduler.EDMScheduler` (the model's training is unchanged); only
:meth:`step` differs. ``benchmarks/infer_sampler.py`` measures time and the distance to a
many-step reference.

>>> import torch
>>> s = EDMDPMSolverScheduler()
>>> s.set_timesteps(4)
>>> x = torch.randn(1, 2, 4, 8, 8) * s.init_noise_sigma
>>> x = s.step(torch.zeros_like(x), 0, x).prev_sample
"""
from __future__ import annotations

import torch

from lipforge.infer.scheduler import EDMScheduler, EDMSchedulerOutput

SAMPLERS = ("euler", "dpmpp-2m")


class EDMDPMSolverScheduler(EDMScheduler):
    """:class:`EDMScheduler` with DPM-Solver++(2M) steps (state: the last denoised estimate)."""

    def set_timesteps(self, num_inference_steps: int, device: torch.device | str = "cpu") -> None:
        super().set_timesteps(num_inference_steps, device)
        self._last: tuple[int, torch.Tensor] | None = None

    @classmethod
    def from_scheduler(cls, scheduler: EDMScheduler) -> "EDMDPMSolverScheduler":
        """The same config (an export's scheduler), stepped with DPM-Solver++(2M)."""
        return cls(scheduler.config)

    def step(self, model_output: torch.Tensor, step_index: int, sample: torch.Tensor) -> EDMSchedulerOutput:
        if self.sigmas is None:
            raise RuntimeError("call set_timesteps before step")
        sigma, sigma_next = self.sigmas[step_index].float().cpu(), self.sigmas[step_index + 1].float().cpu()
        x = sample.float()
        denoised = self.denoise(model_output.float(), x, sigma)
        last = getattr(self, "_last", None)
        if float(sigma_next) == 0.0:
            prev = denoised  # the ODE's end: the last denoised estimate
        else:
            t, t_next = -sigma.log(), -sigma_next.log()
            h = t_next - t
            d = denoised
            if last is not None and last[0] == step_index - 1:
                r = (t - (-self.sigmas[step_index - 1].float().cpu().log())) / h  # h_last / h
                d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * last[1]
            prev = (sigma_next / sigma).to(x) * x - torch.expm1(-h).to(x) * d
        self._last = (step_index, denoised)
        return EDMSchedulerOutput(prev_sample=prev.to(sample.dtype), pred_original_sample=denoised.to(sample.dtype))


def make_sampler(name: str, scheduler: EDMScheduler) -> EDMScheduler:
    """The export's scheduler stepped by ``name`` (``euler``: as trained and exported; ``dpmpp-2m``)."""
    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {name!r}")
    return scheduler if name == "euler" else EDMDPMSolverScheduler.from_scheduler(scheduler)
