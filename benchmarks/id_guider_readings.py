"""Print the parameter count of every plausible reading of SayAnything's ID-Guider at SVD's sizes.

The paper (arXiv 2502.11515) says: reference image + lip-mask indicator -> conv downsampler with
channels [32, 64, 128, 64], then 2D ResBlocks with the UNet's channel sizes, multi-scale features
added as residuals into the denoising UNet, no timestep modules, about 98 M parameters. It gives
no layer list, so this script counts each reading exactly, built on the meta device (no memory,
no weights) from the same parts lipforge's IDGuider uses: the conv downsampler and 64 -> 320 stem
conv, diffusers' ``ResnetBlock2D`` without a timestep input, 3x3 stride-2 convs (SVD's
``Downsample2D``) or a parameter-free 2x2 average between levels, and 1x1 zero-initialised output
convs, one per residual. Readings lipforge can build (``downsample``, ``mid_block``) are also built
as the real ``IDGuider`` and must give the same count. Usage: python benchmarks/id_guider_readings.py
"""
from __future__ import annotations

from dataclasses import dataclass

from lipforge.env import apply_offline_env

apply_offline_env()

SVD_CHANNELS = (320, 640, 1280, 1280)  # SVD img2vid UNet block_out_channels; mid block at 1280
PAPER_M = 98.0


@dataclass(frozen=True)
class Reading:
    label: str
    per_level: int = 1  # ResBlocks per UNet level (SVD's down blocks have layers_per_block=2)
    stem_block: bool = True  # a ResBlock at 320 after the stem conv (the conv_in residual)
    down: str = "pool"  # between levels: "conv" (3x3 stride 2, as SVD) or "pool" (no parameters)
    mid: int = 1  # ResBlocks for the mid level at 1280 (SVD's mid block has 2 resnets)
    zero: str = "level"  # one residual per "level" or per down-block "layer" (ControlNet's way)


READINGS = (
    Reading("lipforge first layout (downsample=conv, mid_block=False)", down="conv", mid=0),
    Reading("lipforge default (downsample=pool, mid_block=True)"),
    Reading("default without the stem ResBlock", stem_block=False),
    Reading("default, mid level of 2 ResBlocks (as SVD's mid block)", mid=2),
    Reading("downsample=conv, mid_block=True", down="conv"),
    Reading("downsample=pool, mid_block=False", mid=0),
    Reading("first layout, a residual per down-block layer", down="conv", mid=0, zero="layer"),
    Reading("2 ResBlocks per level, pool, no mid", per_level=2, mid=0),
    Reading("2 ResBlocks per level, conv, no mid", per_level=2, down="conv", mid=0),
    Reading("2 ResBlocks per level, conv, per-layer residuals (ControlNet mirror)", per_level=2, down="conv",
            mid=0, zero="layer"),
    Reading("2 ResBlocks per level, pool, mid", per_level=2),
    Reading("2 ResBlocks per level, conv, mid, per-layer residuals", per_level=2, down="conv", zero="layer"),
)


def _n(module) -> int:
    return sum(p.numel() for p in module.parameters())


def count(r: Reading, channels: tuple[int, ...] = SVD_CHANNELS) -> tuple[int, int]:
    """(parameters, of which GroupNorm) of reading ``r``, built on the meta device."""
    import torch
    from torch import nn

    from lipforge.infer.models.id_guider import IDGuider, _resblock

    with torch.device("meta"):
        base = IDGuider(block_out_channels=channels, downsample="pool", mid_block=False)
        mods: list[nn.Module] = [base.downsampler, base.stem]
        outs = [channels[0]]
        if r.stem_block:
            mods.append(_resblock(channels[0], channels[0]))
        prev = channels[0]
        for i, c in enumerate(channels):
            for _ in range(r.per_level):
                mods.append(_resblock(prev, c))
                prev = c
                if r.zero == "layer":
                    outs.append(c)
            if i < len(channels) - 1:
                if r.down == "conv":
                    mods.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                if r.zero == "layer":
                    outs.append(c)
            if r.zero == "level":
                outs.append(c)
        for _ in range(r.mid):
            mods.append(_resblock(prev, prev))
        if r.mid:
            outs.append(prev)
        mods += [nn.Conv2d(c, c, 1) for c in outs]
        whole = nn.ModuleList(mods)
    norms = sum(_n(m) for m in whole.modules() if isinstance(m, nn.GroupNorm))
    return _n(whole), norms


def built_by_lipforge(r: Reading) -> int | None:
    """The real IDGuider's count for a reading it can build, else None."""
    import torch

    from lipforge.infer.models.id_guider import IDGuider

    if r.per_level != 1 or not r.stem_block or r.mid > 1 or r.zero != "level":
        return None
    with torch.device("meta"):
        return _n(IDGuider(downsample=r.down, mid_block=bool(r.mid)))


def main() -> None:
    print(f"{'reading':72s} {'parameters':>12s} {'M':>7s} {'vs 98 M':>8s}")
    for r in READINGS:
        n, norms = count(r)
        real = built_by_lipforge(r)
        if real is not None and real != n:
            raise SystemExit(f"{r.label}: counted {n}, lipforge's IDGuider has {real}")
        mark = " (IDGuider)" if real is not None else ""
        print(f"{r.label + mark:72s} {n:12,d} {n / 1e6:7.2f} {n / 1e6 - PAPER_M:+8.2f}")
    print(f"(GroupNorm weights are part of every ResBlock: {count(READINGS[1])[1]:,d} in the default)")


if __name__ == "__main__":
    main()
