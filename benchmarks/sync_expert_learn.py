"""Does ``lipforge train-sync``'s expert learn sync where sync is learnable? Print the figures.

``synthetic``: talking heads from :mod:`lipforge.testing.synth` (a photo whose mouth opens with
espeak-ng speech), one source per (photo, speech seed); the expert trains on the astronaut and
Obama photos and validates on Biden's (held-out speakers: another face, other sentences order).
``real``: the real talking fixtures prepared by ``benchmarks/sync_fallback.py`` (its cache), one
source per video; a seeded fifth of the videos validates. Both go through
:func:`lipforge.pipeline.av.sync_train.train_sync` (the function the CLI runs) with prepared clips.

Printed per held-out set: pair accuracy / AUC (in sync vs shifted >= 3 frames vs other source),
clip-level AUC own audio vs another source's, and how often an applied delay of -5/-3/+3/+5
frames is recovered within +-1 frame. A few minutes of video is not a corpus: the real figures
say what this tiny set reaches, not what an expert trained on a lab's corpus would.
Usage: python benchmarks/sync_expert_learn.py [synthetic|real] [--steps N]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from lipforge.env import apply_offline_env

apply_offline_env()

import numpy as np  # noqa: E402

FIX = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"
SPF = 640


def synthetic_clips(seconds: float = 8.0, seeds: int = 4, size: int = 96):
    from lipforge.pipeline.av.sync_expert import audio_features, lower_half
    from lipforge.pipeline.av.sync_train import Clip
    from lipforge.testing.synth import envelope_per_frame, render_frames, speech_wav

    photos = {"astronaut": "astronaut", "obama": str(FIX / "obama.jpg"), "biden": str(FIX / "biden.jpg")}
    out = []
    for name, photo in photos.items():
        for k in range(seeds):
            seed = 100 * len(out) + k if name != "biden" else 1000 + k
            n = int(seconds * 25)
            speech = np.pad(speech_wav(seconds, 16000, seed), (0, n * SPF))[: n * SPF].astype(np.float32)
            frames, box = render_frames(envelope_per_frame(speech, n), (160, 160), 110, photo, sway_px=2.0)
            x0, y0, x1, y1 = box
            c = int(max(x1 - x0, y1 - y0) * 0.6)
            cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
            crops = np.stack([np.pad(f, ((c, c), (c, c), (0, 0)), mode="edge")[cy:cy + 2 * c, cx:cx + 2 * c]
                              for f in frames])
            import cv2

            crops = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in crops])
            out.append(Clip(f"{name}{k}-0", f"{name}{k}", lower_half(crops, 48), audio_features(speech, n), speech))
            out[-1].crops = crops  # for the delay checks
    return out


def real_clips(cache: Path, size: int = 96):
    import cv2

    from lipforge.pipeline.av.sync_expert import audio_features, lower_half
    from lipforge.pipeline.av.sync_train import Clip

    out = []
    for f in sorted(cache.glob("*.npz")):
        z = np.load(f)
        crops = np.stack([cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA) for x in z["crops"]])
        n = len(crops)
        audio = np.pad(z["audio"], (0, max(0, n * SPF - len(z["audio"]))))[: n * SPF].astype(np.float32)
        name = f.stem.rsplit("-", 1)[0].replace("_", "")
        c = Clip(f"{name}-0", name, lower_half(crops, 48), audio_features(audio, n), audio)
        c.crops = crops
        out.append(c)
    return out


def check(net, clips, vshift: int = 15) -> None:
    from lipforge.pipeline.av.sync_expert import expert_sync
    from lipforge.pipeline.av.sync_train import roc_auc

    own, other, hits = [], [], {d: [] for d in (-5, -3, 3, 5)}
    win = 100  # 4 s windows
    for k, c in enumerate(clips):
        o = clips[(k + 1) % len(clips)]
        for s in range(0, len(c.crops) - win + 1, 50):
            fr, a = c.crops[s:s + win], c.audio[s * SPF:(s + win) * SPF]
            own.append(expert_sync(net, fr, a, 16000, vshift).conf)
            other.append(expert_sync(net, fr, np.resize(o.audio[s * SPF:], len(a)), 16000, vshift).conf)
            for d in hits:
                full = np.pad(c.audio, (8 * SPF, 8 * SPF))
                sh = full[(s + 8 - d) * SPF:(s + 8 - d + win) * SPF]  # audio d frames late
                hits[d].append(abs(expert_sync(net, fr, sh, 16000, vshift).offset - d) <= 1)
    own_a, oth_a = np.nan_to_num(own, nan=-9), np.nan_to_num(other, nan=-9)
    print(f"  held-out 4 s windows: {len(own)}; own vs other-source confidence AUC "
          f"{roc_auc(np.concatenate([own_a, oth_a]), np.r_[np.ones(len(own_a)), np.zeros(len(oth_a))]):.3f}; "
          f"own offset within +-1: see delay recovery; delay recovered within +-1: "
          + ", ".join(f"{d:+d}: {np.mean(v):.0%}" for d, v in hits.items()))


def main(argv=None) -> int:
    import torch

    from lipforge.pipeline.av.sync_expert import ExpertArch, load_expert
    from lipforge.pipeline.av.sync_train import TrainSyncConfig, train_sync

    p = argparse.ArgumentParser()
    p.add_argument("which", choices=["synthetic", "real"])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--cache", default="/tmp/lipforge-syncbench")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    if a.which == "synthetic":
        clips = synthetic_clips()
        val = tuple(c.source_id for c in clips if c.source_id.startswith("biden"))
    else:
        clips = real_clips(Path(a.cache))
        if not clips:
            print(f"no prepared real clips in {a.cache}: run benchmarks/sync_fallback.py first")
            return 0
        val = ()
    print(f"{len(clips)} clips, {sum(len(c.lower) for c in clips) / 25:.0f} s, prepared in {time.time() - t0:.0f} s")
    cfg = TrainSyncConfig(corpus=f"<{a.which}>", steps=a.steps, batch_size=32, lr=1e-3, val_sources=val,
                          arch=ExpertArch(size=48, width=16, dim=64))
    with tempfile.TemporaryDirectory() as d:
        meta = train_sync(cfg, Path(d) / "e", log_every=max(1, a.steps // 6), ckpt_every=a.steps, clips=clips)
        net = load_expert(Path(d) / "e" / "expert.pt")
    held = [c for c in clips if c.source_id in meta["val_sources"]]
    print(f"{a.which}: {a.steps} steps in {time.time() - t0:.0f} s; held-out sources {meta['val_sources']}: pair "
          f"accuracy {meta['val_acc']:.3f}, AUC {meta['val_auc']:.3f}")
    check(net, held)
    return 0


if __name__ == "__main__":
    sys.exit(main())
