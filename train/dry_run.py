"""``lipforge train --config X --dry-run``: the model built without weights, its sizes and memory.

The network is built on PyTorch's ``meta`` device (shapes only, no memory, no weights read), from
the architecture in the pretrained directories' ``config.json`` when they exist, else from the
``*_config`` dicts of ``train.yaml`` (the presets in ``configs/train/`` carry both). It prints the
resolved config, the parameter count of every module and an estimate of the memory one GPU needs
for the run: fp32 weights, gradients, AdamW moments and EMA of the trainable part, the frozen
encoders, autocast's bf16 weight copies, and the activations a training forward saves for
backward - measured, not modelled: the network runs on the meta device under autograd's
saved-tensor hooks (every saved tensor counted once), with and without gradient checkpointing
(which covers the temporal transformer blocks too), plus the largest block's recompute and, for
the KeySync preset, what the pixel loss's VAE decode saves. Allocator fragmentation and kernel
workspaces are not in it: ``scripts/gpu-check.sh`` prints a real step's peak beside this figure.
A configured model directory that is missing is reported (a real run stops on it).
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


def _missing_dirs(cfg: TrainConfig) -> list[str]:
    """The model-file check a real run makes first, as messages (the dry run reports, not stops)."""
    from lipforge.infer.models.lipsync import check_pretrained_dirs

    try:
        check_pretrained_dirs(cfg.model)
    except (FileNotFoundError, ValueError) as e:
        return [" ".join(str(e).split())]
    return []


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _saved_bytes(fn, root: torch.nn.Module, units: tuple[type, ...] = (),
                 inputs_of: tuple[type, ...] = ()) -> tuple[int, dict[int, int]]:
    """Bytes of the tensors autograd saves for backward while ``fn()`` runs (each tensor once,
    parameters excluded: they are counted as weights), and per ``units`` module the bytes saved
    inside it. ``inputs_of``: modules run under non-reentrant checkpointing, whose inputs are
    what the checkpoint keeps (outside autograd's saved-tensor hooks)."""
    seen: set[int] = set()
    keep: list[torch.Tensor] = []  # ids stay unique while the tensors live
    per_unit: dict[int, int] = {}
    stack: list[int] = []
    total = 0

    def count(t: torch.Tensor) -> int:
        nonlocal total
        base = t._base if t._base is not None else t
        if isinstance(t, torch.nn.Parameter) or isinstance(base, torch.nn.Parameter) or id(base) in seen:
            return 0
        seen.add(id(base))
        keep.append(base)
        n = base.numel() * base.element_size()
        total += n
        return n

    def pack(t: torch.Tensor):
        n = count(t)
        if stack:
            per_unit[stack[-1]] = per_unit.get(stack[-1], 0) + n
        return t

    def pre(mod, args):
        if isinstance(mod, inputs_of) and torch.is_grad_enabled():
            for a in args:
                if isinstance(a, torch.Tensor):
                    count(a)
        if isinstance(mod, units):
            stack.append(id(mod))

    def post(mod, args, out):
        if isinstance(mod, units):
            stack.pop()

    hooks = []
    for mod in root.modules():
        hooks += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn()
    finally:
        for hk in hooks:
            hk.remove()
    return total, per_unit


def activation_bytes(model, batch: int, dtype: torch.dtype = torch.bfloat16) -> dict[str, int] | None:
    """What one training forward of the network saves for backward, measured on the meta device
    (no memory, no weights) with autograd's saved-tensor hooks, the trainable part in ``dtype``
    (as autocast runs it): ``kept`` with the model's gradient checkpointing setting, ``temporal``
    the part of it inside temporal transformer blocks, ``recompute`` the largest checkpointed
    block's own saves (re-made during backward, one block at a time), ``no_checkpointing`` the
    total without checkpointing. None when an op has no meta kernel."""
    from diffusers.models.attention import BasicTransformerBlock, TemporalBasicTransformerBlock
    from diffusers.models.resnet import SpatioTemporalResBlock

    c = model.config
    f = model.vae_scale_factor
    h = c.resolution // f
    units = (SpatioTemporalResBlock, BasicTransformerBlock, TemporalBasicTransformerBlock)
    trainable = model.trainable_modules().to(dtype)
    model.train()
    trainable.requires_grad_(True)

    def forward():
        t = c.num_frames
        x = torch.zeros(batch, t, 4, h, h, device="meta", dtype=dtype)
        ctx = torch.zeros(batch, t, c.window_tokens, int(model.whisper.config.d_model), device="meta", dtype=dtype)
        ref = torch.zeros(batch, 4, c.resolution, c.resolution, device="meta", dtype=dtype)
        return model(x, torch.zeros(batch, device="meta"), x, ref, ctx)

    ckpt = bool(getattr(model.unet, "is_gradient_checkpointing", False))
    try:
        if ckpt:
            model.unet.disable_gradient_checkpointing()
        full, per = _saved_bytes(forward, model.unet, units)
        temporal = sum(n for m in model.unet.modules() if isinstance(m, TemporalBasicTransformerBlock)
                       for n in [per.get(id(m), 0)])
        if not ckpt:
            return {"kept": full, "temporal": temporal, "recompute": 0, "no_checkpointing": full,
                    "temporal_no_checkpointing": temporal}
        model.unet.enable_gradient_checkpointing()
        kept, per_ck = _saved_bytes(forward, model.unet, units, inputs_of=units)
        temporal_ck = sum(per_ck.get(id(m), 0) for m in model.unet.modules()
                          if isinstance(m, TemporalBasicTransformerBlock))
        return {"kept": kept, "temporal": temporal_ck, "recompute": max(per.values(), default=0),
                "no_checkpointing": full, "temporal_no_checkpointing": temporal}
    except Exception:  # noqa: BLE001 - an op without a meta kernel: say "not estimated"
        return None


def pixel_loss_decode_bytes(model, batch: int, dtype: torch.dtype = torch.bfloat16) -> int | None:
    """What KeySync's pixel loss saves for backward: one frame per sample through the frozen VAE
    decoder with gradients flowing to the latents (meta device)."""
    c = model.config
    h = c.resolution // model.vae_scale_factor
    vae = model.vae.to(dtype)
    z = torch.zeros(batch, 4, h, h, device="meta", dtype=dtype, requires_grad=True)
    try:
        n, _ = _saved_bytes(lambda: vae.decode(z, num_frames=1).sample, vae)
        return n
    except Exception:  # noqa: BLE001
        return None


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
    ema_b = 4 * trainable if cfg.optim.ema else 0
    state = {"trainable weights fp32": 4 * trainable, "gradients fp32": 4 * trainable,
             f"AdamW moments ({'8-bit' if opt_bytes == 2 else 'fp32'})": opt_bytes * trainable,
             f"EMA fp32{'' if cfg.optim.ema else ' (ema: off)'}": ema_b, "frozen VAE + Whisper fp32": 4 * frozen,
             }
    # transient: forward/backward (autocast caches one bf16 copy of every weight it casts, for
    # the whole forward; activations) and the optimizer step (fused AdamW on CUDA updates in
    # place; the foreach kernels held a temporary the size of the weights) never overlap
    step_tmp = 0
    b = cfg.data.batch_size
    act = activation_bytes(model, b)
    pix = pixel_loss_decode_bytes(model, b) if cfg.loss.pixel_loss_weight > 0 else 0
    missing = _missing_dirs(cfg)
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
    fwd = 2 * trainable
    lines.append(f"{'autocast bf16 weight copies':34s} {fwd / GB:8.2f} GiB  (forward/backward only)")
    if act is None:
        lines.append(f"{'activations':34s}   not estimated (an op has no meta kernel)")
    else:
        lines += [f"{'activations saved for backward':34s} {act['kept'] / GB:8.2f} GiB  (measured: meta-device forward, "
                  f"saved-tensor hooks; {act['temporal'] / GB:.2f} GiB in temporal blocks; without "
                  f"checkpointing {act['no_checkpointing'] / GB:.2f} GiB, {act['temporal_no_checkpointing'] / GB:.2f} "
                  "in temporal blocks)",
                  f"{'largest block recompute':34s} {act['recompute'] / GB:8.2f} GiB"]
        fwd += act["kept"] + act["recompute"]
    if cfg.loss.pixel_loss_weight > 0:
        if pix is None:
            lines.append(f"{'pixel-loss VAE decode':34s}   not estimated (an op has no meta kernel)")
        else:
            lines.append(f"{'pixel-loss VAE decode (saved)':34s} {pix / GB:8.2f} GiB")
            fwd += pix
    lines.append(f"{'AdamW step temporary':34s} {step_tmp / GB:8.2f} GiB  (fused AdamW; foreach held "
                 f"{4 * trainable / GB:.2f} GiB; not at the same time as the forward/backward terms)")
    total += max(fwd, step_tmp)
    lines.append(f"{'estimated total':34s} {total / GB:8.2f} GiB  (plus allocator fragmentation and kernel "
                 "workspaces, typically 5-15 %: measure one real step, scripts/gpu-check.sh)")
    for m in missing:
        lines.append(f"warning: {m}: a real run stops here (the figures above use train.yaml's *_config)")
    return "\n".join(lines)
