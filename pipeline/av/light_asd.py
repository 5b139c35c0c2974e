"""Light-ASD (Liao et al., CVPR 2023) written here to load the published state dicts.

The layout matches ``light_asd_finetuning_talkset.model`` key for key (``model.visualEncoder``,
``model.audioEncoder``, ``model.GRU``, ``lossAV.FC``, ``lossV.FC``). Inputs are what the model was
trained on: grayscale 112 x 112 face crops at 25 fps (the centre of the reference 224 px crop) and
13 MFCCs at 100 frames/s, four per video frame. The per-frame score is the raw logit of the
"speaking" class (the reference demo thresholds it at 0); :func:`asd_scores` can also return the
softmax probability.

>>> net = LightASD()            # random init
>>> s = asd_scores(net, np.zeros((25, 112, 112), np.uint8), np.zeros((100, 13), np.float32))
>>> s.shape
(25,)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn


def _bn(c: int, dims: int) -> nn.Module:
    return (nn.BatchNorm3d if dims == 3 else nn.BatchNorm2d)(c, momentum=0.01, eps=0.001)


class _VisualBlock(nn.Module):
    """Two parallel (2D spatial then 1D temporal) branches of kernel 3 and 5, summed, then 1x1x1."""

    def __init__(self, cin: int, cout: int, down: bool = False) -> None:
        super().__init__()
        st = (1, 2, 2) if down else (1, 1, 1)
        for k in (3, 5):
            setattr(self, f"s_{k}", nn.Conv3d(cin, cout, (1, k, k), stride=st, padding=(0, k // 2, k // 2), bias=False))
            setattr(self, f"bn_s_{k}", _bn(cout, 3))
            setattr(self, f"t_{k}", nn.Conv3d(cout, cout, (k, 1, 1), padding=(k // 2, 0, 0), bias=False))
            setattr(self, f"bn_t_{k}", _bn(cout, 3))
        self.last = nn.Conv3d(cout, cout, 1, bias=False)
        self.bn_last = _bn(cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        y = 0
        for k in (3, 5):
            z = torch.relu(getattr(self, f"bn_s_{k}")(getattr(self, f"s_{k}")(x)))
            y = y + torch.relu(getattr(self, f"bn_t_{k}")(getattr(self, f"t_{k}")(z)))
        return torch.relu(self.bn_last(self.last(y)))


class _AudioBlock(nn.Module):
    """Same idea on the (MFCC, time) plane: kernel k over MFCC bins, then over time."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        for k in (3, 5):
            setattr(self, f"m_{k}", nn.Conv2d(cin, cout, (k, 1), padding=(k // 2, 0), bias=False))
            setattr(self, f"bn_m_{k}", _bn(cout, 2))
            setattr(self, f"t_{k}", nn.Conv2d(cout, cout, (1, k), padding=(0, k // 2), bias=False))
            setattr(self, f"bn_t_{k}", _bn(cout, 2))
        self.last = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_last = _bn(cout, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, 13, Ta)
        y = 0
        for k in (3, 5):
            z = torch.relu(getattr(self, f"bn_m_{k}")(getattr(self, f"m_{k}")(x)))
            y = y + torch.relu(getattr(self, f"bn_t_{k}")(getattr(self, f"t_{k}")(z)))
        return torch.relu(self.bn_last(self.last(y)))


class _VisualEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = _VisualBlock(1, 32, down=True)
        self.block2 = _VisualBlock(32, 64)
        self.block3 = _VisualBlock(64, 128)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, T, 112, 112)
        x = self.block3(self.pool(self.block2(self.pool(self.block1(x)))))  # (B, 128, T, 14, 14)
        return x.amax(dim=(3, 4)).transpose(1, 2)  # (B, T, 128)


class _AudioEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = _AudioBlock(1, 32)
        self.block2 = _AudioBlock(32, 64)
        self.block3 = _AudioBlock(64, 128)
        self.pool = nn.MaxPool2d((1, 3), stride=(1, 2), padding=(0, 1))  # time / 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 13, 4T)
        x = self.block3(self.pool(self.block2(self.pool(self.block1(x)))))  # (B, 128, 13, T)
        return x.mean(dim=2).transpose(1, 2)  # (B, T, 128)


class _BGRU(nn.Module):
    """A forward GRU then a GRU over the reversed sequence, GELU after each."""

    def __init__(self, c: int = 128) -> None:
        super().__init__()
        self.gru_forward = nn.GRU(c, c, batch_first=True)
        self.gru_backward = nn.GRU(c, c, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        x = nn.functional.gelu(self.gru_forward(x)[0])
        x = self.gru_backward(torch.flip(x, dims=[1]))[0]
        return nn.functional.gelu(torch.flip(x, dims=[1]))


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.visualEncoder = _VisualEncoder()
        self.audioEncoder = _AudioEncoder()
        self.GRU = _BGRU(128)


class _Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.FC = nn.Linear(128, 2)


class LightASD(nn.Module):
    """Audio-visual active speaker detector; forward gives (B, T, 2) logits [not speaking, speaking]."""

    GRAY_MEAN, GRAY_STD = 0.4161, 0.1688  # the training set's grayscale statistics

    def __init__(self) -> None:
        super().__init__()
        self.model = _Backbone()
        self.lossAV = _Head()  # audio-visual classifier (used for scores)
        self.lossV = _Head()  # visual-only auxiliary classifier (training only)

    def forward(self, faces: torch.Tensor, mfcc: torch.Tensor) -> torch.Tensor:
        """faces (B, T, 112, 112) in 0..255, mfcc (B, 4T, 13) -> (B, T, 2) logits."""
        v = ((faces / 255.0 - self.GRAY_MEAN) / self.GRAY_STD).unsqueeze(1)  # (B, 1, T, 112, 112)
        v = self.model.visualEncoder(v)  # (B, T, 128)
        a = self.model.audioEncoder(mfcc.unsqueeze(1).transpose(2, 3))  # (B, T, 128)
        return self.lossAV.FC(self.model.GRU(a + v))  # (B, T, 2)


def load_light_asd(path: str | Path, device: str = "cpu") -> LightASD:
    """Build the network and load a published Light-ASD state dict (strict key match)."""
    net = LightASD()
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    net.load_state_dict(sd, strict=True)
    return net.to(device).eval()


def asd_face_input(ref_crops_gray: np.ndarray) -> np.ndarray:
    """(T, S, S) uint8 reference crops -> (T, 112, 112): resize to 224 and keep the centre 112."""
    import cv2

    out = np.empty((len(ref_crops_gray), 112, 112), np.uint8)
    for i, g in enumerate(ref_crops_gray):
        out[i] = cv2.resize(g, (224, 224))[56:168, 56:168]
    return out


@torch.no_grad()
def asd_scores(net: LightASD, faces: np.ndarray, mfcc: np.ndarray, window_s: tuple[int, ...] = (1, 2, 4, 6),
               scale: str = "raw", device: str = "cpu") -> np.ndarray:
    """(T, 112, 112) uint8 faces + (>= 4T, 13) MFCCs -> (T,) per-frame speaking scores.

    As in the reference evaluation, the temporal model sees the clip in windows of several
    durations (seconds) and the per-frame scores are averaged over durations, which makes them
    robust to the GRU's context length. Unlike the reference, the two encoders run once over the
    whole clip (their receptive field is a few frames, so only window edges differ) and only the
    GRU and classifier run per window: about 4x cheaper on CPU. ``scale`` "raw" returns the
    speaking logit, "prob" its softmax probability.
    """
    if scale not in ("raw", "prob"):
        raise ValueError(f"asd_scores scale must be 'raw' or 'prob', got {scale!r}")
    t = min(len(faces), len(mfcc) // 4)
    if t < 1:
        return np.zeros(0, np.float32)
    v = torch.from_numpy(np.ascontiguousarray(faces[:t])).float().to(device)[None]  # (1, T, 112, 112)
    a = torch.from_numpy(np.ascontiguousarray(mfcc[: 4 * t])).float().to(device)[None]  # (1, 4T, 13)
    v = ((v / 255.0 - net.GRAY_MEAN) / net.GRAY_STD).unsqueeze(1)  # (1, 1, T, 112, 112)
    emb = net.model.visualEncoder(v) + net.model.audioEncoder(a.unsqueeze(1).transpose(2, 3))  # (1, T, 128)
    acc = np.zeros(t, np.float64)
    for d in window_s:
        n = 25 * d
        parts = []
        for s in range(0, t, n):
            logits = net.lossAV.FC(net.model.GRU(emb[:, s:s + n]))[0]  # (n, 2)
            parts.append(logits[:, 1] if scale == "raw" else torch.softmax(logits, -1)[:, 1])
        acc += torch.cat(parts).cpu().numpy()
    return (acc / len(window_s)).astype(np.float32)
