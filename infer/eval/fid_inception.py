"""The standard FID Inception network (pytorch-fid's port of the TF 2015-12-05 graph), local weights only.

Published FIDs use this network, not torchvision's ImageNet Inception v3: it has 1008 classes
and four blocks differ (TF's average pools ignore the padding; the last block max-pools). The
architecture below is pytorch-fid's (``pytorch_fid/inception.py``, Apache-2.0): torchvision's
Inception v3 with ``FIDInceptionA/C/E_1/E_2`` swapped in, so pytorch-fid's weights file
``pt_inception-2015-12-05-6726825d.pth`` (the same tensors as torchmetrics' ``FeatureExtractorInceptionV3``)
loads into it with strict key matching. Features are the 2048-d pool3 output of frames resized
to 299 x 299 (bilinear) and scaled to [-1, 1], as pytorch-fid computes them.

>>> net = FIDInception("/models/pt_inception-2015-12-05-6726825d.pth")   # doctest: +SKIP
>>> net(frames).shape                                                    # doctest: +SKIP
(N, 2048)
"""
from __future__ import annotations

import numpy as np

from lipforge.infer.eval.networks import LocalNet


FID_WEIGHTS_HINT = ("pytorch-fid's FID Inception weights pt_inception-2015-12-05-6726825d.pth (from "
                    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/ on a machine with "
                    "internet)")
FEATURE_DIM = 2048


def build_fid_inception():
    """The FID Inception v3 module tree (random weights; load a state dict into it)."""
    import torch
    import torch.nn.functional as F
    from torchvision.models import inception as tvi

    class FIDInceptionA(tvi.InceptionA):
        def forward(self, x):
            b1 = self.branch1x1(x)
            b5 = self.branch5x5_2(self.branch5x5_1(x))
            b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            # TF's average pool does not count the padded zeros
            bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
            return torch.cat([b1, b5, b3, bp], 1)

    class FIDInceptionC(tvi.InceptionC):
        def forward(self, x):
            b1 = self.branch1x1(x)
            b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
            bd = self.branch7x7dbl_1(x)
            for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
                bd = layer(bd)
            bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
            return torch.cat([b1, b7, bd, bp], 1)

    class FIDInceptionE(tvi.InceptionE):
        max_pool = False

        def forward(self, x):
            b1 = self.branch1x1(x)
            b3 = self.branch3x3_1(x)
            b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
            bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
            if self.max_pool:  # the TF graph's last block max-pools here
                pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
            else:
                pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
            return torch.cat([b1, b3, bd, self.branch_pool(pooled)], 1)

    class FIDInceptionE2(FIDInceptionE):
        max_pool = True

    net = tvi.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE(1280)
    net.Mixed_7c = FIDInceptionE2(2048)
    return net


_POOL3 = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
          "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
          "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool")


class FIDInception(LocalNet):
    """2048-d pool3 features of the FID Inception network from a local state dict."""

    WHAT, HINT = "FID Inception", FID_WEIGHTS_HINT

    def _build(self):
        return self._load_state(build_fid_inception(), "the FID Inception state dict")

    def __call__(self, frames: np.ndarray, batch: int = 16) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 2048) float64."""
        import torch
        import torch.nn.functional as F

        net = self.net
        out = []
        with torch.no_grad():
            for s in range(0, len(frames), batch):
                x = torch.from_numpy(np.ascontiguousarray(frames[s:s + batch])).to(self.device)
                x = x.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W) in [0, 1]
                x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
                x = 2 * x - 1
                for name in _POOL3:
                    x = getattr(net, name)(x)
                out.append(x.flatten(1).double().cpu().numpy())
        return np.concatenate(out)
