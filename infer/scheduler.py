"""EDM noise scheduler: weight-free tensor math shared by the trainer and the sampling pipeline.

Karras et al. (EDM) write the denoiser as D(x; sigma) = c_skip x + c_out F(c_in x; c_noise).
Two parameterizations are supported:

- ``"v_prediction"`` (default): Stable Video Diffusion's choice (sigma_data = 1, c_out negative),
  so a pretrained SVD UNet starts from the objective it was trained with;
- ``"edm"``: the original EDM coefficients.

This class keeps what diffusers' EDM schedulers lack, the training half: the trainer samples
ln(sigma) ~ N(p_mean, p_std^2) (:meth:`sample_sigmas`), adds noise with :meth:`add_noise` and
weights the squared error with :meth:`loss_weight` (lambda = 1 / c_out^2), all vectorized over the
batch. Sampling is diffusers' own (:meth:`sampler`): ``EDMEulerScheduler`` by default, or
``EDMDPMSolverMultistepScheduler`` by name, configured from the same :class:`EDMSchedulerConfig`.

>>> import torch
>>> s = EDMScheduler().sampler()   # diffusers' EDMEulerScheduler with these sigmas
>>> s.set_timesteps(4)
>>> s.sigmas.shape  # 4 Karras sigmas and a trailing 0
torch.Size([5])
>>> x = torch.randn(1, 2, 4, 8, 8) * s.init_noise_sigma
>>> F = torch.zeros_like(x)  # a network output
>>> x_in = s.scale_model_input(x, s.timesteps[0])  # c_in x: the network's input
>>> x = s.step(F, s.timesteps[0], x).prev_sample
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from lipforge.infer.scheduler_config import SAMPLER_ALIASES, SAMPLER_NAMES, SAMPLERS, EDMSchedulerConfig  # noqa: F401 - re-exported


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) or scalar -> broadcastable against ``like`` (B, ...)."""
    v = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return v.reshape(v.shape + (1,) * (like.ndim - v.ndim))


class EDMScheduler:
    """EDM preconditioning, training noise and loss weight; :meth:`sampler` for sampling (no weights, no state)."""

    config_name = "scheduler_config.json"

    def __init__(self, config: EDMSchedulerConfig | None = None, **kwargs) -> None:
        self.config = config if config is not None else EDMSchedulerConfig(**kwargs)

    # ---- preconditioning -------------------------------------------------------------------
    def precondition(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """sigma (any shape) -> (c_skip, c_out, c_in, c_noise), each the shape of sigma."""
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        sd = self.config.sigma_data
        denom = sigma ** 2 + sd ** 2
        c_skip = sd ** 2 / denom
        c_out = sigma * sd / denom.sqrt()
        if self.config.prediction_type == "v_prediction":
            c_out = -c_out
        c_in = 1.0 / denom.sqrt()
        c_noise = 0.25 * sigma.log()
        return c_skip, c_out, c_in, c_noise

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        """lambda(sigma) = 1 / c_out^2 = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2."""
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        sd = self.config.sigma_data
        return (sigma ** 2 + sd ** 2) / (sigma * sd) ** 2

    def denoise(self, model_output: torch.Tensor, sample: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """D(x; sigma) = c_skip x + c_out F, with F the network output for c_in x."""
        c_skip, c_out, _, _ = self.precondition(sigma)
        return _bcast(c_skip, sample) * sample + _bcast(c_out, sample) * model_output

    # ---- training --------------------------------------------------------------------------
    def sample_sigmas(self, batch_size: int, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> torch.Tensor:
        """Log-normal training sigmas (B,), drawn on the CPU from ``generator`` for reproducibility."""
        z = torch.randn(batch_size, generator=generator)
        return (z * self.config.p_std + self.config.p_mean).exp().to(device)

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
        """x = x0 + sigma * noise, sigmas (B,) broadcast over the other dims."""
        return original_samples + _bcast(sigmas, original_samples) * noise

    # ---- sampling: diffusers' EDM schedulers ----------------------------------------------
    def sampler(self, name: str = "EDMEulerScheduler"):
        """A diffusers scheduler sampling with this EDM setup (same sigmas, preconditioning and
        prediction type): ``EDMEulerScheduler`` (SVD's; what this class's own Euler loop was,
        bit for bit) or ``EDMDPMSolverMultistepScheduler`` (DPM-Solver++ in EDM form), used as any
        diffusers scheduler (``set_timesteps``, ``scale_model_input(x, t)``, ``step(F, t, x)``;
        ``t`` is c_noise, the network's noise input). Schedulers without EDM preconditioning
        (DDIM, the alpha-based DPM-Solver) would feed the network inputs it never saw: refused."""
        import inspect

        import diffusers

        name = SAMPLER_ALIASES.get(name, name)
        cls = getattr(diffusers, name, None)
        if name not in SAMPLERS or cls is None:
            raise ValueError(f"sampler {name!r}: not an EDM-parameterized diffusers scheduler this model can use; "
                             f"one of {', '.join(SAMPLERS)}")
        c = self.config
        kw = dict(sigma_min=c.sigma_min, sigma_max=c.sigma_max, sigma_data=c.sigma_data, sigma_schedule="karras",
                  rho=c.rho, prediction_type="v_prediction" if c.prediction_type == "v_prediction" else "epsilon",
                  final_sigmas_type="zero")
        params = inspect.signature(cls.__init__).parameters
        return cls(**{k: v for k, v in kw.items() if k in params})

    # ---- saved form ------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / self.config_name).write_text(json.dumps(asdict(self.config), indent=2))

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "EDMScheduler":
        """Every field must be in the file: a missing one would silently take a default the model was
        not trained with (an export written by ``lipforge train --export`` has them all)."""
        from dataclasses import fields

        p = Path(directory) / cls.config_name
        if not p.is_file():
            raise FileNotFoundError(f"EDMScheduler: no {cls.config_name} at {p}")
        try:
            d = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: not valid JSON ({e})") from e
        names = [f.name for f in fields(EDMSchedulerConfig)]
        missing, unknown = [n for n in names if n not in d], sorted(set(d) - set(names))
        if missing or unknown:
            raise ValueError(f"{p}: " + "; ".join(x for x in (f"missing fields {missing}" if missing else "",
                                                             f"unknown fields {unknown}" if unknown else "") if x))
        return cls(EDMSchedulerConfig(**d))
