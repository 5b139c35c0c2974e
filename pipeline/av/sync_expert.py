"""A SyncNet-style sync expert trained on a curated corpus (``lipforge train-sync``), and its loader.

Like Wav2Lip's expert discriminator and LatentSync's StableSyncNet, two small encoders map 0.2 s
of each stream into one embedding space: the video side sees five consecutive frames of the
*lower half* of the face crop the corpus stores (resized to ``size`` px, RGB stacked on channels),
the audio side the matching 20 frames of log-mel filterbank energies
(:func:`lipforge.pipeline.av.mfcc.log_mel`, 100 frames/s, 4 per video frame, as SyncNet's MFCC
window). Both windows are normalized on their own (``ExpertArch.norm = "window"``): the frames
minus the window's mean frame, the mel minus each band's mean over the window, so the encoders
see what changes rather than who is speaking; without it an expert trained on two synthetic faces
reached held-out pair AUC 0.67, with it and 23 training faces 0.94 (``benchmarks/sync_expert_learn.py``).
Training (:mod:`lipforge.pipeline.av.sync_train`) pushes the cosine of in-sync pairs up
and of shifted / other-speaker pairs down (binary cross-entropy on a scaled cosine). Scoring a clip
is SyncNet's offset search (:func:`lipforge.pipeline.av.lse.offset_confidence`) on these
embeddings, so ``sync_offset`` / ``sync_conf`` / ``sync_min_dist`` mean what they mean for SyncNet,
on this expert's own scale: its file carries the confidence threshold calibrated on held-out
speakers, and the provenance (corpus, where, steps, validation figures) the stage stamps on rows.

The file is a plain state dict plus JSON-able metadata, loaded with ``weights_only=True``:

>>> net = SyncExpert(ExpertArch())                                 # doctest: +SKIP
>>> save_expert(net, "expert.pt", {"corpus": "c", "where": None, "steps": 0, "val_acc": 0.5,
...                                "val_auc": 0.5, "threshold": 0.1})   # doctest: +SKIP
>>> expert_sync(load_expert("expert.pt"), crops, audio).offset     # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

FORMAT = "lipforge-sync-expert"
WINDOW = 5  # video frames per position (0.2 s at 25 fps)
MEL_PER_FRAME = 4  # log-mel frames (10 ms) per video frame (40 ms)


@dataclass(frozen=True)
class ExpertArch:
    size: int = 48  # the face crop is resized to size x size; the lower half (size/2 x size) is seen
    nfilt: int = 26  # log-mel bands
    width: int = 32  # channels of the first conv
    dim: int = 64  # embedding size
    # "window": each 5-frame window minus its own mean frame, and each 20-frame mel window minus
    # its per-band mean (what changes, not who: a face's look and a voice's timbre cancel out);
    # "none" (files written before this field existed): the raw pixels and the clip-standardized mel
    norm: str = "window"

    def __post_init__(self) -> None:
        if self.norm not in ("window", "none"):
            raise ValueError(f"ExpertArch.norm must be 'window' or 'none', got {self.norm!r}")
        if self.size < 16 or self.size % 8:
            raise ValueError(f"ExpertArch.size must be a multiple of 8 and >= 16, got {self.size}")
        for f in ("nfilt", "width", "dim"):
            if getattr(self, f) < 4:
                raise ValueError(f"ExpertArch.{f} must be >= 4, got {getattr(self, f)}")


def _block(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.GroupNorm(4, cout), nn.ReLU(inplace=True)]


class SyncExpert(nn.Module):
    """Video (B, 3 * WINDOW, size/2, size) and audio (B, 1, nfilt, 4 * WINDOW) -> unit embeddings."""

    def __init__(self, arch: ExpertArch) -> None:
        super().__init__()
        self.arch = arch
        w = arch.width
        self.video = nn.Sequential(*_block(3 * WINDOW, w, 1), *_block(w, 2 * w, 2), *_block(2 * w, 4 * w, 2),
                                   *_block(4 * w, 4 * w, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                   nn.Linear(4 * w, arch.dim))
        self.audio = nn.Sequential(*_block(1, w, 1), *_block(w, 2 * w, 2), *_block(2 * w, 4 * w, 2),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, arch.dim))
        self.logit_scale = nn.Parameter(torch.tensor(5.0))
        self.logit_bias = nn.Parameter(torch.tensor(0.0))

    def embed_video(self, x: torch.Tensor) -> torch.Tensor:  # (B, 15, h, w) -> (B, D)
        return nn.functional.normalize(self.video(x), dim=1)

    def embed_audio(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, nfilt, 20) -> (B, D)
        return nn.functional.normalize(self.audio(x), dim=1)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """In-sync logit per pair: scale * cosine + bias, (B,)."""
        cos = (self.embed_video(video) * self.embed_audio(audio)).sum(dim=1)
        return self.logit_scale * cos + self.logit_bias


# ---- inputs: one recipe for training and scoring ----------------------------------------------
def lower_half(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 face crops -> (T, size/2, size, 3) uint8: the lower half after a resize."""
    import cv2

    out = np.empty((len(frames), size // 2, size, 3), np.uint8)
    for i, f in enumerate(frames):
        out[i] = cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA)[size // 2:]
    return out


def audio_features(audio: np.ndarray, n_frames: int, sample_rate: int = 16000, nfilt: int = 26) -> np.ndarray:
    """(N,) audio -> (MEL_PER_FRAME * n_frames, nfilt) log-mel, standardized over the clip."""
    from lipforge.pipeline.av.mfcc import log_mel

    m = log_mel(audio, sample_rate, nfilt)
    need = MEL_PER_FRAME * n_frames
    m = np.pad(m, ((0, max(0, need - len(m))), (0, 0)), mode="edge")[:need]
    return ((m - m.mean()) / (m.std() + 1e-5)).astype(np.float32)


def video_windows(lower: np.ndarray, starts: np.ndarray, norm: str = "none") -> torch.Tensor:
    """(T, h, w, 3) uint8 + (B,) starts -> (B, 3 * WINDOW, h, w) float: in [-0.5, 0.5] (``norm``
    "none") or, "window", minus the window's mean frame (x 4: the changes are small)."""
    idx = np.asarray(starts)[:, None] + np.arange(WINDOW)[None]  # (B, WINDOW)
    x = torch.from_numpy(lower[idx]).float().div_(255.0).sub_(0.5)  # (B, WINDOW, h, w, 3)
    if norm == "window":
        x = (x - x.mean(dim=1, keepdim=True)).mul_(4.0)
    b, k, h, w, c = x.shape
    return x.permute(0, 1, 4, 2, 3).reshape(b, k * c, h, w)


def audio_windows(mel: np.ndarray, starts: np.ndarray, norm: str = "none") -> torch.Tensor:
    """(F, nfilt) + (B,) video-frame starts -> (B, 1, nfilt, 4 * WINDOW); ``norm`` "window":
    minus each band's mean over the window."""
    idx = MEL_PER_FRAME * np.asarray(starts)[:, None] + np.arange(MEL_PER_FRAME * WINDOW)[None]
    x = torch.from_numpy(mel[idx]).permute(0, 2, 1).unsqueeze(1)
    return x - x.mean(dim=3, keepdim=True) if norm == "window" else x


@torch.no_grad()
def clip_embeddings(net: SyncExpert, lower: np.ndarray, mel: np.ndarray, device: str = "cpu",
                    batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Video and audio embeddings (T - 4, D) of every 5-frame position of a prepared clip."""
    n = min(len(lower), len(mel) // MEL_PER_FRAME) - WINDOW + 1
    if n < 1:
        return np.zeros((0, net.arch.dim)), np.zeros((0, net.arch.dim))
    vs, as_ = [], []
    for s in range(0, n, batch):
        st = np.arange(s, min(n, s + batch))
        vs.append(net.embed_video(video_windows(lower, st, net.arch.norm).to(device)).cpu())
        as_.append(net.embed_audio(audio_windows(mel, st, net.arch.norm).to(device)).cpu())
    return torch.cat(vs).numpy(), torch.cat(as_).numpy()


def expert_sync(net: SyncExpert, frames: np.ndarray, audio: np.ndarray, sample_rate: int = 16000,
                vshift: int = 15, device: str = "cpu"):
    """(T, H, W, 3) face crops + their audio -> SyncResult (SyncNet's offset search on the expert)."""
    from lipforge.pipeline.av.lse import SyncResult, offset_confidence

    if len(frames) < WINDOW + 1:
        return SyncResult(0, float("nan"), float("nan"), np.zeros(2 * vshift + 1))
    v, a = clip_embeddings(net, lower_half(frames, net.arch.size),
                           audio_features(audio, len(frames), sample_rate, net.arch.nfilt), device)
    return offset_confidence(v, a, vshift)


# ---- the file ---------------------------------------------------------------------------------
META_KEYS = ("corpus", "where", "steps", "val_acc", "val_auc", "threshold")


def save_expert(net: SyncExpert, path: str | Path, meta: dict) -> Path:
    """Write the expert (state dict + arch + meta) atomically; ``meta`` needs :data:`META_KEYS`."""
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"save_expert: meta lacks {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    sd = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    torch.save({"format": FORMAT, "arch": asdict(net.arch), "meta": dict(meta), "state_dict": sd}, tmp)
    os.replace(tmp, path)
    return path


def _read(path: str | Path) -> dict:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"sync expert file not found: {path}") from None
    except Exception as e:  # a damaged or foreign file: one line naming it
        raise ValueError(f"{path}: not a lipforge sync expert file ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path}: not a lipforge sync expert file (no format {FORMAT!r}); "
                         "make one with `lipforge train-sync`")
    return obj


def read_expert_meta(path: str | Path) -> dict:
    """The expert's provenance: corpus, where, steps, val_acc, val_auc, threshold (and more)."""
    return dict(_read(path)["meta"])


def load_expert(path: str | Path, device: str = "cpu") -> SyncExpert:
    """Build the expert from its file (weights-only load, strict)."""
    obj = _read(path)
    net = SyncExpert(ExpertArch(**{"norm": "none", **obj["arch"]}))  # a file without "norm" predates it
    net.load_state_dict(obj["state_dict"], strict=True)
    return net.to(device).eval()
