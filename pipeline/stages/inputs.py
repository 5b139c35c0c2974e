"""What the quality / ASD / sync stages read from a clip: the face frames and crop landmarks.

After the crop stage (``frames_are_crop``) the frames are the square face crop and
``landmarks_crop.npy`` holds the 68 landmarks in crop pixels. With the face stages disabled the
whole working frame is taken as the face (the reference crop geometry then falls back to the
full frame), which only makes sense for already face-centred footage.
"""
from __future__ import annotations

import numpy as np

from lipforge.pipeline.stages.base import ClipItem


def face_frames_and_landmarks(item: ClipItem) -> tuple[np.ndarray, np.ndarray | None]:
    lm = item.arrays.get("landmarks_crop.npy") if item.frames_are_crop else None
    if lm is not None:
        lm = np.asarray(lm, np.float32)
        if len(lm) != len(item.frames) or not np.isfinite(lm).all():
            lm = None
    return item.frames, lm


def audio_for_frames(item: ClipItem, n_frames: int) -> np.ndarray:
    """The clip audio padded / cut to exactly n_frames * samples-per-frame."""
    spf = int(round(item.sample_rate / item.fps))
    a = np.zeros(n_frames * spf, np.float32)
    if item.audio is not None:
        m = min(len(item.audio), len(a))
        a[:m] = item.audio[:m]
    return a


def check_model_loads(load, path: str | None, what: str, field: str, where: str) -> None:
    """Run ``load()`` (it loads the model file at ``path``); any failure becomes a ValueError of
    one line naming the field and the file (see ``Stage.check_models``)."""
    if path is None:
        return
    try:
        load()
    except Exception as e:  # noqa: BLE001 - whatever a wrong file makes torch or the net raise
        why = (str(e).strip().splitlines() or [""])[0][:160]
        raise ValueError(f"{field} ({what}): {path} does not load as {what} weights ({type(e).__name__}: {why}); "
                         f"{where}") from None


def require_file(path: str | None, what: str, field: str, where: str) -> None:
    """Fail at construction when a configured model file is missing, naming where to get it."""
    from lipforge.pipeline.models import require_model_file

    if path is not None:
        require_model_file(path, None, f"{field} ({what})", where)
