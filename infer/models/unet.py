"""The denoising UNet: diffusers' SVD UNet with per-frame cross-attention and ID residuals.

``UNetSpatioTemporalConditionModel.forward`` repeats one (B, L, C) context over the frames and
has no residual inputs (there is no ControlNet for SVD in diffusers). Rather than forward hooks
(hidden state, hard to follow under gradient checkpointing and DDP), :class:`LipSyncUNet`
subclasses it and overrides only ``forward`` with the same steps, changed in two places:

1. ``encoder_hidden_states`` is (B*T, L, C): each frame attends to its own audio window;
2. ``down_residuals`` (from the ID-Guider, one per level, (B, C, h, w)) are added to the hidden
   state after ``conv_in`` and after each down block, and so reach the skip connections too; an
   optional last one is added to the mid block's output (as ControlNet's mid residual).

The module tree and parameter names are the parent's, so a pretrained SVD UNet loads as is
(``LipSyncUNet.from_pretrained(svd_dir, subfolder="unet")``); :func:`widen_conv_in` adds zero
input channels when a checkpoint has fewer than 8.
"""
from __future__ import annotations

import torch
from diffusers.models.unets.unet_spatio_temporal_condition import UNetSpatioTemporalConditionModel
from torch import nn


class LipSyncUNet(UNetSpatioTemporalConditionModel):
    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                added_time_ids: torch.Tensor, down_residuals: list[torch.Tensor] | None = None,
                return_dict: bool = False) -> torch.Tensor:
        """sample (B, T, 8, h, w), timestep (B,) c_noise, encoder_hidden_states (B*T, L, C),
        added_time_ids (B, 3), down_residuals [(B, C_i, h_i, w_i)] -> (B, T, 4, h, w)."""
        b, t = sample.shape[:2]
        n_levels = len(self.down_blocks)
        if down_residuals is not None and len(down_residuals) not in (n_levels + 1, n_levels + 2):
            raise ValueError(f"LipSyncUNet: {len(down_residuals)} down_residuals for {n_levels} down blocks "
                             f"(want {n_levels + 1}, or {n_levels + 2} with the mid block's)")
        up_factor = 2 ** self.num_upsamplers
        forward_upsample_size = any(s % up_factor for s in sample.shape[-2:])
        upsample_size = None

        t_emb = self.time_proj(timestep.reshape(-1).expand(b)).to(sample.dtype)
        emb = self.time_embedding(t_emb)
        time_embeds = self.add_time_proj(added_time_ids.flatten()).reshape(b, -1).to(emb.dtype)
        emb = emb + self.add_embedding(time_embeds)
        emb = emb.repeat_interleave(t, dim=0)  # (B*T, E)

        def add_res(h: torch.Tensor, i: int) -> torch.Tensor:
            if down_residuals is None:
                return h
            return h + down_residuals[i].to(h.dtype).repeat_interleave(t, dim=0)  # once per sample -> per frame

        h = self.conv_in(sample.flatten(0, 1))  # (B*T, C0, h, w)
        h = add_res(h, 0)
        indicator = torch.zeros(b, t, dtype=h.dtype, device=h.device)
        res_all: tuple[torch.Tensor, ...] = (h,)
        for i, block in enumerate(self.down_blocks):
            if getattr(block, "has_cross_attention", False):
                h, res = block(hidden_states=h, temb=emb, encoder_hidden_states=encoder_hidden_states,
                               image_only_indicator=indicator)
            else:
                h, res = block(hidden_states=h, temb=emb, image_only_indicator=indicator)
            h = add_res(h, i + 1)
            res_all += res[:-1] + (h,)

        h = self.mid_block(hidden_states=h, temb=emb, encoder_hidden_states=encoder_hidden_states,
                           image_only_indicator=indicator)
        if down_residuals is not None and len(down_residuals) == n_levels + 2:
            h = add_res(h, n_levels + 1)

        for i, block in enumerate(self.up_blocks):
            res = res_all[-len(block.resnets):]
            res_all = res_all[:-len(block.resnets)]
            if i < len(self.up_blocks) - 1 and forward_upsample_size:
                upsample_size = res_all[-1].shape[2:]
            if getattr(block, "has_cross_attention", False):
                h = block(hidden_states=h, temb=emb, res_hidden_states_tuple=res,
                          encoder_hidden_states=encoder_hidden_states, upsample_size=upsample_size,
                          image_only_indicator=indicator)
            else:
                h = block(hidden_states=h, temb=emb, res_hidden_states_tuple=res, upsample_size=upsample_size,
                          image_only_indicator=indicator)

        h = self.conv_out(self.conv_act(self.conv_norm_out(h)))
        return h.reshape(b, t, *h.shape[1:])


def widen_conv_in(unet: LipSyncUNet, in_channels: int = 8) -> LipSyncUNet:
    """Give ``conv_in`` ``in_channels`` inputs; the new ones start at zero weight (no effect at init).

    SVD's UNet already has 8 (noisy + first-frame latents): its weights for channels 4..7 are kept
    and now read the masked-video latents, which play the same conditioning role.
    """
    old = unet.conv_in
    if old.in_channels == in_channels:
        return unet
    if old.in_channels > in_channels:
        raise ValueError(f"UNet conv_in has {old.in_channels} input channels, more than the {in_channels} wanted")
    # on the old layer's device and dtype: a UNet loaded in fp16 or already on the GPU stays consistent
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding).to(
        old.weight.device, old.weight.dtype)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, :old.in_channels] = old.weight
        new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=in_channels)
    return unet
