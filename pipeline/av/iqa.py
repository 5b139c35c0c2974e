"""Image quality: HyperIQA (pyiqa's HyperNet) from local weights, KeySync's nine-crop protocol,
and a no-download fallback measure.

KeySync scores a clip by the mean of nine HyperIQA evaluations: first, middle and last frame,
three random 224 px crops each (fixed seed here, so a rerun gives the same numbers); it drops
clips under 0.4. pyiqa's constructor would fetch timm's ImageNet ResNet-50 even when told not to,
so timm's ``pretrained`` flag is forced off while building, then the local state dicts are
loaded: optionally a ResNet-50 backbone file (timm / torchvision key names), then the HyperIQA
file (pyiqa's release checkpoint with its ``params`` key, or a plain state dict, with or without
the backbone's ``base_model.`` keys).

Fallback (``laplacian``): variance of the Laplacian of the grayscale crop, the classic focus
measure; it needs no weights and ranks blur, heavy compression smear and low light (low
contrast) below sharp frames. It is on its own scale (0..~thousands), so it has its own threshold.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

CROP = 224


def nine_crops(frames: np.ndarray, seed: int = 0, per_frame: int = 3, crop: int = CROP) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (3 * per_frame, crop, crop, 3): first/middle/last frame, random crops.

    Frames smaller than ``crop`` are upscaled first (as pyiqa does for small inputs).
    """
    import cv2

    t = len(frames)
    rng = np.random.default_rng(seed)
    out = []
    for idx in (0, t // 2, t - 1):
        f = frames[idx]
        h, w = f.shape[:2]
        if min(h, w) < crop:
            s = (crop + 1) / min(h, w)
            f = cv2.resize(f, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_CUBIC)
            h, w = f.shape[:2]
        for _ in range(per_frame):
            y = int(rng.integers(0, h - crop + 1))
            x = int(rng.integers(0, w - crop + 1))
            out.append(f[y:y + crop, x:x + crop])
    return np.stack(out)


def laplacian_variance(crops: np.ndarray) -> np.ndarray:
    """(N, h, w, 3) uint8 -> (N,) variance of the 3x3 Laplacian of the grayscale image."""
    import cv2

    return np.array([cv2.Laplacian(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for c in crops],
                    np.float32)


def build_hyperiqa(weights: str | Path, backbone_weights: str | Path | None = None, device: str = "cpu"):
    """pyiqa HyperNet with no download: timm pretrained forced off, then local state dicts."""
    import torch
    import timm
    from pyiqa.archs import hypernet_arch

    orig = timm.create_model

    def _no_pretrained(*args, **kwargs):
        kwargs["pretrained"] = False
        return orig(*args, **kwargs)

    hypernet_arch.timm.create_model = _no_pretrained
    try:
        net = hypernet_arch.HyperNet(pretrained=False)
    finally:
        hypernet_arch.timm.create_model = orig
    if backbone_weights is not None:
        sd = torch.load(str(backbone_weights), map_location="cpu", weights_only=True)
        sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
        net.base_model.load_state_dict(sd, strict=True)
    sd = torch.load(str(weights), map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "params" in sd:
        sd = sd["params"]
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    bad = [k for k in missing if not (backbone_weights is not None and k.startswith("base_model."))]
    if bad or unexpected:
        raise ValueError(f"HyperIQA weights {weights}: missing keys {bad[:5]}..., unexpected {list(unexpected)[:5]}")
    return net.to(device).eval()


def hyperiqa_scores(net, crops: np.ndarray, device: str = "cpu") -> np.ndarray:
    """(N, 224, 224, 3) uint8 -> (N,) HyperIQA scores (0..1 for the KonIQ release)."""
    import torch

    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(crops)).float().permute(0, 3, 1, 2).div(255.0).to(device)
        return net.forward_patch(x).reshape(-1).cpu().numpy().astype(np.float32)
