"""``lipforge train --config X --dry-run``: the model built without weights, its sizes and memory.

The network is built on PyTorch's ``meta`` device (shapes only, no memory, no weights read), from
the architecture in the pretrained directories' ``config.json`` when they exist, else from the
``*_config`` dicts of ``train.yaml`` (the presets in ``configs/train/`` carry both). It prints the
resolved config, the parameter count of every module and an estimate of the memory one GPU needs
for the run: fp32 weights, gradients, AdamW moments and EMA of the trainable part, the frozen
encoders, and the activations kept under gradient checkpointing in bf16 (measured by running the
UNet forward on the meta device and summing the outputs of the modules checkpointing keeps).
The activation figure is an estimate (it ignores allocator fragmentation and kernel workspaces);
measure a real step before sizing a cluster.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from lipforge.train.config import TrainConfig

GB = 1024 ** 3


def _arch(cfg: TrainConfig) -> tuple[object, dict[str, str]]:
    """The model config with architecture dicts only (no directories), and where each came from."""
    m = cfg.model
    src: dict[str, str] = {}
    unet, vae, whisper = dict(m.unet_config), dict(m.vae_config), dict(m.whisper_config)
    if m.svd_dir:
        for name, sub in (("unet", "unet"), ("vae", "vae")):
            p = Path(m.svd_dir) / sub / "config.json"
            if p.is_file():
                d = {k: v for k, v in json.loads(p.read_text()).items() if not k.startswith("_")}
                if name == "unet":
                    unet = d
                else:
                    vae = d
                src[name] = str(p)
    if m.whisper_dir and (Path(m.whisper_dir) / "config.json").is_file():
        p = Path(m.whisper_dir) / "config.json"
        whisper = {k: v for k, v in json.loads(p.read_text()).items() if not k.startswith("_")}
        src["whisper"] = str(p)
    for name, d in (("unet", unet), ("vae", vae), ("whisper", whisper)):
        if name not in src:
            if not d:
                raise ValueError(f"--dry-run: no architecture for the {name}: its pretrained directory has no "
                                 f"config.json and model.{name}_config is empty")
            src[name] = f"train.yaml model.{name}_config"
    arch = dataclasses.replace(m, svd_dir=None, whisper_dir=None, unet_config=unet, vae_config=vae,
                               whisper_config=whisper)
    return arch, src


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def activation_bytes(model, batch: int, dtype_bytes: int = 2) -> tuple[int, int] | None:
    """(kept under checkpointing, peak recompute of one block) bytes of one training forward of
    the UNet, from a forward on the meta device; None when an op has no meta kernel."""
    from diffusers.models.attention import BasicTransformerBlock, TemporalBasicTransformerBlock
    from diffusers.models.resnet import SpatioTemporalResBlock

    c = model.config
    f = model.vae_scale_factor
    h = c.resolution // f
    unit_types = (SpatioTemporalResBlock, BasicTransformerBlock, TemporalBasicTransformerBlock)
    kept: list[int] = []
    inner: dict[int, int] = {}
    stack: list[int] = []
    hooks = []

    def pre(mod, args):
        if isinstance(mod, unit_types):
            stack.append(id(mod))
            inner[id(mod)] = 0

    def post(mod, args, out):
        t = out[0] if isinstance(out, (tuple, list)) else out
        n = t.numel() * dtype_bytes if isinstance(t, torch.Tensor) else 0
        if isinstance(mod, unit_types):
            stack.pop()
            kept.append(n)
        elif stack:
            inner[stack[-1]] += n

    for mod in model.unet.modules():
        hooks += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    try:
        t = c.num_frames
        x = torch.zeros(batch, t, 4, h, h, device="meta")
        ctx = torch.zeros(batch, t, c.window_tokens, int(model.whisper.config.d_model), device="meta")
        ref = torch.zeros(batch, 4, c.resolution, c.resolution, device="meta")
        model(x, torch.zeros(batch, device="meta"), x, ref, ctx)
    except Exception:  # noqa: BLE001 - an op without a meta kernel: say "not estimated"
        return None
    finally:
        for hk in hooks:
            hk.remove()
    return sum(kept), max(inner.values(), default=0)


def dry_run(cfg: TrainConfig) -> str:
    import yaml

    from lipforge.infer.models import LipSyncModel

    arch, src = _arch(cfg)
    with torch.device("meta"):
        model = LipSyncModel.from_config(arch)
    model.to("meta")  # a few buffers are made with legacy constructors that ignore the device context
    parts = {"unet": model.unet, "id_guider": model.id_guider, "audio_proj": model.audio_proj,
             "vae (frozen)": model.vae, "whisper encoder (frozen)": model.whisper}
    counts = {k: _count(v) for k, v in parts.items()}
    g = model.id_guider
    guider = {"downsampler": _count(g.downsampler), "stem + stem_block": _count(g.stem) + _count(g.stem_block),
              "level blocks (ResnetBlock2D)": _count(g.blocks),
              f"level downsamplers ({g.config.downsample})": _count(g.downs),
              "mid block (ResnetBlock2D)": _count(g.mid) if g.mid is not None else 0,
              "zero convs (1x1)": _count(g.zero_convs)}
    trainable = counts["unet"] + counts["id_guider"] + counts["audio_proj"]
    frozen = counts["vae (frozen)"] + counts["whisper encoder (frozen)"]
    opt_bytes = 2 if cfg.optim.optimizer == "adamw8bit" else 8
    state = {"trainable weights fp32": 4 * trainable, "gradients fp32": 4 * trainable,
             f"AdamW moments ({'8-bit' if opt_bytes == 2 else 'fp32'})": opt_bytes * trainable,
             "EMA fp32": 4 * trainable, "frozen VAE + Whisper fp32": 4 * frozen}
    b = cfg.data.batch_size
    act = activation_bytes(model, b)
    lines = ["# resolved config", yaml.safe_dump(cfg.to_dict(), sort_keys=False).rstrip(), "",
             "# architecture from: " + ", ".join(f"{k}: {v}" for k, v in src.items()), "",
             "# parameters (built on the meta device: no weights read, no memory used)"]
    lines += [f"{k:28s} {v / 1e6:10.1f} M" for k, v in counts.items()]
    lines += [f"{'trainable total':28s} {trainable / 1e6:10.1f} M", "", "# ID-Guider by part"]
    lines += [f"  {k:30s} {v / 1e6:8.2f} M" for k, v in guider.items()]
    lines += [f"  {'total':30s} {counts['id_guider'] / 1e6:8.2f} M ({counts['id_guider']:,d})",
              "  SayAnything reports about 98 M and names the parts, not the layers: the default reading "
              "(one ResBlock per UNet level, 2x2 average between levels, a mid-block ResBlock, a 1x1 zero "
              "conv per residual) is 97.26 M at SVD's channels, lipforge's first (downsample: conv, no mid "
              "block) 85.48 M; every reading: python benchmarks/id_guider_readings.py", "",
             f"# memory per GPU (bf16 autocast, {cfg.optim.optimizer}, EMA, gradient checkpointing "
             f"{'on' if cfg.model.gradient_checkpointing else 'OFF in this config'}; batch {b} x "
             f"{cfg.model.num_frames} frames at {cfg.model.resolution} px)"]
    lines += [f"{k:34s} {v / GB:8.2f} GiB" for k, v in state.items()]
    total = sum(state.values())
    if act is None:
        lines.append(f"{'activations':34s}   not estimated (an op has no meta kernel)")
    else:
        kept, peak = act
        lines += [f"{'activations kept (checkpointing)':34s} {kept / GB:8.2f} GiB",
                  f"{'largest block recompute':34s} {peak / GB:8.2f} GiB"]
        total += kept + peak
    lines.append(f"{'estimated total':34s} {total / GB:8.2f} GiB  (estimate; measure one real step)")
    return "\n".join(lines)
