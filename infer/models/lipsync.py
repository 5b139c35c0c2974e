"""LipSyncModel: the trainable network (UNet, ID-Guider, audio projection) with its frozen encoders.

The network has no sampling loop and no noise schedule: ``forward`` is F in EDM's
D(x; sigma) = c_skip x + c_out F(c_in x; c_noise); :class:`lipforge.infer.scheduler.EDMScheduler` owns the
coefficients and the pipeline owns the loop.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from lipforge.infer.models.audio import (
    audio_windows,
    chunk_samples,
    load_whisper_encoder,
    log_mel_chunks,
    save_whisper_encoder,
)
from lipforge.infer.models.config import LipSyncModelConfig
from lipforge.infer.models.id_guider import IDGuider
from lipforge.infer.models.temporal_audio import use_per_frame_temporal_audio
from lipforge.infer.models.unet import LipSyncUNet, widen_conv_in

CONFIG_NAME = "lipsync_config.json"


class AudioProjection(ModelMixin, ConfigMixin):
    """Whisper features (B*T, W, C_whisper) -> cross-attention context (B*T, W, C_cross), with a
    learned position per window slot so the UNet knows which neighbour frame a token came from."""

    @register_to_config
    def __init__(self, in_dim: int = 384, out_dim: int = 1024, window_tokens: int = 10) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim)
        self.pos = nn.Parameter(torch.zeros(window_tokens, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x) + self.pos)


WEIGHTS_STEM = "diffusion_pytorch_model"


def weights_variant(directory: Path) -> str | None:
    """None for a directory with full-precision diffusers weights, ``"fp16"`` when it holds only the
    fp16 variant (``diffusion_pytorch_model.fp16.safetensors``, as the hub's SVD repos ship it);
    a directory with neither fails naming the files it expected."""
    def has(suffix: str) -> bool:
        return any((directory / f"{WEIGHTS_STEM}{suffix}{ext}").is_file()
                   for ext in (".safetensors", ".bin", ".safetensors.index.json", ".bin.index.json"))

    if has(""):
        return None
    if has(".fp16"):
        return "fp16"
    raise FileNotFoundError(f"{directory}: no {WEIGHTS_STEM}.safetensors (or .bin, or the .fp16 variant)")


EXPORT_PARTS = ("unet", "vae", "id_guider", "audio_proj")  # diffusers folders: config.json + WEIGHTS_STEM weights


def check_export(directory: str | Path) -> None:
    """The one model-file check: every file a LipSyncModel export must hold, before any weight is
    read. A missing one fails naming the path that was expected (``unet/diffusion_pytorch_model.safetensors``,
    not the ``.bin`` diffusers falls back to asking for)."""
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"checkpoint {d}: not a directory (expected a LipSyncModel export)")
    if not (d / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"checkpoint {d}: missing {d / CONFIG_NAME} (not a lipforge model export)")
    for part in EXPORT_PARTS:
        sub = d / part
        if not (sub / "config.json").is_file():
            raise FileNotFoundError(f"checkpoint {d}: missing {sub / 'config.json'}")
        if not any((sub / f"{WEIGHTS_STEM}{v}{ext}").is_file() for v in ("", ".fp16")
                   for ext in (".safetensors", ".bin", ".safetensors.index.json", ".bin.index.json")):
            raise FileNotFoundError(f"checkpoint {d}: missing {sub / (WEIGHTS_STEM + '.safetensors')}")
    w = d / "whisper"
    if not (w / "config.json").is_file():
        raise FileNotFoundError(f"checkpoint {d}: missing {w / 'config.json'}")
    if not (any(w.glob("*.safetensors")) or (w / "pytorch_model.bin").is_file()):
        raise FileNotFoundError(f"checkpoint {d}: missing {w / 'model.safetensors'}")


def _require_dir(path: str | Path, what: str, hint: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"{what}: directory {p} does not exist ({hint})")
    return p


def check_pretrained_dirs(config: LipSyncModelConfig) -> None:
    """The one model-file check: every configured pretrained directory exists with the files
    :meth:`LipSyncModel.from_config` will read (config and weights), without reading weights.
    Raises FileNotFoundError naming the path (a user error: one line, exit 2)."""
    if config.svd_dir is not None:
        d = _require_dir(config.svd_dir, "LipSyncModelConfig.svd_dir",
                         "a local diffusers Stable Video Diffusion directory with unet/ and vae/, e.g. "
                         "stabilityai/stable-video-diffusion-img2vid-xt saved with save_pretrained")
        for sub in ("unet", "vae"):
            _require_dir(d / sub, f"LipSyncModelConfig.svd_dir/{sub}", "missing subfolder of the SVD directory")
            if not (d / sub / "config.json").is_file():
                raise FileNotFoundError(f"LipSyncModelConfig.svd_dir/{sub}: no config.json in {d / sub}")
            weights_variant(d / sub)
    if config.whisper_dir is not None:
        d = _require_dir(config.whisper_dir, "LipSyncModelConfig.whisper_dir",
                         "a local transformers Whisper directory, e.g. openai/whisper-tiny saved with save_pretrained")
        if not (d / "config.json").is_file():
            raise FileNotFoundError(f"LipSyncModelConfig.whisper_dir: no config.json in {d}")
        if not (any(d.glob("*.safetensors")) or (d / "pytorch_model.bin").is_file()):
            raise FileNotFoundError(f"LipSyncModelConfig.whisper_dir: no *.safetensors or pytorch_model.bin in {d}")


class LipSyncModel(nn.Module):
    """SayAnything-style lip-sync network on diffusers' SVD UNet.

    Trainable: ``unet`` (8 input channels: c_in * noisy latents + masked-video latents),
    ``id_guider`` and ``audio_proj``. Frozen (no grad, eval): ``vae`` and ``whisper`` (encoder).

    >>> import torch
    >>> m = LipSyncModel.from_config(LipSyncModelConfig.tiny())
    >>> B, T, h = 1, 4, 16
    >>> F = m(torch.zeros(B, T, 4, h, h), torch.zeros(B), torch.zeros(B, T, 4, h, h),
    ...       torch.zeros(B, 4, 32, 32), torch.zeros(B, T, 6, 32))
    >>> F.shape
    torch.Size([1, 4, 4, 16, 16])
    """

    def __init__(self, config: LipSyncModelConfig, unet: LipSyncUNet, vae, whisper, id_guider: IDGuider,
                 audio_proj: AudioProjection) -> None:
        super().__init__()
        self.config = config
        self.unet, self.vae, self.whisper = unet, vae, whisper
        self.id_guider, self.audio_proj = id_guider, audio_proj
        # every temporal cross-attention layer hears frame t's audio at frame t (infer.models.temporal_audio)
        use_per_frame_temporal_audio(self.unet)
        self.register_buffer("added_time_ids", torch.tensor(config.added_time_ids, dtype=torch.float32),
                             persistent=False)
        self.vae.requires_grad_(False).eval()
        self.whisper.requires_grad_(False).eval()
        if config.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: LipSyncModelConfig) -> "LipSyncModel":
        """Build from local pretrained directories, or random init from the config dicts."""
        from diffusers import AutoencoderKLTemporalDecoder

        check_pretrained_dirs(config)
        if config.svd_dir is not None:
            d = Path(config.svd_dir)
            # a directory may hold only the fp16 variant (diffusion_pytorch_model.fp16.safetensors):
            # load it and keep fp32 weights (the trainable UNet needs fp32 master weights)
            unet = widen_conv_in(LipSyncUNet.from_pretrained(str(d), subfolder="unet", variant=weights_variant(d / "unet"),
                                                             torch_dtype=torch.float32))
            vae = AutoencoderKLTemporalDecoder.from_pretrained(str(d), subfolder="vae", variant=weights_variant(d / "vae"),
                                                               torch_dtype=torch.float32)
        else:
            unet = widen_conv_in(LipSyncUNet(**config.unet_config))
            vae = AutoencoderKLTemporalDecoder(**config.vae_config)
        if config.whisper_dir is not None:
            whisper = load_whisper_encoder(Path(config.whisper_dir))
        else:
            from transformers import WhisperConfig
            from transformers.models.whisper.modeling_whisper import WhisperEncoder

            whisper = WhisperEncoder(WhisperConfig(**config.whisper_config))
        vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
        id_guider = IDGuider(block_out_channels=tuple(unet.config.block_out_channels),
                             downsample_channels=tuple(config.id_guider_channels), vae_scale_factor=vae_scale,
                             downsample=config.id_guider_downsample, mid_block=config.id_guider_mid_block)
        audio_proj = AudioProjection(in_dim=whisper.config.d_model, out_dim=_cross_dim(unet),
                                     window_tokens=config.window_tokens)
        return cls(config, unet, vae, whisper, id_guider, audio_proj)

    def save_pretrained(self, directory: str | Path) -> None:
        """diffusers/transformers layout: unet/, vae/, whisper/, id_guider/, audio_proj/, lipsync_config.json."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(str(d / "unet"))
        self.vae.save_pretrained(str(d / "vae"))
        self.id_guider.save_pretrained(str(d / "id_guider"))
        self.audio_proj.save_pretrained(str(d / "audio_proj"))
        save_whisper_encoder(self.whisper, d / "whisper")
        cfg = self.config.to_dict()
        cfg.update(svd_dir=None, whisper_dir=None)  # the export is self-contained
        (d / CONFIG_NAME).write_text(json.dumps(cfg, indent=2, sort_keys=True))

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "LipSyncModel":
        from diffusers import AutoencoderKLTemporalDecoder

        d = _require_dir(directory, "LipSyncModel.from_pretrained", "a directory written by LipSyncModel.save_pretrained "
                         "or `lipforge train --export`")
        check_export(d)  # names the file expected, before diffusers guesses another
        # an older export was trained on scaled latents with the first ID-Guider layout
        config = LipSyncModelConfig.from_dict(LipSyncModelConfig.saved_before_fields(
            json.loads((d / CONFIG_NAME).read_text())))
        unet = LipSyncUNet.from_pretrained(str(d / "unet"))
        vae = AutoencoderKLTemporalDecoder.from_pretrained(str(d / "vae"))
        whisper = load_whisper_encoder(d / "whisper")
        # the layout from lipsync_config.json (an older id_guider/config.json does not name it)
        id_guider = IDGuider.from_pretrained(str(d / "id_guider"), downsample=config.id_guider_downsample,
                                             mid_block=config.id_guider_mid_block)
        audio_proj = AudioProjection.from_pretrained(str(d / "audio_proj"))
        return cls(config, unet, vae, whisper, id_guider, audio_proj)

    def trainable_modules(self) -> nn.ModuleDict:
        return nn.ModuleDict({"unet": self.unet, "id_guider": self.id_guider, "audio_proj": self.audio_proj})

    def train(self, mode: bool = True) -> "LipSyncModel":
        super().train(mode)
        self.vae.eval()
        self.whisper.eval()
        return self

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    # ---- the network -----------------------------------------------------------------------
    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor, masked_latents: torch.Tensor,
                ref: torch.Tensor | None, audio_windows: torch.Tensor, drop_audio: torch.Tensor | None = None,
                drop_ref: torch.Tensor | None = None, id_residuals: list[torch.Tensor] | None = None) -> torch.Tensor:
        """F(c_in x; c_noise) with conditions.

        x_in: (B, T, 4, h, w) = c_in * noisy latents; c_noise: (B,) = ln(sigma) / 4;
        masked_latents: (B, T, 4, h, w) VAE latents (scaled) of the masked face video;
        ref: (B, 4, H, W) reference RGB in [-1, 1] + lip-mask indicator (1 inside the mask), pixels;
        audio_windows: (B, T, W, C_whisper) from :meth:`audio_windows`, W = config.window_tokens;
        drop_audio / drop_ref: (B,) bool, zero that condition for those samples (training dropout,
        unconditional branches of classifier-free guidance);
        id_residuals: precomputed ``self.id_guider(ref)`` (it has no timestep: compute once per
        video and pass it at every step; ``ref`` is then ignored).
        Returns F: (B, T, 4, h, w).
        """
        b, t = x_in.shape[:2]
        ctx = self.audio_proj(audio_windows.flatten(0, 1).to(x_in.dtype))  # (B*T, W, C_cross)
        if drop_audio is not None:
            keep_a = (~drop_audio.to(ctx.device).bool()).to(ctx.dtype).repeat_interleave(t)  # (B*T,)
            ctx = ctx * keep_a[:, None, None]
        res = id_residuals if id_residuals is not None else (self.id_guider(ref.to(x_in.dtype)) if ref is not None else None)
        if res is not None and drop_ref is not None:
            keep_r = (~drop_ref.to(x_in.device).bool()).to(x_in.dtype)  # (B,)
            res = [r * keep_r[:, None, None, None] for r in res]
        added = self.added_time_ids.to(x_in.dtype).expand(b, 3)  # a buffer: no host-to-device copy per step
        cond = masked_latents.to(x_in.dtype)
        if self.config.unscaled_condition_latents:
            # SVD's conv_in channels 4..7 were trained on image latents *without* the VAE scaling
            # factor (its pipeline concatenates latent_dist.mode() as is): give them that scale
            cond = cond / self.vae.config.scaling_factor
        sample = torch.cat([x_in, cond], dim=2)  # (B, T, 8, h, w)
        return self.unet(sample, c_noise.to(x_in.device), ctx, added, down_residuals=res)

    # ---- frozen encoders -------------------------------------------------------------------
    @torch.no_grad()
    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) in [-1, 1] -> scaled latents (B, T, 4, H/f, W/f) (posterior mode: deterministic)."""
        b, t = frames.shape[:2]
        x = frames.flatten(0, 1).to(self.vae.dtype)
        lat = self.vae.encode(x).latent_dist.mode() * self.vae.config.scaling_factor
        return lat.reshape(b, t, *lat.shape[1:])

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """Scaled latents (B, T, 4, h, w) -> frames (B, T, 3, H, W) in about [-1, 1].

        The temporal decoder mixes frames within one call; ``chunk`` bounds memory (default: T).
        """
        b, t = latents.shape[:2]
        z = latents.to(self.vae.dtype) / self.vae.config.scaling_factor  # (B, T, 4, h, w)
        step = chunk or t
        outs = []
        for s in range(0, t, step):
            zz = z[:, s:s + step]
            n = zz.shape[1]
            x = self.vae.decode(zz.flatten(0, 1), num_frames=n).sample  # (B*n, 3, H, W)
            outs.append(x.reshape(b, n, *x.shape[1:]))
        return torch.cat(outs, dim=1)

    @torch.no_grad()
    def audio_features(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        """16 kHz mono (B, N) or (N,) -> Whisper encoder features (B, A, C), A = 2 per 640 samples.

        Audio is cut into encoder-length chunks (30 s for real Whisper; shorter for tiny configs,
        :attr:`audio_chunk_samples`) from its start, each padded to the encoder input and encoded;
        features are concatenated and cropped to ``ceil(N / 640) * 2``. Training and inference
        both come here with whole clips / jobs (see :mod:`lipforge.infer.models.audio`).
        """
        a = torch.as_tensor(audio, dtype=torch.float32)
        if a.ndim == 1:
            a = a[None]
        cfg = self.whisper.config
        chunk_frames = cfg.max_source_positions * 2  # mel frames per encoder call
        dev = next(self.whisper.parameters()).device
        n_frames = -(-a.shape[1] // 640)
        n_feat = n_frames * self.config.audio_features_per_frame
        out = []
        for row in a.cpu().numpy():
            mel = torch.from_numpy(log_mel_chunks(row, cfg.num_mel_bins, chunk_frames))  # (n_chunks, M, F)
            if dev.type == "cuda":  # pinned: the upload is queued, not a host sync
                mel = mel.pin_memory().to(dev, non_blocking=True)
            h = self.whisper(mel.to(dev, self.whisper.dtype)).last_hidden_state  # (n_chunks, F/2, C)
            h = h.reshape(-1, h.shape[-1])
            if h.shape[0] < n_feat:
                h = torch.cat([h, h.new_zeros(n_feat - h.shape[0], h.shape[1])])
            out.append(h[:n_feat])
        return torch.stack(out).float()

    @property
    def audio_chunk_samples(self) -> int:
        """Samples per Whisper encoder call (480,000 = 30 s for real Whisper)."""
        return chunk_samples(self.whisper.config.max_source_positions)

    def audio_windows(self, features: torch.Tensor, centers: torch.Tensor, valid_frames: torch.Tensor) -> torch.Tensor:
        """(B, A, C) features -> (B, T, W, C) per-frame windows; see :func:`lipforge.infer.models.audio.audio_windows`."""
        return audio_windows(features, centers, valid_frames, self.config.audio_context_k,
                             self.config.audio_features_per_frame)


def _cross_dim(unet: LipSyncUNet) -> int:
    c = unet.config.cross_attention_dim
    return int(c if isinstance(c, int) else c[0])
