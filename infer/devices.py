"""Device and precision choices of inference, said out loud.

* ``device``: ``auto`` takes CUDA when this process sees a GPU; a batch never falls back to the
  CPU silently (it refuses unless ``--device cpu`` asks for it), and every job's row records the
  device it ran on.
* ``dtype``: ``bf16 | fp16 | fp32`` (``auto``: bf16 on GPUs with native bf16, fp16 on older ones
  (T4, V100 emulate bf16), fp32 on the CPU). Weights are cast to it; under fp16 the VAE stays
  fp32 (SVD's VAE overflows in fp16; diffusers upcasts it likewise).
* Ray actors request GPUs from what the cluster has (``ray.cluster_resources()``), not from the
  driver's own device: the documented cluster's head node has none.

>>> resolve_dtype("auto", "cpu")
torch.float32
"""
from __future__ import annotations

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def resolve_device(device: str, allow_cpu_fallback: bool = True) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu`` (or a ValueError when a fallback is not allowed)."""
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if not allow_cpu_fallback:
            raise ValueError("no CUDA device is visible here and a batch does not fall back to the CPU silently; "
                             "pass --device cpu to run the model on the CPU")
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but no CUDA device is visible (pass --device cpu)")
    return device


def resolve_dtype(name: str, device: str) -> torch.dtype:
    if name == "auto":
        if str(device).startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
        return torch.float32
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of auto, {', '.join(DTYPES)}, got {name!r}")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in DTYPES.items()}[dtype]


def describe(device: str | torch.device) -> str:
    d = torch.device(device)
    if d.type == "cuda":
        i = d.index if d.index is not None else torch.cuda.current_device()
        return f"cuda:{i} ({torch.cuda.get_device_name(i)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def plan_actor_gpus(device: str, num_actors: int, gpus_per_actor: float | None,
                    cluster_gpus: float) -> tuple[float, str]:
    """GPUs each model actor requests, from what the cluster has; and the line that says so.

    ``device="cpu"``: 0 GPUs (asked for). Otherwise a cluster without GPUs is refused (no silent
    CPU run), and actors x GPUs may not exceed the cluster's GPUs (Ray would wait forever).
    """
    if device == "cpu":
        return 0.0, f"{num_actors} model actor(s) on cpu (--device cpu); the cluster has {cluster_gpus:g} GPU(s)"
    if cluster_gpus <= 0:
        raise ValueError("the Ray cluster has no GPU, and a batch does not fall back to the CPU silently; "
                         "pass --device cpu to run the model actors on CPUs")
    g = 1.0 if gpus_per_actor is None else float(gpus_per_actor)
    if g <= 0:
        raise ValueError(f"--gpus-per-actor must be > 0 unless --device cpu, got {g:g}")
    if num_actors * g > cluster_gpus + 1e-9:
        raise ValueError(f"{num_actors} actors x {g:g} GPU(s) need {num_actors * g:g} GPUs, the cluster has "
                         f"{cluster_gpus:g}; lower --num-actors or --gpus-per-actor")
    return g, f"{num_actors} model actor(s) x {g:g} GPU on a cluster with {cluster_gpus:g} GPU(s)"
