"""How often would the weight-free measures throw away a good real clip? Print the figures.

The weight-free sync measure (``sync.backend: offline``) and the Laplacian quality fallback may
drop a clip only by a rule whose false-drop rate on real own-speech clips was measured. This
script measures them on the path a curation run takes: the real fixture is segmented and its
face prepared by the default ``faces``, ``landmarks`` and ``crop`` stages (one pass), then clip
windows of 2, 3, 4 and 6 s (stride 0.4 s) are cut from it, and the sync and quality stages run
on each window with

* ``own``: the video's own audio (a good clip: should be kept);
* ``other_voice``: another speaker (driving_speech_16k.wav) at the same position;
* ``own_moved``: the same voice from 2.5 s / 5 s away (circularly), i.e. wrong words;
* ``blur_sigma1`` / ``blur_sigma2`` (quality only): the crop blurred with a Gaussian of sigma 1 / 2 px.

Windows overlap, so they are not independent samples of the world: the figures describe one
10 s real video, and the docs say so. Usage: python benchmarks/sync_fallback.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from lipforge.env import apply_offline_env

apply_offline_env()

import numpy as np  # noqa: E402

FIX = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
WINDOWS_S = (2, 3, 4, 6)
STRIDE = 10  # frames


def prepared_clip(video: Path):
    """The fixture as one candidate clip after the default face stages (crop frames, crop landmarks)."""
    from lipforge.manifests.schema import SourceRecord
    from lipforge.pipeline.stages.config import SegmentConfig
    from lipforge.pipeline.stages.segment import Segmenter
    from lipforge.pipeline.source import probe_source
    from lipforge.pipeline.stages.crop import CropStage
    from lipforge.pipeline.stages.faces import FaceDetectStage
    from lipforge.pipeline.stages.landmarks import LandmarksStage

    rec = probe_source(str(video), "real")
    assert isinstance(rec, SourceRecord)
    seg = Segmenter(SegmentConfig(max_clip_s=10.0, min_clip_s=2.0))
    items = list(seg.run(str(video), rec))
    for st in (FaceDetectStage(), LandmarksStage(), CropStage()):
        items = st(items)
    return [it for it in items if it.kept]


def window(item, s: int, e: int, audio: np.ndarray, frames: np.ndarray | None = None):
    from lipforge.pipeline.stages.base import ClipItem

    spf = 640
    it = ClipItem(clip_id=f"w{s}", source_id="real", parent_id=f"w{s}", start_frame=s, end_frame=e,
                  frames=np.array((frames if frames is not None else item.frames)[s:e]),
                  audio=np.array(audio[s * spf:e * spf], np.float32), frames_are_crop=True)
    it.arrays["landmarks_crop.npy"] = np.array(item.arrays["landmarks_crop.npy"][s:e])
    return it


def main() -> None:
    import cv2

    from lipforge.pipeline.media import decode_wav
    from lipforge.pipeline.stages.quality import QualityStage
    from lipforge.pipeline.stages.sync import SyncStage

    video = FIX / "real" / "talking_en_1080x1920_25fps.mp4"
    if not video.is_file():
        print(f"real fixture missing: {video}")
        return
    t0 = time.time()
    clips = prepared_clip(video)
    item = max(clips, key=lambda it: it.n_frames)
    n = len(item.frames)
    spf = 640
    own = np.pad(item.audio, (0, max(0, n * spf - len(item.audio))))[: n * spf]
    other = decode_wav(FIX / "real" / "driving_speech_16k.wav")[0]
    other = np.resize(other, n * spf).astype(np.float32)  # repeats to cover the clip
    print(f"real fixture: {len(clips)} kept clip(s) after faces/landmarks/crop, the longest {n} frames, "
          f"crop {item.frames.shape[1]} px; prepared in {time.time() - t0:.0f} s")
    variants = {"own": own, "other_voice": other,
                "own_moved_2.5s": np.roll(own, int(2.5 * 16000)), "own_moved_5s": np.roll(own, 5 * 16000)}
    sync = SyncStage(SyncStage.Config(backend="offline"))  # records, never drops
    qual = QualityStage(QualityStage.Config(laplacian_threshold=0.0))
    blurs = {"blur_sigma1": np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in item.frames]),
             "blur_sigma2": np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in item.frames])}
    rows = []
    for w in WINDOWS_S:
        for s in range(0, n - w * 25 + 1, STRIDE):
            e = s + w * 25
            for name, audio in variants.items():
                (it,) = sync([window(item, s, e, audio)])
                rows.append(("sync", name, w, it.measurements["sync_offset"], it.measurements["sync_conf"]))
            for name, fr in (("own", None), *blurs.items()):
                (it,) = qual([window(item, s, e, own, fr)])
                rows.append(("iqa", name, w, 0, it.measurements["iqa_score"]))
    print(f"{sum(r[0] == 'sync' and r[1] == 'own' for r in rows)} own-speech windows "
          f"({', '.join(f'{w} s' for w in WINDOWS_S)}; stride {STRIDE} frames), measured in {time.time() - t0:.0f} s\n")

    print("offline sync per audio variant: offset (frames) and confidence")
    print(f"{'audio':16s} {'n':>4s} {'|off|<=1':>8s} {'|off|<=3':>8s} {'off min..max':>13s} "
          f"{'conf p5':>8s} {'p50':>6s} {'p95':>6s}")
    for name in variants:
        off = np.array([r[3] for r in rows if r[0] == "sync" and r[1] == name])
        conf = np.array([r[4] for r in rows if r[0] == "sync" and r[1] == name])
        print(f"{name:16s} {len(off):4d} {np.mean(np.abs(off) <= 1):8.2f} {np.mean(np.abs(off) <= 3):8.2f} "
              f"{off.min():6d}..{off.max():<6d} {np.percentile(conf, 5):8.3f} {np.median(conf):6.3f} "
              f"{np.percentile(conf, 95):6.3f}")
    own_conf = np.array([r[4] for r in rows if r[0] == "sync" and r[1] == "own"])
    own_off = np.array([r[3] for r in rows if r[0] == "sync" and r[1] == "own"])
    bad_conf = np.array([r[4] for r in rows if r[0] == "sync" and r[1] != "own"])
    bad_off = np.array([r[3] for r in rows if r[0] == "sync" and r[1] != "own"])
    print("\nrule 'drop when sync_conf < c' (offline): false drops of own speech vs replaced speech caught")
    for c in (0.0, 0.02, 0.05, 0.1, 0.15, 0.2):
        print(f"  c={c:<5} own dropped {np.mean(own_conf < c):6.1%}   replaced caught {np.mean(bad_conf < c):6.1%}")
    print("rule 'drop when |sync_offset| > k' (offline, the old av_offset_too_large):")
    for k in (3, 6, 10):
        print(f"  k={k:<3} own dropped {np.mean(np.abs(own_off) > k):6.1%}   "
              f"replaced caught {np.mean(np.abs(bad_off) > k):6.1%}")

    own_q = np.array([r[4] for r in rows if r[0] == "iqa" and r[1] == "own"])
    print(f"\nlaplacian quality on the {item.frames.shape[1]} px crop: own min {own_q.min():.1f} "
          f"median {np.median(own_q):.1f} max {own_q.max():.1f}")
    for name in blurs:
        q = np.array([r[4] for r in rows if r[0] == "iqa" and r[1] == name])
        print(f"  {name}: min {q.min():.1f} median {np.median(q):.1f} max {q.max():.1f}")
    for thr in (4.0, 6.0, 8.0, 10.0, 15.0):
        caught = "   ".join(f"{name} caught {np.mean(np.array([r[4] for r in rows if r[0] == 'iqa' and r[1] == name]) < thr):6.1%}"
                           for name in blurs)
        print(f"  laplacian_threshold={thr:<5} own dropped {np.mean(own_q < thr):6.1%}   {caught}")


if __name__ == "__main__":
    sys.exit(main())
