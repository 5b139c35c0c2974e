"""Tiny curated corpora for tests: a few synthetic talking heads run through the real stages.

``curate_local`` runs the product's own path in-process (``LocalRunner`` then ``finalize``), so a
test of the manifests, the report or refilter sees what ``lipforge curate --runner local`` writes.

>>> inputs = talking_inputs(tmp_path / "in")                               # doctest: +SKIP
>>> summary = curate_local(inputs, tmp_path / "out", {"stages": {...}})    # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def speech_with_gap(seconds: float, gap: tuple[float, float], sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Continuous speech with silence from ``gap[0]`` to ``gap[1]`` seconds (float32 mono)."""
    from lipforge.testing.synth import speech_wav

    a = speech_wav(seconds, sample_rate, seed).copy()
    a[int(gap[0] * sample_rate):int(gap[1] * sample_rate)] = 0.0
    return a


def talking_inputs(d: str | Path, size: int = 128, face_px: int = 90, with_silent: bool = True,
                   with_broken: bool = True) -> Path:
    """A directory of inputs giving several verdicts: ``talk`` (8 s, speech with a 2 s gap at 4-6 s),
    ``silent`` (3 s, no speech), ``broken`` (random bytes: decode_error)."""
    from lipforge.testing.synth import make_talking_head

    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    make_talking_head(d / "talk.mp4", seconds=8.0, size=(size, size), face_px=face_px,
                      audio=speech_with_gap(8.0, (4.0, 6.0)))
    if with_silent:
        make_talking_head(d / "silent.mp4", seconds=3.0, size=(size, size), face_px=face_px,
                          audio=np.zeros(3 * 16000, np.float32), seed=1)
    if with_broken:
        (d / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(2048))
    return d


def all_stages_off() -> dict[str, dict]:
    from lipforge.pipeline.stages.registry import stage_classes

    return {n: {"enabled": False} for n in stage_classes()}


def run_config(stages: dict[str, dict] | None = None, **top: Any):
    """A RunConfig for tiny inputs: 2-3 s clips, small shards; ``stages`` merged over all-off."""
    from lipforge.pipeline.stages.config import RunConfig

    st = all_stages_off()
    for name, v in (stages or {}).items():
        st[name] = {"enabled": True, **v}
    d = {"segment": {"max_clip_s": 3.0, "min_clip_s": 2.0}, "shards": {"max_samples": 4},
         "stages": st, **top}
    return RunConfig.from_dict(d)


def curate_local(inputs: str | Path, output: str | Path, cfg) -> dict:
    """``lipforge curate --runner local`` in-process; returns the summary."""
    from lipforge.pipeline.run.curate import list_inputs
    from lipforge.pipeline.run.finalize import finalize
    from lipforge.pipeline.run.runners.local import LocalRunner

    sources = list_inputs(str(inputs))
    LocalRunner(cfg, progress=False).run(sources, str(output))
    return finalize(sources, str(output), cfg)
