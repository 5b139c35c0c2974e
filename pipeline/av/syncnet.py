"""SyncNet (Chung & Zisserman, 2016) in the layout of the public ``syncnet_v2.model``.

Module names (``netcnnaud``, ``netfcaud``, ``netcnnlip``, ``netfclip``) and Sequential indices
match joonson/syncnet_python, so its state dict loads with ``strict=True``. Inputs are what that
checkpoint expects: five consecutive 224 x 224 BGR face crops in 0..255 (the reference 40 %-margin
crop, see :mod:`lipforge.pipeline.av.face_input`) and the matching 20 MFCC frames (13 coefficients,
python_speech_features defaults). :func:`syncnet_embeddings` returns one video and one audio
embedding per frame position; :func:`lipforge.pipeline.av.lse.offset_confidence` does the LSE-C/LSE-D search.

>>> net = SyncNetV2().eval()
>>> v, a = syncnet_embeddings(net, np.zeros((8, 224, 224, 3), np.uint8), np.zeros((32, 13), np.float32))
>>> v.shape, a.shape
((4, 1024), (4, 1024))
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn


def _c2(cin, cout, k, s=1, p=1):
    return [nn.Conv2d(cin, cout, k, stride=s, padding=p), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _c3(cin, cout, k, s=(1, 1, 1), p=(0, 1, 1)):
    return [nn.Conv3d(cin, cout, k, stride=s, padding=p), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]


def _fc(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, dim))


class SyncNetV2(nn.Module):
    """Two-stream audio / lip network mapping 0.2 s of each to a shared embedding space."""

    def __init__(self, embed_dim: int = 1024) -> None:
        super().__init__()
        self.netcnnaud = nn.Sequential(  # (B, 1, 13, 20) -> (B, 512, 1, 1)
            *_c2(1, 64, 3), nn.MaxPool2d(1, 1),
            *_c2(64, 192, 3), nn.MaxPool2d(3, stride=(1, 2)),
            *_c2(192, 384, 3), *_c2(384, 256, 3), *_c2(256, 256, 3), nn.MaxPool2d(3, stride=2),
            *_c2(256, 512, (5, 4), p=0))
        self.netfcaud = _fc(embed_dim)
        self.netfclip = _fc(embed_dim)
        self.netcnnlip = nn.Sequential(  # (B, 3, 5, 224, 224) -> (B, 512, 1, 1, 1)
            *_c3(3, 96, (5, 7, 7), s=(1, 2, 2), p=0), nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2)),
            *_c3(96, 256, (1, 5, 5), s=(1, 2, 2), p=(0, 1, 1)),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            *_c3(256, 256, (1, 3, 3)), *_c3(256, 256, (1, 3, 3)), *_c3(256, 256, (1, 3, 3)),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2)),
            *_c3(256, 512, (1, 6, 6), p=0))

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 13, 20) -> (B, D)
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 5, 224, 224) -> (B, D)
        return self.netfclip(self.netcnnlip(x).flatten(1))


def load_syncnet(path: str | Path, device: str = "cpu") -> SyncNetV2:
    """Build SyncNetV2 and load a syncnet_python-layout state dict (strict)."""
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    dim = sd["netfcaud.3.weight"].shape[0] if "netfcaud.3.weight" in sd else 1024
    net = SyncNetV2(dim)
    net.load_state_dict(sd, strict=True)
    return net.to(device).eval()


@torch.no_grad()
def syncnet_embeddings(net: SyncNetV2, crops_rgb: np.ndarray, mfcc: np.ndarray, batch: int = 32,
                       device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(T, 224, 224, 3) RGB uint8 + (>= 4T, 13) MFCC -> video (T-4, D) and audio (T-4, D) embeddings.

    Position i covers video frames i..i+4 and MFCC frames 4i..4i+19 (the same 0.2 s).
    """
    t = min(len(crops_rgb), len(mfcc) // 4)
    n = t - 4
    if n < 1:
        return np.zeros((0, 1)), np.zeros((0, 1))
    im = torch.from_numpy(np.ascontiguousarray(crops_rgb[:t, ..., ::-1])).float()  # (T, H, W, 3) BGR
    im = im.permute(3, 0, 1, 2)  # (3, T, H, W)
    cc = torch.from_numpy(np.ascontiguousarray(mfcc[: 4 * t].T)).float()  # (13, 4T)
    vf, af = [], []
    for s in range(0, n, batch):
        idx = range(s, min(n, s + batch))
        v_in = torch.stack([im[:, i:i + 5] for i in idx]).to(device)  # (b, 3, 5, H, W)
        a_in = torch.stack([cc[None, :, 4 * i:4 * i + 20] for i in idx]).to(device)  # (b, 1, 13, 20)
        vf.append(net.forward_lip(v_in).cpu())
        af.append(net.forward_aud(a_in).cpu())
    return torch.cat(vf).numpy(), torch.cat(af).numpy()
