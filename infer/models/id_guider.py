"""ID-Guider: reference frame + lip-mask indicator -> multi-scale residuals for the UNet.

SayAnything's identity branch: a conv downsampler with channels [32, 64, 128, 64] takes the
reference image (3 channels, [-1, 1]) and a mask indicator channel from pixel to latent
resolution, then 2D ResBlocks with the UNet's block channels produce one feature map per UNet
level and, by default, one for the 1280-channel mid block. It has no timestep input, so it runs
once per sample (or video) and the pipeline can reuse its output at every denoising step. The
output convolutions are zero-initialized (ControlNet style): a pretrained SVD UNet starts
unchanged.

Residual i matches the UNet hidden state after ``conv_in`` (i = 0), after down block i - 1, and
(``mid_block=True``) the last one the mid block's output.

The paper gives the parts, not the layer list. The default (``downsample="pool"``,
``mid_block=True``: only ResBlocks at UNet channels, the resolution halved between levels by a
parameter-free 2x2 average, plus the mid level) has 97.3 M parameters at SVD's channels (the paper:
about 98 M); ``downsample="conv", mid_block=False`` is lipforge's first layout (85.5 M, a 3x3
stride-2 conv per level as in SVD's down blocks), kept so its exports load. The readings and
their counts: README "The model", ``python benchmarks/id_guider_readings.py``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

DOWNSAMPLES = ("pool", "conv")


def _groups(ch: int) -> int:
    return math.gcd(ch, 32) if ch >= 8 else 1


def _resblock(cin: int, cout: int) -> ResnetBlock2D:
    """A 2D ResBlock with no timestep input (GroupNorm, SiLU, 3x3 conv, twice; 1x1 shortcut when
    the channels change)."""
    return ResnetBlock2D(in_channels=cin, out_channels=cout, temb_channels=None, groups=_groups(cin),
                         groups_out=_groups(cout))


class IDGuider(ModelMixin, ConfigMixin):
    """ref (B, 4, H, W) -> list of (B, C_i, h_i, w_i) residuals: conv_in, every UNet level, mid block.

    >>> g = IDGuider(block_out_channels=(32, 64), downsample_channels=(8, 16, 16, 8), vae_scale_factor=2)
    >>> [tuple(r.shape) for r in g(torch.zeros(1, 4, 32, 32))]
    [(1, 32, 16, 16), (1, 32, 8, 8), (1, 64, 8, 8), (1, 64, 8, 8)]
    """

    @register_to_config
    def __init__(self, block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
                 downsample_channels: tuple[int, ...] = (32, 64, 128, 64), vae_scale_factor: int = 8,
                 in_channels: int = 4, downsample: str = "pool", mid_block: bool = True) -> None:
        super().__init__()
        n_down = int(round(math.log2(vae_scale_factor)))
        if 2 ** n_down != vae_scale_factor or n_down > len(downsample_channels):
            raise ValueError(f"IDGuider: vae_scale_factor {vae_scale_factor} needs a power of 2 with at most "
                             f"{len(downsample_channels)} halvings")
        if downsample not in DOWNSAMPLES:
            raise ValueError(f"IDGuider: downsample must be one of {DOWNSAMPLES}, got {downsample!r}")
        ch = list(downsample_channels)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ch[0], 3, padding=1), nn.SiLU()]
        # the last n_down transitions halve the resolution: (pixel H) -> (latent h)
        for i in range(1, len(ch)):
            stride = 2 if i > len(ch) - 1 - n_down else 1
            layers += [nn.Conv2d(ch[i - 1], ch[i], 3, padding=1, stride=stride), nn.SiLU()]
        if n_down == len(ch):  # one more halving than transitions
            layers += [nn.Conv2d(ch[-1], ch[-1], 3, padding=1, stride=2), nn.SiLU()]
        self.downsampler = nn.Sequential(*layers)
        self.stem = nn.Conv2d(ch[-1], block_out_channels[0], 3, padding=1)
        self.stem_block = _resblock(block_out_channels[0], block_out_channels[0])
        self.blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        prev = block_out_channels[0]
        for i, c in enumerate(block_out_channels):
            # mirror the UNet: down block i halves the resolution at its end unless it is the last
            # (ceil_mode: odd sizes round up, as the UNet's stride-2 conv with padding 1 does)
            last = i == len(block_out_channels) - 1
            self.downs.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1)
                              if downsample == "conv" else nn.AvgPool2d(2, ceil_mode=True))
            self.blocks.append(_resblock(prev, c))
            prev = c
        self.mid = _resblock(prev, prev) if mid_block else None
        outs = [block_out_channels[0], *block_out_channels] + ([prev] if mid_block else [])
        self.zero_convs = nn.ModuleList(nn.Conv2d(c, c, 1) for c in outs)
        for z in self.zero_convs:
            nn.init.zeros_(z.weight)
            nn.init.zeros_(z.bias)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):  # noqa: ANN001, ANN206 - diffusers' signature
        """As diffusers', but a ``config.json`` written before the layout fields existed describes
        the first layout ("conv", no mid block), not today's defaults: its weights load, none are
        silently re-initialised. A layout asked for that differs from the one the file names is
        refused (diffusers would load it with the mismatched layers freshly initialised)."""
        p = Path(pretrained_model_name_or_path) / (kwargs.get("subfolder") or "") / "config.json"
        saved = json.loads(p.read_text()) if p.is_file() else {}
        for key, old in (("downsample", "conv"), ("mid_block", False)):
            have = saved.get(key, old)
            if kwargs.setdefault(key, have) != have:
                raise ValueError(f"IDGuider: {p} holds a guider with {key}={have!r}, asked for {kwargs[key]!r}; "
                                 "its weights would not fit (set the model's id_guider_* fields to the saved layout)")
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    def forward(self, ref: torch.Tensor) -> list[torch.Tensor]:
        h = self.stem_block(self.stem(self.downsampler(ref)), None)  # (B, C0, h, w)
        feats = [h]
        for block, down in zip(self.blocks, self.downs):
            h = down(block(h, None))  # resnet at this level, then the UNet's downsampling
            feats.append(h)
        if self.mid is not None:
            feats.append(self.mid(h, None))  # (B, C_last, h_last, w_last), for the mid block's output
        return [z(f) for z, f in zip(self.zero_convs, feats)]
