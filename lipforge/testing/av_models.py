"""Random-init SyncNet v2 and Light-ASD weight files in their real formats (state dicts that the
product's loaders read strictly), so tests run the gating sync and active-speaker stages without
the real weights. Their scores are meaningless but deterministic: a test takes thresholds from
the scores a run measured.

>>> paths = tiny_av_weights(tmp_path)                    # doctest: +SKIP
>>> paths["syncnet"].name, paths["light_asd"].name
('syncnet_v2.model', 'light_asd.model')
"""
from __future__ import annotations

from pathlib import Path


def tiny_av_weights(d: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write ``syncnet_v2.model`` (embedding width 64) and ``light_asd.model`` into ``d``."""
    import torch

    from lipforge.pipeline.av.light_asd import LightASD
    from lipforge.pipeline.av.syncnet import SyncNetV2

    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    out = {"syncnet": d / "syncnet_v2.model", "light_asd": d / "light_asd.model"}
    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(seed)
        if not out["syncnet"].exists():
            torch.save(SyncNetV2(embed_dim=64).state_dict(), out["syncnet"])
        if not out["light_asd"].exists():
            torch.save(LightASD().state_dict(), out["light_asd"])
    return out


def av_heads(d: str | Path) -> tuple[list[Path], dict[str, Path]]:
    """Two 2 s talking heads at 64 px (the second silent after 1 s) and :func:`tiny_av_weights`:
    inputs for runs of the gating asd and sync stages (1 s clips keep them a few seconds long)."""
    import numpy as np

    from lipforge.testing.synth import make_talking_head, speech_wav

    d = Path(d)
    quiet = np.concatenate([speech_wav(1.0, 16000, 5), np.zeros(16000, np.float32)])
    files = [make_talking_head(d / "p.mp4", seconds=2.0, size=(64, 64), face_px=40, seed=3).path,
             make_talking_head(d / "q.mp4", seconds=2.0, size=(64, 64), face_px=40, seed=4, audio=quiet).path]
    return [Path(f) for f in files], tiny_av_weights(d / "weights")
