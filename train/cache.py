"""Add per-clip VAE latents and Whisper features to shards, so training skips those frozen encoders.

``python -m lipforge.train.cache --shards data/shard-*.tar --model-dir export/ --out cached/`` writes one new
shard per input shard (same name, same samples, same order) with ``latents.npy`` (T, 4, h, w)
float16 and ``whisper.npy`` (A, C) float16 added. Samples are decoded and re-encoded through
``lipforge.manifests.layout`` (decode_sample / encode_sample), so the cached shards obey the one layout
contract; train with ``data.use_cached_latents`` / ``data.use_cached_audio``.

The encoders must be the ones the run trains with: ``--model-dir`` is a LipSyncModel export
(``lipforge train --export`` or ``save_pretrained``), ``--config`` a train.yaml whose model is
built exactly as ``lipforge train`` builds it (same seed, so random-init test encoders match too).
The frames are resized to the model's resolution with the loader's own function
(:func:`lipforge.train.data.prep_frame`), so a cached window equals the window the loader would encode.

Whisper features are of the whole clip in encoder-length chunks; the loader cuts the window's
rows. The on-the-fly path encodes the same chunks (:mod:`lipforge.infer.models.audio`), so cached
and on-the-fly tokens agree to float16 storage precision (tests/train/test_audio_path.py).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch

from lipforge.manifests.container import iter_tar_samples, write_tar
from lipforge.manifests.layout import decode_sample, encode_sample
from lipforge.train.data import prep_frame

log = logging.getLogger(__name__)


@torch.no_grad()
def cache_fields(model, sample: dict, latents: bool = True, audio: bool = True,
                 chunk: int = 16) -> dict[str, np.ndarray]:
    """Decoded sample -> {"latents.npy": (T, 4, h, w) float16, "whisper.npy": (A, C) float16} (those asked for)."""
    from lipforge.pipeline.media import decode_video, decode_wav

    out: dict[str, np.ndarray] = {}
    if latents:
        res = int(model.config.resolution)
        video = decode_video(sample["mp4"])  # (T, H, W, 3) uint8
        frames = torch.from_numpy(np.stack([prep_frame(f, res) for f in video]))  # (T, 3, R, R)
        lat = [model.encode_video(frames[s:s + chunk][None])[0] for s in range(0, len(frames), chunk)]
        out["latents.npy"] = torch.cat(lat).float().cpu().numpy().astype(np.float16)  # (T, 4, h, w)
    if audio:
        wav, _sr = decode_wav(sample["wav"])
        out["whisper.npy"] = model.audio_features(wav)[0].cpu().numpy().astype(np.float16)  # (A, C)
    return out


def cache_shard(model, src: str, out_dir: Path, latents: bool = True, audio: bool = True) -> Path:
    """One shard -> ``out_dir/<same name>`` with the caches added (existing caches are recomputed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / Path(src.split("?")[0]).name
    if dst.resolve() == Path(src).resolve():
        raise ValueError(f"--out would overwrite the input shard {src}: choose another directory")

    def samples():
        for raw in iter_tar_samples(src):
            s = decode_sample(raw)
            fields = {k: v for k, v in s.items() if not k.startswith("__")}
            fields.update(cache_fields(model, s, latents, audio))
            yield encode_sample(s["__key__"], fields)

    n = len(write_tar(dst, samples()))
    log.info("%s: %d samples -> %s", src, n, dst)
    return dst


def load_encoders(model_dir: str | None, config: str | None):
    if (model_dir is None) == (config is None):
        raise ValueError("give exactly one of --model-dir (a LipSyncModel export) or --config (a train.yaml)")
    from lipforge.infer.models import LipSyncModel

    if model_dir is not None:
        return LipSyncModel.from_pretrained(model_dir).eval()
    from lipforge.train.config import TrainConfig
    from lipforge.train.loader import seed_everything

    cfg = TrainConfig.from_yaml(config)
    seed_everything(cfg.seed)  # as lipforge.train.loop builds it: random-init encoders come out identical
    return LipSyncModel.from_config(cfg.model).eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lipforge.train.cache", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", nargs="+", required=True, help="input shards (local tar paths or URLs)")
    p.add_argument("--model-dir", help="LipSyncModel export whose VAE / Whisper to use")
    p.add_argument("--config", help="or: a train.yaml; its model is built as lipforge train builds it")
    p.add_argument("--out", required=True, help="directory for the new shards (same file names)")
    p.add_argument("--no-latents", action="store_true", help="do not add latents.npy")
    p.add_argument("--no-audio", action="store_true", help="do not add whisper.npy")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.no_latents and args.no_audio:
        p.error("--no-latents and --no-audio: nothing to cache")
    import os

    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):  # as lipforge.env (train
        os.environ.setdefault(k, "1")  # must not import lipforge): everything loads from local paths
    model = load_encoders(args.model_dir, args.config)
    for src in args.shards:
        print(cache_shard(model, src, Path(args.out), latents=not args.no_latents, audio=not args.no_audio))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
