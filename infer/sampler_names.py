"""The sampler names the CLI, batch configs and :meth:`EDMScheduler.sampler` accept, kept free of
torch so that parsing arguments (``lipforge infer --help``, a batch config's check) imports nothing
heavy: diffusers' EDM scheduler classes, and k-diffusion's short names for them."""
from __future__ import annotations

SAMPLERS = ("EDMEulerScheduler", "EDMDPMSolverMultistepScheduler")
# short names the CLI and batch configs accept (k-diffusion's): euler as trained, dpmpp-2m second order
SAMPLER_ALIASES = {"euler": "EDMEulerScheduler", "dpmpp-2m": "EDMDPMSolverMultistepScheduler"}
SAMPLER_NAMES = SAMPLERS + tuple(SAMPLER_ALIASES)
