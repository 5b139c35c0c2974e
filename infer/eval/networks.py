"""LPIPS network and the Frechet distance of FID / FVD, loaded only from local files (nothing is ever downloaded).

LPIPS: the ``lpips`` wheel ships its learned linear heads (``lpips/weights/v0.1/alex.pth``) but
builds its AlexNet backbone with torchvision's ``pretrained=True``, a download. We build it with
``pnet_rand=True`` and copy a local torchvision AlexNet state dict into the backbone slices.

FID: the standard FID Inception network (:mod:`lipforge.infer.eval.fid_inception`); the Frechet
distance here refuses rank-deficient covariances (:class:`FIDUnavailable`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lipforge.pipeline.models import require_model_file

ALEXNET_HINT = ("torchvision's AlexNet ImageNet weights (alexnet-owt-7be5be79.pth, from "
                "https://download.pytorch.org/models/ on a machine with internet)")


def _require(path: str | Path | None, what: str, hint: str) -> Path:
    if path is None:
        raise FileNotFoundError(f"{what}: no weights path given; pass the local file of {hint}")
    return require_model_file(path, None, what, f"it is usually {hint}")


class LocalNet:
    """An evaluation network whose weights file is checked at construction and loaded on first use.

    Subclasses name the network (``WHAT``), where users get the file (``HINT``), and ``_build``
    it; ``self.net`` is built once, on the first call.
    """

    WHAT = "network"
    HINT = "its weights file"

    def __init__(self, weights_path: str | Path | None, device: str = "cpu") -> None:
        self.path = _require(weights_path, self.WHAT, self.HINT)
        self.device = device
        self._net = None

    @property
    def net(self):
        if self._net is None:
            self._net = self._build()
        return self._net

    def _build(self):
        raise NotImplementedError

    def _load_state(self, net, expected: str):
        """``net`` with the weights-only state dict of ``self.path``, on ``self.device`` in eval
        mode; a file holding other weights is a ValueError naming it."""
        import torch

        try:
            net.load_state_dict(torch.load(self.path, map_location="cpu", weights_only=True))
        except RuntimeError as e:
            raise ValueError(f"{self.WHAT}: {self.path} is not {expected} ({str(e).splitlines()[0]}); "
                             f"expected {self.HINT}") from None
        return net.eval().to(self.device)


class LPIPSMetric(LocalNet):
    """LPIPS (AlexNet) distance between two videos; lower is closer.

    >>> m = LPIPSMetric("/models/alexnet.pth")   # doctest: +SKIP
    >>> m(video_a, video_b)                        # doctest: +SKIP
    0.031
    """

    WHAT, HINT = "LPIPS backbone", ALEXNET_HINT

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

        model = self.net
        if a.shape != b.shape:
            raise ValueError(f"videos to compare differ in shape: {a.shape} vs {b.shape}")
        vals = []
        with torch.no_grad():
            for s in range(0, len(a), batch):
                x = _to_tensor(a[s:s + batch], self.device)
                y = _to_tensor(b[s:s + batch], self.device)
                vals.append(model(x, y).flatten().cpu().numpy())
        return float(np.concatenate(vals).mean())


def _to_tensor(frames: np.ndarray, device: str):
    import torch

    t = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()  # (B, 3, H, W)
    return t / 127.5 - 1.0


class FIDUnavailable(ValueError):
    """Too few samples for a full-rank covariance: the Frechet distance would be a garbage number."""


def frechet_of_features(fr: np.ndarray, ff: np.ndarray, name: str = "FID", unit: str = "frames") -> float:
    """Frechet distance of two feature sets (N, D); refuses (:class:`FIDUnavailable`) unless each
    set has more rows than dimensions, because a rank-deficient covariance makes sqrt(S1 S2)
    meaningless (a video against itself once came out as -5.8e14)."""
    from lipforge.infer.eval.metrics import frechet_distance

    d = fr.shape[1]
    if len(fr) <= d or len(ff) <= d:
        raise FIDUnavailable(f"{name} needs more than {d} {unit} per set for a full-rank {d}-d covariance, got "
                             f"{len(fr)} real and {len(ff)} generated")
    return frechet_distance(fr.mean(0), np.cov(fr, rowvar=False), ff.mean(0), np.cov(ff, rowvar=False))


def fid(real: np.ndarray, fake: np.ndarray, features) -> float:
    """FID between two frame sets (N, H, W, 3) uint8 with ``features`` (the standard network:
    :class:`lipforge.infer.eval.fid_inception.FIDInception`); :class:`FIDUnavailable` with N <= 2048."""
    return frechet_of_features(features(real), features(fake), "FID", "frames")
