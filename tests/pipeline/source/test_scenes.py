"""The scene detector: our ContentDetector path scores every frame exactly as PySceneDetect's own."""
from __future__ import annotations

import numpy as np
import pytest


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


@pytest.mark.parametrize("threshold", [27.0, 1.0])
def test_content_cuts_score_and_cut_like_the_stock_detector(threshold):
    import cv2
    from scenedetect.common import FrameTimecode
    from scenedetect.detector import FlashFilter
    from scenedetect.detectors import ContentDetector

    from lipforge.pipeline.source.scenes import CONTENT_WEIGHTS, ContentCuts, SceneCuts

    assert CONTENT_WEIGHTS == tuple(ContentDetector.DEFAULT_COMPONENT_WEIGHTS)
    stock = ContentDetector(threshold=threshold, min_scene_len=15, filter_mode=FlashFilter.Mode.SUPPRESS)
    ours = ContentCuts(threshold, 15)
    cuts_stock, cuts_ours, scores = [], [], []
    for i, rgb in enumerate(_frames(), start=3):  # a range source's frames start past 0
        cuts_stock += [int(c.frame_num) for c in stock.process_frame(FrameTimecode(i, 25.0),
                                                                     cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))]
        cuts_ours += [i] if ours.feed(i, rgb) else []
        assert ours.score == stock._frame_score, i  # bit for bit
        scores.append(ours.score)
    assert cuts_ours == cuts_stock
    if threshold == 27.0:
        assert cuts_ours == [23, 48] and max(scores) > 27.0
        # the segmenter's entry point finds the same cuts
        sc = SceneCuts("content")
        assert [i for i, f in enumerate(_frames()) if sc.feed(i, f)] == [20, 45]
    else:  # every frame above it: the flash filter suppresses cuts closer than 15 frames
        assert cuts_ours == [18, 38, 53, 68] and all(b - a >= 15 for a, b in zip(cuts_ours, cuts_ours[1:]))
