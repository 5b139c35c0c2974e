"""Does ``lipforge train-sync``'s expert learn sync where sync is learnable? Print the figures.

``synthetic``: talking heads (:mod:`lipforge.testing.synth_speakers`): one face from the first
frames of each real talking fixture (29 people, written to a temp dir, never committed), each
animated twice (8 s, mouth opening = speech envelope) with a seeded espeak-ng voice, speed,
loudness, crop jitter and colour jitter; one source per face; a seeded 6 faces are held out. The
three photos of :mod:`lipforge.testing.synth` (astronaut, Obama; Biden held out) are a second,
unseen check. ``--faces photos`` trains on those photos alone (the set of the first version).
``real``: the real talking fixtures prepared by ``benchmarks/sync_fallback.py`` (its cache), one
source per video; a seeded fifth of the videos validates. Both go through
:func:`lipforge.pipeline.av.sync_train.train_sync` (the function the CLI runs) with prepared clips.

Printed per held-out set: pair accuracy / AUC (in sync vs shifted >= 3 frames vs other source),
clip-level AUC own audio vs another source's (4 s windows), how often the own audio's offset is
found within +-1 frame of 0 and an applied delay of -5/-3/+3/+5 frames within +-1 frame. A few
minutes of video is not a corpus: the real figures say what this tiny set reaches, not what an
expert trained on a lab's corpus would. ``--norm none`` gives the first version's inputs.
Usage: python benchmarks/sync_expert_learn.py [synthetic|real] [--steps N] [--faces fixtures|photos]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

from lipforge.env import apply_offline_env

apply_offline_env()

import numpy as np  # noqa: E402

FIX = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"
SPF = 640
N_VAL_FACES = 6


def _clip(source: str, clip_id: str, crops: np.ndarray, speech: np.ndarray):
    from lipforge.pipeline.av.sync_expert import audio_features, lower_half
    from lipforge.pipeline.av.sync_train import Clip

    c = Clip(clip_id, source, lower_half(crops, 48), audio_features(speech, len(crops)), speech)
    c.crops = crops  # for the delay checks
    return c


def fixture_face_clips(tmp: Path, seconds: float = 8.0, per_face: int = 2):
    """Two talking clips per face taken from each real fixture video (faces written under tmp)."""
    from lipforge.testing.synth_speakers import faces_from_videos, talking_crops

    vids = sorted((FIX / "talking").glob("*.mp4")) + sorted(FIX.glob("talking_*.mp4"))
    out = []
    for fi, photo in enumerate(faces_from_videos(vids, tmp / "faces")):
        name = "".join(ch for ch in Path(photo).stem if ch.isalnum())
        for k in range(per_face):
            out.append(_clip(name, f"{name}-{k}", *talking_crops(photo, seconds, seed=100 * fi + k)))
    return out


def synthetic_clips(seconds: float = 8.0, seeds: int = 4, size: int = 96):
    """The first version's set: 4 clips per photo (astronaut, Obama, Biden), one source per clip."""
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
            out.append(_clip(f"{name}{k}", f"{name}{k}-0", crops, speech))
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


