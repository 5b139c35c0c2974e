"""The scene detector: our ContentDetector path scores every frame exactly as PySceneDetect's own."""
from __future__ import annotations

import numpy as np


def _frames() -> list[np.ndarray]:
    """Two smooth 'shots' that pan slowly, a hard cut at frame 20, a white frame at 45 (a cut too)."""
    y, x = np.mgrid[0:72, 0:256]
    a = np.stack([x % 256, (y * 3) % 256, 255 - x % 256], -1).astype(np.uint8)  # (72, 256, 3)
    b = np.stack([(y * 2) % 256, 200 - x // 2, np.full_like(x, 90)], -1).astype(np.uint8)
    out = []
    for i in range(70):
        base = a if i < 20 else b
        f = np.ascontiguousarray(np.roll(base, i, axis=1)[:, :128])
        if i == 45:
            f = np.full_like(f, 250)
        out.append(f)
    return out


def test_rgb_content_detector_scores_and_cuts_like_the_stock_one():
    import cv2
    from scenedetect.common import FrameTimecode
    from scenedetect.detector import FlashFilter
    from scenedetect.detectors import ContentDetector

    from lipforge.pipeline.source.scenes import SceneCuts, _rgb_content_detector

    kw = dict(threshold=27.0, min_scene_len=15, filter_mode=FlashFilter.Mode.SUPPRESS)
    stock, ours = ContentDetector(**kw), _rgb_content_detector(ContentDetector)(**kw)
    cuts_stock, cuts_ours, scores = [], [], []
    for i, rgb in enumerate(_frames()):
        tc = FrameTimecode(i, 25.0)
        cuts_stock += [int(c.frame_num) for c in stock.process_frame(tc, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))]
        cuts_ours += [int(c.frame_num) for c in ours.process_frame(tc, rgb)]
        assert ours._frame_score == stock._frame_score, i  # bit for bit
        scores.append(ours._frame_score)
    assert cuts_ours == cuts_stock == [20, 45]
    assert max(scores) > 27.0
    # the segmenter's entry point finds the same cut
    sc = SceneCuts("content")
    assert [i for i, f in enumerate(_frames()) if sc.feed(i, f)] == [20, 45]
