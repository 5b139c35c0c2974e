"""Typed configuration of the lip-sync model; JSON/YAML are only its saved forms."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


# fields added after the first exports, with the behaviour a model saved without them has
LEGACY_VALUES: dict[str, Any] = {
    "unscaled_condition_latents": False,  # trained on scaled masked-video latents
    "id_guider_downsample": "conv", "id_guider_mid_block": False,  # the first ID-Guider layout (85.5 M)
}


@dataclass(frozen=True)
class LipSyncModelConfig:
    """What to build: pretrained local directories, or architecture dicts (random init, tests).

    ``svd_dir`` is a local diffusers SVD directory with ``unet/`` and ``vae/`` subfolders;
    ``whisper_dir`` a local transformers Whisper directory (config.json + weights). When a
    directory is None the part is built with random weights from the matching ``*_config`` dict,
    which is how tests and from-scratch runs work. A configured directory that does not exist
    fails at construction with its path.

    >>> cfg = LipSyncModelConfig.tiny()
    >>> cfg.num_frames, cfg.window_tokens
    (4, 6)
    """

    svd_dir: str | None = None
    whisper_dir: str | None = None
    unet_config: dict[str, Any] = field(default_factory=dict)  # UNetSpatioTemporalConditionModel kwargs
    vae_config: dict[str, Any] = field(default_factory=dict)  # AutoencoderKLTemporalDecoder kwargs
    whisper_config: dict[str, Any] = field(default_factory=dict)  # transformers WhisperConfig kwargs
    id_guider_channels: tuple[int, ...] = (32, 64, 128, 64)  # SayAnything's conv downsampler
    # the ID-Guider's layout (infer.models.id_guider): "pool" + mid block is the 97.3 M reading of
    # the paper; "conv" without mid block lipforge's first (85.5 M; exports before these fields)
    id_guider_downsample: str = "pool"
    id_guider_mid_block: bool = True
    audio_context_k: int = 2  # frame t sees audio features of frames t-k .. t+k
    audio_features_per_frame: int = 2  # Whisper gives 50 features/s, video is 25 fps
    num_frames: int = 16  # frames per training window / inference segment
    resolution: int = 320  # face crop side in pixels fed to the VAE
    added_time_ids: tuple[float, float, float] = (24.0, 127.0, 0.02)  # SVD's (fps-1, motion bucket, noise aug)
    gradient_checkpointing: bool = False
    # masked-video latents enter conv_in divided by the VAE scaling factor, the scale SVD's
    # conditioning channels were trained on (exports from before this field were trained scaled:
    # LipSyncModel.from_pretrained reads a missing field as False)
    unscaled_condition_latents: bool = True

    def __post_init__(self) -> None:
        if self.audio_context_k < 0:
            raise ValueError(f"LipSyncModelConfig.audio_context_k must be >= 0, got {self.audio_context_k}")
        if self.audio_features_per_frame < 1:
            raise ValueError(f"LipSyncModelConfig.audio_features_per_frame must be >= 1, got {self.audio_features_per_frame}")
        if self.num_frames < 1:
            raise ValueError(f"LipSyncModelConfig.num_frames must be >= 1, got {self.num_frames}")
        if self.resolution < 8 or self.resolution % 8:
            raise ValueError(f"LipSyncModelConfig.resolution must be a multiple of 8 >= 8, got {self.resolution}")
        if len(self.id_guider_channels) < 1 or any(c < 1 for c in self.id_guider_channels):
            raise ValueError(f"LipSyncModelConfig.id_guider_channels must be positive ints, got {self.id_guider_channels}")
        if self.id_guider_downsample not in ("pool", "conv"):
            raise ValueError(f"LipSyncModelConfig.id_guider_downsample must be 'pool' or 'conv', got "
                             f"{self.id_guider_downsample!r}")
        if not isinstance(self.id_guider_mid_block, bool):
            raise ValueError(f"LipSyncModelConfig.id_guider_mid_block must be true or false, got "
                             f"{self.id_guider_mid_block!r}")
        if len(self.added_time_ids) != 3:
            raise ValueError(f"LipSyncModelConfig.added_time_ids must have 3 values, got {self.added_time_ids}")
        if self.svd_dir is None and not self.unet_config:
            raise ValueError("LipSyncModelConfig: set svd_dir (pretrained SVD) or unet_config (random init)")
        if self.whisper_dir is None and not self.whisper_config:
            raise ValueError("LipSyncModelConfig: set whisper_dir (pretrained Whisper) or whisper_config (random init)")

    @property
    def window_tokens(self) -> int:
        """Cross-attention tokens per frame: (2k + 1) frames x features per frame."""
        return (2 * self.audio_context_k + 1) * self.audio_features_per_frame

    @classmethod
    def tiny(cls, **overrides: Any) -> "LipSyncModelConfig":
        """A random-init model small enough for CPU tests (about 0.1 s per step at 4 frames)."""
        base = dict(
            unet_config=dict(
                sample_size=16, in_channels=8, out_channels=4,
                down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
                up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
                block_out_channels=(32, 64), addition_time_embed_dim=8,
                projection_class_embeddings_input_dim=24, layers_per_block=1,
                cross_attention_dim=32, num_attention_heads=(2, 4), num_frames=4),
            vae_config=dict(
                in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                block_out_channels=(32, 32), layers_per_block=1, latent_channels=4, sample_size=32),
            whisper_config=dict(
                d_model=32, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=64,
                decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=80,
                max_source_positions=50, max_target_positions=16, vocab_size=100,
                pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1),
            id_guider_channels=(8, 16, 16, 8),
            audio_context_k=1,
            num_frames=4,
            resolution=32,
        )
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("id_guider_channels", "added_time_ids"):
            d[k] = list(d[k])
        return d

    @staticmethod
    def saved_before_fields(d: dict[str, Any]) -> dict[str, Any]:
        """A config dict saved by an export or checkpoint, with the values that fields added since
        had *before* they existed (not today's defaults): what that model was really built and
        trained with."""
        return {**LEGACY_VALUES, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LipSyncModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"LipSyncModelConfig: unknown fields {unknown}")
        d = dict(d)
        for k in ("id_guider_channels", "added_time_ids"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)
