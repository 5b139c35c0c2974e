"""Audio conditioning: frozen Whisper encoder features and per-frame feature windows.

Whisper gives 50 features per second (a mel frame every 10 ms, then a stride-2 conv), so at
25 fps each video frame owns ``per_frame = 2`` consecutive features. Frame t is conditioned on
the features of frames t-k .. t+k, zero-padded where that range leaves the audio (clip ends).

One feature path for training and inference: the encoder always sees the whole clip (or job)
audio cut into encoder-length chunks from its start (30 s for real Whisper), never a window's
audio alone. Whisper was trained on 30 s of speech per input; a 0.8 s window followed by 29 s of
zero padding is far from that, its self-attention would see a different context at training
than at inference (where the job's audio fills the chunk), and it costs one full 30 s encoder
call per window anyway. So the trainer's loader ships the chunk(s) of the clip that hold a
window (:func:`chunk_span`), the cache (``lipforge.train.cache``) stores the whole clip's
features, inference encodes the job's audio; all three give frame t the same tokens.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

SAMPLE_RATE = 16000
HOP = 160  # Whisper mel hop at 16 kHz (10 ms)


def audio_windows(features: torch.Tensor, centers: torch.Tensor, valid_frames: torch.Tensor, k: int,
                  per_frame: int = 2) -> torch.Tensor:
    """Cut each frame's window of audio features, zero outside [0, valid_frames).

    features: (B, A, C), feature j belongs to frame j // per_frame.
    centers: (B, T) long, frame index of each output frame in the features' frame axis.
    valid_frames: (B,) long, frames of real audio in ``features`` (the rest is padding).
    Returns (B, T, (2k + 1) * per_frame, C).

    >>> f = torch.ones(1, 8, 3)
    >>> w = audio_windows(f, torch.tensor([[0, 3]]), torch.tensor([4]), k=1)
    >>> w.shape, w[0, 0, :2].abs().sum().item(), w[0, 1, 4:].abs().sum().item()
    (torch.Size([1, 2, 6, 3]), 0.0, 0.0)
    """
    b, a, c = features.shape
    offs = torch.arange(-k, k + 1, device=features.device)  # (2k+1,)
    frames = centers.to(features.device)[:, :, None] + offs  # (B, T, 2k+1)
    valid = (frames >= 0) & (frames < valid_frames.to(features.device)[:, None, None]) \
        & (frames * per_frame + per_frame <= a)
    feat_idx = frames[..., None] * per_frame + torch.arange(per_frame, device=features.device)  # (B, T, 2k+1, P)
    feat_idx = feat_idx.clamp(0, a - 1).reshape(b, -1)  # (B, T*(2k+1)*P)
    g = torch.gather(features, 1, feat_idx[..., None].expand(-1, -1, c))  # (B, T*(2k+1)*P, C)
    t = centers.shape[1]
    g = g.reshape(b, t, 2 * k + 1, per_frame, c) * valid[..., None, None].to(features.dtype)
    return g.reshape(b, t, (2 * k + 1) * per_frame, c)


def chunk_samples(max_source_positions: int) -> int:
    """Audio samples per encoder call: ``2 * max_source_positions`` mel frames of 10 ms (30 s for
    real Whisper). Must hold whole video frames (640 samples) so frame and chunk grids agree.

    >>> chunk_samples(1500), chunk_samples(50)
    (480000, 16000)
    """
    n = 2 * int(max_source_positions) * HOP
    if n % 640:
        raise ValueError(f"Whisper max_source_positions={max_source_positions} gives {n} samples per encoder "
                         "chunk, not a whole number of 25 fps frames (640 samples): use an even value")
    return n


def whisper_chunk_samples(model_config) -> int:
    """:func:`chunk_samples` of a LipSyncModelConfig's Whisper (its directory's config.json, else
    ``whisper_config``; Whisper's default 1500 positions when neither names it)."""
    import json

    cfg = dict(model_config.whisper_config)
    if model_config.whisper_dir is not None and (Path(model_config.whisper_dir) / "config.json").is_file():
        cfg = json.loads((Path(model_config.whisper_dir) / "config.json").read_text())
    return chunk_samples(int(cfg.get("max_source_positions", 1500)))


