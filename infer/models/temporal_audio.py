"""Per-frame audio in the temporal transformer layers of the SVD UNet.

diffusers' ``TransformerSpatioTemporalModel`` gives its temporal blocks one context for all
frames: frame 0's (``time_context = encoder_hidden_states[:, 0]`` broadcast over the pixels).
SVD conditions on one CLIP image token for the whole clip, so that is harmless there; with a
per-frame audio window it means the temporal cross-attention of every frame listens to frame
0's audio. Lip-sync needs frame t's mouth to follow frame t's sound in every layer that reads
audio, so lipforge changes two things and nothing else:

1. :class:`LipSyncTransformerSpatioTemporal` (the same module, parameters and names, so a
   pretrained SVD UNet loads unchanged) hands the temporal blocks the whole per-frame context
   as ``(B, T, W, C)`` instead of frame 0's;
2. :class:`PerFrameTemporalCrossAttention`, the processor of each temporal block's ``attn2``,
   lets the query of (pixel p, frame t) attend to frame t's W audio tokens only: the attention
   a spatial layer computes for frame t, done on the temporal layer's features.

``tests/infer/test_temporal_audio.py`` changes one frame's audio and checks, layer by layer,
that every spatial and every temporal cross-attention layer sees that frame change and no other.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.transformers.transformer_temporal import (
    TransformerSpatioTemporalModel,
    TransformerTemporalModelOutput,
)


class PerFrameTemporalCrossAttention:
    """``attn2`` of a temporal block: hidden (B*HW, T, C) x context (B, T, W, C_ctx) -> (B*HW, T, C).

    The query of pixel p at frame t attends to frame t's window only (scaled dot-product
    attention with the frame as a batch axis), so no frame hears another frame's audio here.
    """

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None) -> torch.Tensor:
        ctx = encoder_hidden_states
        if ctx is None or ctx.ndim != 4:
            raise ValueError("PerFrameTemporalCrossAttention needs the per-frame context (B, T, W, C), got "
                             f"{None if ctx is None else tuple(ctx.shape)}")
        if attention_mask is not None:
            raise ValueError("PerFrameTemporalCrossAttention takes no attention mask")
        bhw, t, _ = hidden_states.shape
        b, t_ctx, w, _ = ctx.shape
        if t_ctx != t or bhw % b:
            raise ValueError(f"temporal cross-attention: hidden {tuple(hidden_states.shape)} does not match "
                             f"context {tuple(ctx.shape)}")
        hw, heads = bhw // b, attn.heads
        q = attn.to_q(hidden_states)  # (B*HW, T, inner)
        k, v = attn.to_k(ctx), attn.to_v(ctx)  # (B, T, W, inner)
        d = q.shape[-1] // heads
        q = q.view(b, hw, t, heads, d).permute(0, 2, 3, 1, 4)  # (B, T, H, HW, d)
        k = k.view(b, t, w, heads, d).transpose(2, 3)  # (B, T, H, W, d)
        v = v.view(b, t, w, heads, d).transpose(2, 3)
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, T, H, HW, d)
        out = out.permute(0, 3, 1, 2, 4).reshape(bhw, t, heads * d).to(q.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


class LipSyncTransformerSpatioTemporal(TransformerSpatioTemporalModel):
    """``TransformerSpatioTemporalModel`` whose temporal blocks get every frame's context.

    Only ``forward`` differs from the parent (same steps; the temporal context is
    ``encoder_hidden_states`` as (B, T, W, C), read by :class:`PerFrameTemporalCrossAttention`).
    """

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                image_only_indicator: torch.Tensor | None = None, return_dict: bool = True):
        batch_frames, _, height, width = hidden_states.shape  # (B*T, C, h, w)
        num_frames = image_only_indicator.shape[-1]
        batch_size = batch_frames // num_frames
        # (B*T, W, C) -> (B, T, W, C): frame t's window for frame t (the parent keeps frame 0's)
        time_context = encoder_hidden_states.reshape(batch_size, num_frames, *encoder_hidden_states.shape[1:])

        residual = hidden_states
        hidden_states = self.norm(hidden_states)
        inner_dim = hidden_states.shape[1]
        hidden_states = hidden_states.permute(0, 2, 3, 1).reshape(batch_frames, height * width, inner_dim)
        hidden_states = self.proj_in(hidden_states)

        num_frames_emb = torch.arange(num_frames, device=hidden_states.device).repeat(batch_size, 1).reshape(-1)
        t_emb = self.time_proj(num_frames_emb).to(dtype=hidden_states.dtype)
        emb = self.time_pos_embed(t_emb)[:, None, :]

        for block, temporal_block in zip(self.transformer_blocks, self.temporal_transformer_blocks):
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                hidden_states = self._gradient_checkpointing_func(block, hidden_states, None,
                                                                  encoder_hidden_states, None)
            else:
                hidden_states = block(hidden_states, encoder_hidden_states=encoder_hidden_states)
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                # the temporal blocks too (diffusers checkpoints only the spatial ones): at 16 x 320 px
                # they held 6.85 of the 8.07 GiB a training forward saved for backward
                hidden_states_mix = self._gradient_checkpointing_func(temporal_block, hidden_states + emb, num_frames,
                                                                      time_context)
            else:
                hidden_states_mix = temporal_block(hidden_states + emb, num_frames=num_frames,
                                                   encoder_hidden_states=time_context)
            hidden_states = self.time_mixer(x_spatial=hidden_states, x_temporal=hidden_states_mix,
                                            image_only_indicator=image_only_indicator)

        hidden_states = self.proj_out(hidden_states)
        hidden_states = hidden_states.reshape(batch_frames, height, width, inner_dim).permute(0, 3, 1, 2).contiguous()
        output = hidden_states + residual
        if not return_dict:
            return (output,)
        return TransformerTemporalModelOutput(sample=output)


def use_per_frame_temporal_audio(unet: torch.nn.Module) -> int:
    """Switch every spatio-temporal transformer of ``unet`` to per-frame temporal audio, in place.

    Parameters and their names are untouched (the class of each module changes, its temporal
    ``attn2`` gets :class:`PerFrameTemporalCrossAttention`). Returns the number of temporal
    cross-attention layers switched.
    """
    n = 0
    for m in unet.modules():
        if isinstance(m, TransformerSpatioTemporalModel):
            m.__class__ = LipSyncTransformerSpatioTemporal
            for tb in m.temporal_transformer_blocks:
                if tb.attn2 is not None:
                    tb.attn2.set_processor(PerFrameTemporalCrossAttention())
                    n += 1
    return n