def check(net, clips, vshift: int = 15) -> dict:
    """4 s windows (2 s apart) of held-out clips: own vs another source's audio, offset recovery."""
    from lipforge.pipeline.av.sync_expert import expert_sync
    from lipforge.pipeline.av.sync_train import roc_auc

    own, other, hits = [], [], {d: [] for d in (0, -5, -3, 3, 5)}
    win = 100
    for k, c in enumerate(clips):
        o = next((clips[(k + j) % len(clips)] for j in range(1, len(clips))
                  if clips[(k + j) % len(clips)].source_id != c.source_id), clips[(k + 1) % len(clips)])
        full = np.pad(c.audio, (8 * SPF, 8 * SPF))
        for s in range(0, len(c.crops) - win + 1, 50):
            fr, a = c.crops[s:s + win], c.audio[s * SPF:(s + win) * SPF]
            own.append(expert_sync(net, fr, a, 16000, vshift).conf)
            other.append(expert_sync(net, fr, np.resize(o.audio[s * SPF:], len(a)), 16000, vshift).conf)
            for d in hits:
                sh = full[(s + 8 - d) * SPF:(s + 8 - d + win) * SPF]  # audio d frames late
                hits[d].append(abs(expert_sync(net, fr, sh, 16000, vshift).offset - d) <= 1)
    own_a, oth_a = np.nan_to_num(own, nan=-9), np.nan_to_num(other, nan=-9)
    r = {"windows": len(own), "clip_auc": roc_auc(np.concatenate([own_a, oth_a]),
                                                  np.r_[np.ones(len(own_a)), np.zeros(len(oth_a))]),
         **{f"within1_{d:+d}" if d else "within1_own": float(np.mean(v)) for d, v in hits.items()}}
    print(f"  {len(own)} held-out 4 s windows: own vs other-speech confidence AUC {r['clip_auc']:.3f}; "
          f"offset within +-1: own {r['within1_own']:.0%}; applied delay "
          + ", ".join(f"{d:+d}: {np.mean(v):.0%}" for d, v in hits.items() if d))
    return r


def main(argv=None) -> int:
    import torch

    from lipforge.pipeline.av.sync_expert import ExpertArch, load_expert
    from lipforge.pipeline.av.sync_train import TrainSyncConfig, train_sync

    p = argparse.ArgumentParser()
    p.add_argument("which", choices=["synthetic", "real"])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--faces", choices=["fixtures", "photos"], default="fixtures",
                   help="synthetic: faces of the real fixtures (default) or the three photos only")
    p.add_argument("--norm", choices=["window", "none"], default="window", help="the expert's input normalization")
    p.add_argument("--cache", default="/tmp/lipforge-syncbench")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init", default=None, help="start from this expert file (e.g. one --save wrote)")
    p.add_argument("--save", default=None, help="copy the trained expert.pt here")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    c0 = time.process_time()
    with tempfile.TemporaryDirectory() as d:
        extra = []
        if a.which == "synthetic":
            photos = synthetic_clips()
            extra = [c for c in photos if c.source_id.startswith("biden")]
            if a.faces == "photos":
                clips, val = photos, tuple(c.source_id for c in extra)
                extra = []
            else:
                clips = fixture_face_clips(Path(d))
                srcs = sorted({c.source_id for c in clips}, key=lambda s: zlib.crc32(s.encode()))
                val = tuple(srcs[:N_VAL_FACES])
        else:
            clips = real_clips(Path(a.cache))
            if not clips:
                print(f"no prepared real clips in {a.cache}: run benchmarks/sync_fallback.py first")
                return 0
            val = ()
        print(f"{len(clips)} clips, {sum(len(c.lower) for c in clips) / 25:.0f} s, prepared in "
              f"{time.process_time() - c0:.0f} s CPU")
        cfg = TrainSyncConfig(corpus=f"<{a.which}>", steps=a.steps, batch_size=32, lr=1e-3, val_sources=val, init=a.init,
                              arch=ExpertArch(size=48, width=16, dim=64, norm=a.norm))
        c1 = time.process_time()
        meta = train_sync(cfg, Path(d) / "e", log_every=max(1, a.steps // 6), ckpt_every=a.steps, clips=clips)
        net = load_expert(Path(d) / "e" / "expert.pt")
        if a.save:
            shutil.copyfile(Path(d) / "e" / "expert.pt", a.save)
    held = [c for c in clips if c.source_id in meta["val_sources"]]
    print(f"{a.which} ({a.faces if a.which == 'synthetic' else 'fixtures'}, norm {a.norm}, init {a.init}): {a.steps} steps, "
          f"{time.process_time() - c1:.0f} s CPU (training + validation, {a.threads} thread(s)); held-out sources "
          f"{meta['val_sources']}: pair accuracy {meta['val_acc']:.3f}, AUC {meta['val_auc']:.3f}")
    check(net, held)
    if extra:
        print("unseen photo (Biden, 4 x 8 s, lipforge.testing.synth):")
        check(net, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
