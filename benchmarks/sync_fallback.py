"""What is the weight-free sync measure worth on real talking videos? Print the table, old vs new.

Runs on ``../shared/fixtures/real/talking/`` (INDEX.tsv: HDTF, VoxCeleb2, MEAD and other clips,
one speaker each; 25 fps ones only, the first ``--max-s`` seconds of each). Faces are found and
cropped with curation's own face functions (:func:`lipforge.pipeline.av.simple_crop.load_face_clip`:
dlib HOG every 10 frames, 68 landmarks per frame, 160 px crop); the prepared crops are cached
under ``--cache``. Windows of 2, 4 and 6 s (``--stride-s`` apart) are scored with

* ``own``: the video's own audio (should be found in sync, offset 0);
* ``delay+3/+5/+8``: the own audio 3 / 5 / 8 frames late (the offset should follow);
* ``moved``: the own voice from 2.5 s / 5 s away (the same voice, other words);
* ``replaced``: another fixture's speech (another person: the dub a run should catch),

by the measure the sync stage runs without weights (``lowerlip``,
:mod:`lipforge.pipeline.av.offline_sync`) and by the stand-in it replaced (``old``: mouth-patch
PCA vs six band energies, canonical correlation over the central frames; kept here, verbatim
in effect, only to compare). Windows of one video overlap in time with each other's variants, so
the figures describe these ~27 videos, not a population. Usage:
python benchmarks/sync_fallback.py [--max-s 20] [--stride-s 2]
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from lipforge.env import apply_offline_env

apply_offline_env()

import numpy as np  # noqa: E402

FIX = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real" / "talking"
WINDOWS_S = (2, 4, 6)
SPF, SR, FPS = 640, 16000, 25
SAME_SPEAKER = {"PCAVS_741400163", "PCAVS_00104"}  # INDEX.tsv: the same person


# ---- the stand-in this replaced (kept only for the comparison) ---------------------------------
def _hp(x):
    from scipy.ndimage import uniform_filter1d

    return x - uniform_filter1d(x, size=9, axis=0, mode="nearest")


def _old_video(frames: np.ndarray, lm: np.ndarray):
    import cv2

    hp = _hp
    m = np.asarray(lm, np.float32)[:, 48:68]
    lo, hi = np.median(m.min(1), 0), np.median(m.max(1), 0)
    w = (hi - lo)[0]
    x0, y0, x1, y1 = lo[0] - .35 * w, lo[1] - .35 * w, hi[0] + .35 * w, hi[1] + .35 * w
    mtx = np.array([[32 / max(x1 - x0, 1), 0, -x0 * 32 / max(x1 - x0, 1)],
                    [0, 16 / max(y1 - y0, 1), -y0 * 16 / max(y1 - y0, 1)]], np.float32)
    pt = np.stack([cv2.warpAffine(cv2.cvtColor(fr, cv2.COLOR_RGB2GRAY), mtx, (32, 16), flags=cv2.INTER_AREA,
                                  borderMode=cv2.BORDER_REPLICATE).reshape(-1) for fr in frames]).astype(np.float32)
    x = hp(pt)
    x -= x.mean(0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    lmf = np.asarray(lm, np.float32)
    op = np.linalg.norm(lmf[:, 62] - lmf[:, 66], axis=1) / (np.linalg.norm(lmf[:, 60] - lmf[:, 64], axis=1) + 1e-3)
    return np.concatenate([u[:, :3] * s[:3], hp(op[:, None])], 1).astype(np.float64)


def _old_score(v: np.ndarray, audio: np.ndarray, vshift: int = 15):
    t = len(v)
    bands = ((80, 300), (300, 700), (700, 1200), (1200, 2000), (2000, 3500), (3500, 7000))
    a = np.zeros(t * SPF, np.float32)
    a[:min(len(audio), len(a))] = audio[:len(a)]
    p = np.abs(np.fft.rfft(a.reshape(t, SPF) * np.hanning(SPF)[None], axis=1)) ** 2
    f = np.fft.rfftfreq(SPF, 1.0 / SR)
    ae = _hp(np.log(np.stack([p[:, (f >= lo) & (f < hi)].sum(1) for lo, hi in bands], 1) + 1e-6))

    def cca(x, y, r=0.1):
        x = (x - x.mean(0)) / (x.std(0) + 1e-8)
        y = (y - y.mean(0)) / (y.std(0) + 1e-8)
        n = len(x)
        mm = np.linalg.solve(x.T @ x / n + r * np.eye(x.shape[1]), x.T @ y / n) @ \
            np.linalg.solve(y.T @ y / n + r * np.eye(y.shape[1]), y.T @ x / n)
        return float(np.sqrt(max(np.max(np.real(np.linalg.eigvals(mm))), 0.0)))

    lo_, hi_ = vshift, t - vshift
    if hi_ - lo_ < 10:
        return 0, 0.0
    d = np.array([1 - cca(v[lo_:hi_], ae[lo_ + k:hi_ + k]) for k in range(-vshift, vshift + 1)])
    j = int(np.argmin(d))
    return j - vshift, float(np.median(d) - d[j])


def _new_video(frames, lm):
    from lipforge.pipeline.av.offline_sync import visual_signals

    return visual_signals(frames, lm)


def _new_score(v, audio):
    from lipforge.pipeline.av.offline_sync import score_audio

    r = score_audio(v[0], v[1], audio, 15, SPF, SR)  # what offline_sync runs, video part computed once
    return r.offset, r.conf


MEASURES = {"old": (_old_video, _old_score), "lowerlip": (_new_video, _new_score)}


# ---- data -------------------------------------------------------------------------------------
def videos(max_s: float, cache: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    from lipforge.pipeline.av.simple_crop import load_face_clip
    from lipforge.pipeline.media import decode_audio

    out = {}
    cache.mkdir(parents=True, exist_ok=True)
    with open(FIX / "INDEX.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        if float(r["fps"]) != FPS:
            print(f"  skip {r['file']}: {r['fps']} fps")
            continue
        name = Path(r["file"]).stem
        c = cache / f"{name}-{int(max_s)}.npz"
        if not c.is_file():
            crops, lm = load_face_clip(FIX / r["file"], size=160, max_frames=int(max_s * FPS))
            audio = decode_audio(FIX / r["file"], SR)
            np.savez(c, crops=crops, lm=lm.astype(np.float32), audio=audio)
        z = np.load(c)
        out[name] = (z["crops"], z["lm"], z["audio"])
    return out


def auc(neg_scores: np.ndarray, pos_scores: np.ndarray) -> float:
    """P(own scores higher than the bad one): ROC AUC with own as the positive class."""
    neg, pos = np.asarray(neg_scores)[:, None], np.asarray(pos_scores)[None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-s", type=float, default=20.0, help="seconds read from each video")
    p.add_argument("--stride-s", type=float, default=2.0, help="window start spacing")
    p.add_argument("--cache", default="/tmp/lipforge-syncbench")
    a = p.parse_args(argv)
    if not (FIX / "INDEX.tsv").is_file():
        print(f"real fixtures missing: {FIX}")
        return 0
    t0 = time.time()
    vids = videos(a.max_s, Path(a.cache))
    names = sorted(vids)
    print(f"{len(vids)} videos, {sum(len(v[0]) for v in vids.values()) / FPS:.0f} s, prepared in "
          f"{time.time() - t0:.0f} s")
    rows, cost = [], {m: [0.0, 0.0] for m in MEASURES}
    for vi, name in enumerate(names):
        crops, lm, audio = vids[name]
        n = len(crops)
        full = np.pad(audio, (SPF * 8, max(0, n * SPF - len(audio)) + SPF * 8))  # 8 frames each side
        others = [o for o in names if o != name and not {o, name} <= SAME_SPEAKER]
        for w in WINDOWS_S:
            for s in range(0, n - w * FPS + 1, int(a.stride_s * FPS)):
                e = s + w * FPS
                own = full[(s + 8) * SPF:(e + 8) * SPF]
                o = vids[others[(vi + s) % len(others)]][2]
                k = (s * SPF) % max(len(o) - w * FPS * SPF, 1)
                rep = np.resize(o[k:], w * FPS * SPF)  # repeats when the other video is shorter
                variants = {"own": own, "replaced": rep}
                for d in (3, 5, 8):
                    variants[f"delay+{d}"] = full[(s + 8 - d) * SPF:(e + 8 - d) * SPF]
                for mv in (2.5, 5.0):
                    variants[f"moved{mv}"] = np.roll(audio[:n * SPF], -int(mv * SR))[s * SPF:e * SPF]
                for m, (prep, score) in MEASURES.items():
                    c0 = time.process_time()
                    v = prep(crops[s:e], lm[s:e])
                    for var, au in variants.items():
                        c1 = time.process_time()
                        off, conf = score(v, au)
                        if var == "own":  # cost of one full measure: the video part and one track
                            cost[m][0] += time.process_time() - c1 + c1 - c0
                            cost[m][1] += w
                        rows.append((m, name, w, var, off, conf))
    print(f"{sum(r[0] == 'old' and r[3] == 'own' for r in rows)} own windows, measured in {time.time() - t0:.0f} s\n")
    report(rows, cost)
    return 0


def _sel(rows, m, w, var):
    r = [x for x in rows if x[0] == m and x[2] == w and x[3] == var]
    return np.array([x[4] for x in r]), np.array([x[5] for x in r], np.float64), [x[1] for x in r]


def report(rows, cost) -> None:
    print("| measure | window | own within +-1 / +-2 frames | delay +3/+5/+8: median offset | "
          "replaced vs own AUC | moved vs own AUC | own within +-1 of the video's median | CPU ms / video-s |")
    print("|---|---|---|---|---|---|---|---|")
    for m in MEASURES:
        for w in WINDOWS_S:
            off, conf, vids = _sel(rows, m, w, "own")
            _, rep, _ = _sel(rows, m, w, "replaced")
            mv = np.concatenate([_sel(rows, m, w, f"moved{x}")[1] for x in (2.5, 5.0)])
            dl = "/".join(f"{np.median(_sel(rows, m, w, f'delay+{d}')[0]):+.0f}" for d in (3, 5, 8))
            med = {v: np.median(off[[i for i, x in enumerate(vids) if x == v]]) for v in set(vids)}
            rep_ = np.nan_to_num(rep, nan=-1.0)
            own_ = np.nan_to_num(conf, nan=-1.0)
            print(f"| {m} | {w} s ({len(off)}) | {np.mean(np.abs(off) <= 1):.0%} / {np.mean(np.abs(off) <= 2):.0%} | "
                  f"{dl} | {auc(rep_, own_):.2f} | {auc(np.nan_to_num(mv, nan=-1.0), own_):.2f} | "
                  f"{np.mean([abs(o - med[v]) <= 1 for o, v in zip(off, vids)]):.0%} | "
                  f"{1000 * cost[m][0] / max(cost[m][1], 1e-9):.1f} |")
    print("\ngate 'drop when sync_conf < c': own dropped / replaced caught / moved caught")
    for m in MEASURES:
        for w in WINDOWS_S:
            _, own, _ = _sel(rows, m, w, "own")
            _, rep, _ = _sel(rows, m, w, "replaced")
            mv = np.concatenate([_sel(rows, m, w, f"moved{x}")[1] for x in (2.5, 5.0)])
            cs = np.quantile(own[np.isfinite(own)], [0.0, 0.02, 0.05, 0.10, 0.20])
            pts = "; ".join(f"c={c:.3f}: {np.mean(own < c):.0%}/{np.mean(rep < c):.0%}/{np.mean(mv < c):.0%}"
                            for c in cs)
            print(f"  {m:8s} {w} s: {pts}")
    print("\nfixed thresholds (lowerlip), own dropped / replaced caught:")
    for w in WINDOWS_S:
        _, own, _ = _sel(rows, "lowerlip", w, "own")
        _, rep, _ = _sel(rows, "lowerlip", w, "replaced")
        print(f"  {w} s: " + "; ".join(f"c={c}: {np.mean(own < c):.0%}/{np.mean(rep < c):.0%}"
                                     for c in (0.10, 0.15, 0.20, 0.25, 0.30)))


if __name__ == "__main__":
    sys.exit(main())
