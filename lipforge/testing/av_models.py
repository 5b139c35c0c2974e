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
