"""How often would the Laplacian quality fallback throw away a good real clip? Print the figures.

The Laplacian quality stand-in may drop a clip only by a rule whose false-drop rate on real clips
was measured. This script measures it on the path a curation run takes: the real fixture is
segmented and its face prepared by the default ``faces``, ``landmarks`` and ``crop`` stages (one
pass), then clip windows of 2, 3, 4 and 6 s (stride 0.4 s) are cut from it, and the quality stage
runs on each window as it is (``own``) and blurred with a Gaussian of sigma 1 / 2 px. (The sync
half of this measurement moved to benchmarks/sync_fallback.py, over all the real talking fixtures.)

Windows overlap, so they are not independent samples of the world: the figures describe one
10 s real video, and the docs say so. Usage: python benchmarks/quality_fallback.py
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
    from lipforge.pipeline.source import Segmenter, probe_source
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

    from lipforge.pipeline.stages.quality import QualityStage

    video = FIX / "real" / "talking_en_1080x1920_25fps.mp4"
    if not video.is_file():
        print(f"real fixture missing: {video}")
        return
    t0 = time.time()
    clips = prepared_clip(video)
    item = max(clips, key=lambda it: it.n_frames)
    n = len(item.frames)
    own = np.pad(item.audio, (0, max(0, n * 640 - len(item.audio))))[: n * 640]
    print(f"real fixture: {len(clips)} kept clip(s) after faces/landmarks/crop, the longest {n} frames, "
          f"crop {item.frames.shape[1]} px; prepared in {time.time() - t0:.0f} s")
    qual = QualityStage(QualityStage.Config(laplacian_threshold=0.0))
    blurs = {"blur_sigma1": np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in item.frames]),
             "blur_sigma2": np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in item.frames])}
    rows = []
    for w in WINDOWS_S:
        for s in range(0, n - w * 25 + 1, STRIDE):
            for name, fr in (("own", None), *blurs.items()):
                (it,) = qual([window(item, s, s + w * 25, own, fr)])
                rows.append(("iqa", name, w, 0, it.measurements["iqa_score"]))
    print(f"{sum(r[1] == 'own' for r in rows)} windows ({', '.join(f'{w} s' for w in WINDOWS_S)}; "
          f"stride {STRIDE} frames), measured in {time.time() - t0:.0f} s\n")
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