def chunk_span(a: int, b: int, chunk: int, spf: int = 640) -> tuple[int, int]:
    """Audio frames [a, b) -> the sample range [start, end) of the encoder chunks that hold them,
    chunks counted from the clip's start (as inference counts them from the job's start).

    >>> chunk_span(30, 50, chunk=16000)   # frames 30..49 at 25 frames per chunk: chunks 1 and 2
    (16000, 48000)
    """
    c0 = a * spf // chunk
    c1 = max(c0 + 1, -(-b * spf // chunk))
    return c0 * chunk, c1 * chunk


def load_whisper_encoder(directory: str | Path):
    """Whisper encoder (transformers ``WhisperEncoder``) from a local Whisper directory.

    Reads ``config.json`` and the ``encoder.*`` / ``model.encoder.*`` tensors of the directory's
    safetensors (or ``pytorch_model.bin``) so a full Whisper checkpoint and lipforge's
    encoder-only export both load; the decoder is never materialized.
    """
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    d = Path(directory)
    if not (d / "config.json").is_file():
        raise FileNotFoundError(
            f"Whisper: no config.json in {d} (expected a local transformers Whisper directory, e.g. "
            "openai/whisper-tiny saved with save_pretrained or downloaded from the Hugging Face hub)")
    state: dict[str, torch.Tensor] = {}
    files = sorted(d.glob("*.safetensors"))
    if files:
        from safetensors.torch import load_file

        for f in files:
            state.update(load_file(str(f)))
    elif (d / "pytorch_model.bin").is_file():
        state = torch.load(d / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise FileNotFoundError(f"Whisper: no *.safetensors or pytorch_model.bin in {d}")
    enc_state = {}
    for key, v in state.items():
        for prefix in ("model.encoder.", "encoder."):
            if key.startswith(prefix):
                enc_state[key[len(prefix):]] = v
                break
    if not enc_state:
        raise ValueError(f"Whisper: no encoder tensors (encoder.* / model.encoder.*) in {d}")
    config = WhisperConfig.from_pretrained(str(d))
    enc = WhisperEncoder(config)
    missing, unexpected = enc.load_state_dict(enc_state, strict=False)
    missing = [m for m in missing if "embed_positions" not in m]  # sinusoidal, rebuilt by the config
    if missing or unexpected:
        raise ValueError(f"Whisper encoder in {d}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return enc.eval().requires_grad_(False)


def save_whisper_encoder(encoder, directory: str | Path) -> None:
    """Encoder-only Whisper checkpoint (config.json + model.safetensors with ``encoder.*`` keys)."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    encoder.config.save_pretrained(str(d))
    save_file({f"encoder.{k}": v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()},
              str(d / "model.safetensors"))


def log_mel_chunks(audio: np.ndarray, num_mel_bins: int, chunk_frames: int) -> np.ndarray:
    """float32 (N,) 16 kHz -> Whisper log-mel (n_chunks, num_mel_bins, chunk_frames), chunk by chunk.

    Each chunk is normalized on its own, as Whisper sees one 30 s window at a time (shorter with a
    reduced ``max_source_positions``).
    """
    from transformers import WhisperFeatureExtractor

    chunk_samples = chunk_frames * HOP
    fe = WhisperFeatureExtractor(feature_size=num_mel_bins, sampling_rate=SAMPLE_RATE, hop_length=HOP,
                                 chunk_length=max(1, chunk_samples // SAMPLE_RATE), n_fft=400)
    fe.n_samples, fe.nb_max_frames = chunk_samples, chunk_frames
    audio = np.asarray(audio, np.float32).reshape(-1)
    n_chunks = max(1, -(-len(audio) // chunk_samples))
    pieces = [audio[i * chunk_samples:(i + 1) * chunk_samples] for i in range(n_chunks)]
    with torch.autocast("cpu", enabled=False):  # signal processing: fp32 even inside a caller's CPU autocast
        feats = fe(pieces, sampling_rate=SAMPLE_RATE, padding="max_length", max_length=chunk_samples,
                   return_tensors="np")["input_features"]
    return feats[:, :, :chunk_frames].astype(np.float32)
