"""LPIPS and FID feature networks, loaded only from local files (nothing is ever downloaded).

LPIPS: the ``lpips`` wheel ships its learned linear heads (``lpips/weights/v0.1/alex.pth``) but
builds its AlexNet backbone with torchvision's ``pretrained=True``, a download. We build it with
``pnet_rand=True`` and copy a local torchvision AlexNet state dict into the backbone slices.

FID: torchvision's ``inception_v3(weights=None, aux_logits=True, init_weights=False)`` plus a
local state dict; features are the 2048-d pool output (the standard FID layer).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lipforge.pipeline.models import require_model_file

ALEXNET_HINT = ("torchvision's AlexNet ImageNet weights (alexnet-owt-7be5be79.pth, from "
                "https://download.pytorch.org/models/ on a machine with internet)")
INCEPTION_HINT = ("torchvision's Inception v3 ImageNet weights (inception_v3_google-0cc3c7bd.pth, from "
                  "https://download.pytorch.org/models/ on a machine with internet), or any compatible state dict")



def _require(path: str | Path | None, what: str, hint: str) -> Path:
    if path is None:
        raise FileNotFoundError(f"{what}: no weights path given; pass the local file of {hint}")
    return require_model_file(path, None, what, f"it is usually {hint}")


class LPIPSMetric:
    """LPIPS (AlexNet) distance between two videos; lower is closer.

    >>> m = LPIPSMetric("/models/alexnet.pth")   # doctest: +SKIP
    >>> m(video_a, video_b)                        # doctest: +SKIP
    0.031
    """

    def __init__(self, alexnet_path: str | Path | None, device: str = "cpu"):
        self.path = _require(alexnet_path, "LPIPS backbone", ALEXNET_HINT)
        self.device = device
        self._model = None

    def _build(self):
        import lpips
        import torch
        import torchvision

        model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
        alex = torchvision.models.alexnet(weights=None)
        alex.load_state_dict(torch.load(self.path, map_location="cpu", weights_only=True))
        for sl in (model.net.slice1, model.net.slice2, model.net.slice3, model.net.slice4, model.net.slice5):
            for name, mod in sl.named_children():
                mod.load_state_dict(alex.features[int(name)].state_dict())
        return model.eval().to(self.device)

    def __call__(self, a: np.ndarray, b: np.ndarray, batch: int = 16) -> float:
        import torch

        if self._model is None:
            self._model = self._build()
        if a.shape != b.shape:
            raise ValueError(f"videos to compare differ in shape: {a.shape} vs {b.shape}")
        vals = []
        with torch.no_grad():
            for s in range(0, len(a), batch):
                x = _to_tensor(a[s:s + batch], self.device)
                y = _to_tensor(b[s:s + batch], self.device)
                vals.append(self._model(x, y).flatten().cpu().numpy())
        return float(np.concatenate(vals).mean())


def _to_tensor(frames: np.ndarray, device: str):
    import torch

    t = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()  # (B, 3, H, W)
    return t / 127.5 - 1.0


class InceptionFeatures:
    """2048-d Inception v3 pool features for FID, from a local state dict."""

    def __init__(self, weights_path: str | Path | None, device: str = "cpu"):
        self.path = _require(weights_path, "FID Inception v3", INCEPTION_HINT)
        self.device = device
        self._model = None

    def _build(self):
        import torch
        import torchvision

        m = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        m.load_state_dict(torch.load(self.path, map_location="cpu", weights_only=True))
        m.fc = torch.nn.Identity()
        return m.eval().to(self.device)

    def __call__(self, frames: np.ndarray, batch: int = 16) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 2048) float64."""
        import torch
        import torch.nn.functional as F

        if self._model is None:
            self._model = self._build()
        mean = torch.tensor([0.485, 0.456, 0.406], device=self.device).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], device=self.device).view(1, 3, 1, 1)
        out = []
        with torch.no_grad():
            for s in range(0, len(frames), batch):
                x = _to_tensor(frames[s:s + batch], self.device) * 0.5 + 0.5
                x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
                out.append(self._model((x - mean) / std).double().cpu().numpy())
        return np.concatenate(out)


def fid(real: np.ndarray, fake: np.ndarray, features: InceptionFeatures) -> float:
    """FID between two frame sets (N, H, W, 3) uint8 (use many frames; N >= 2 each)."""
    from lipforge.infer.eval.metrics import frechet_distance

    fr, ff = features(real), features(fake)
    if len(fr) < 2 or len(ff) < 2:
        raise ValueError(f"FID needs at least 2 frames per set, got {len(fr)} and {len(ff)}")
    return frechet_distance(fr.mean(0), np.cov(fr, rowvar=False), ff.mean(0), np.cov(ff, rowvar=False))
