"""What configures :class:`~lipforge.infer.scheduler.EDMScheduler`, kept free of torch so that
reading a config or parsing arguments (``lipforge infer --help``, ``lipforge train --config``'s
checks, a batch config) imports nothing heavy: :class:`EDMSchedulerConfig` and the sampler names
(diffusers' EDM scheduler classes, and k-diffusion's short names for them)."""
from __future__ import annotations

from dataclasses import dataclass

SAMPLERS = ("EDMEulerScheduler", "EDMDPMSolverMultistepScheduler")
# short names the CLI and batch configs accept (k-diffusion's): euler as trained, dpmpp-2m second order
SAMPLER_ALIASES = {"euler": "EDMEulerScheduler", "dpmpp-2m": "EDMDPMSolverMultistepScheduler"}
SAMPLER_NAMES = SAMPLERS + tuple(SAMPLER_ALIASES)


@dataclass(frozen=True)
class EDMSchedulerConfig:
    sigma_min: float = 0.002
    sigma_max: float = 700.0  # SVD's value
    sigma_data: float = 1.0  # SVD uses 1.0 with v-prediction; EDM's paper 0.5
    rho: float = 7.0  # Karras schedule exponent
    p_mean: float = 0.7  # training: ln(sigma) ~ N(p_mean, p_std^2) (SVD fine-tuning values)
    p_std: float = 1.6
    prediction_type: str = "v_prediction"  # v_prediction | edm

    def __post_init__(self) -> None:
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"EDMSchedulerConfig: need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")
        if self.sigma_data <= 0:
            raise ValueError(f"EDMSchedulerConfig.sigma_data must be > 0, got {self.sigma_data}")
        if self.p_std <= 0:
            raise ValueError(f"EDMSchedulerConfig.p_std must be > 0, got {self.p_std}")
        if self.prediction_type not in ("v_prediction", "edm"):
            raise ValueError(f"EDMSchedulerConfig.prediction_type must be v_prediction|edm, got {self.prediction_type!r}")
