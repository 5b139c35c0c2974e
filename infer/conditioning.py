"""What the network is conditioned on, prepared exactly as the trainer's loader prepares it:
frames to and from the model's [-1, 1] layout, the masked video, the ID-Guider's reference input,
and per segment the audio windows and ID residuals (:class:`SegmentConditions`).

>>> to_model_frames(np.zeros((2, 4, 4, 3), np.uint8)).shape
torch.Size([2, 3, 4, 4])
"""
from __future__ import annotations

import numpy as np
import torch


def masked_video(frames: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Frames in [-1, 1] (..., 3, H, W) with the mask region set to 0 (grey); masks (..., H, W) in {0, 1}."""
    return frames * (1.0 - masks.unsqueeze(-3))


def reference_input(reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ID-Guider input: reference RGB in [-1, 1] (B, 3, H, W) + lip-mask indicator (B, H, W) -> (B, 4, H, W)."""
    return torch.cat([reference, mask.unsqueeze(1).to(reference.dtype)], dim=1)


def to_model_frames(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def from_model_frames(x: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) in about [-1, 1] -> (T, H, W, 3) uint8."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


class SegmentConditions:
    """Audio windows and ID-Guider residuals of every segment, built as the trainer's loader builds them.

    The windows cut the job's Whisper features around each frame (zero outside the real audio);
    the reference is the segment's own shot's, with the mask indicator the union of the segment's
    mask rectangles (train/data.py). Windows and residuals are kept for all segments while they
    fit in ``budget`` bytes and recomputed at every step beyond that (one ID-Guider pass per
    segment and step, about 5% of a full-size UNet step), so a long video's conditions do not
    grow with its length.
    """

    def __init__(self, pipe, prep, segments, feats: torch.Tensor, valid: torch.Tensor,
                 budget: int = 64 << 20) -> None:
        self.pipe, self.prep, self.segments, self.feats, self.valid = pipe, prep, segments, feats, valid
        self._cache: dict[int, tuple] = {}
        first = self._build(0)
        per = sum(r.numel() * r.element_size() for r in first[1]) + first[0].numel() * first[0].element_size()
        self.keep = per * len(segments) <= budget
        self._cache[0] = first

    def _build(self, k: int):
        from lipforge.pipeline.faces.masks import render_masks

        pipe, prep, seg = self.pipe, self.prep, self.segments[k]
        m, dev = pipe.model, pipe.device
        with pipe._autocast():
            centers = torch.arange(seg.start, seg.end, device=dev)[None]  # (1, L)
            wins = m.audio_windows(self.feats, centers, self.valid)  # (1, L, W, C)
            ref = prep.references[int(prep.shots[seg.start])]
            ref_rgb = to_model_frames(ref[None]).to(dev)  # (1, 3, S, S)
            r = np.asarray(prep.mask_rects[seg.start:seg.end], np.float64)
            union = np.concatenate([r[:, :2].min(0), r[:, 2:].max(0)])[None]  # (1, 4)
            indicator = torch.from_numpy(render_masks(union, ref_rgb.shape[-1])).to(dev)  # (1, S, S)
            res = m.id_guider(reference_input(ref_rgb, indicator).to(pipe.dtype))
        return wins, res

    def __getitem__(self, k: int):
        if k in self._cache:
            return self._cache[k]
        c = self._build(k)
        if self.keep:
            self._cache[k] = c
        return c
