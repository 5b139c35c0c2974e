"""Active speaker check with Light-ASD: is the face on screen the one speaking?

Per-frame scores from the Light-ASD network (grayscale 112 px face input, 13 MFCCs at 100/s),
clip score = mean; below ``threshold`` the clip is dropped as ``not_speaking``. The threshold is
on the RAW logit scale by default (``scale="raw"``): the reference demo calls a frame speaking
above 0, KeySync's 0.75 is applied here to the clip mean of that logit. Calibration on the real
fixture (TalkSet weights): own speech +4.4, another voice +4.9, silence +3.6 (the model reads
the mouth; see benchmarks/av_checks.py), while the softmax probability saturates at 0.99+ for all
of them, so a 0.75 probability threshold would gate nothing. Without configured ``weights`` the
stage records nothing and keeps every clip.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from lipforge.pipeline.stages.inputs import audio_for_frames, check_model_loads, face_frames_and_landmarks, require_file
from lipforge.pipeline.stages.base import ClipItem, Stage, StageConfig

log = logging.getLogger(__name__)
LIGHT_ASD_HINT = ("Light-ASD weights come from github.com/Junhua-Liao/Light-ASD (weight/finetuning_TalkSet.model "
                  "or pretrain_AVA_CVPR.model); copy one under your models_dir")


class ActiveSpeakerStage(Stage):
    name = "asd"
    # Re-judging (lipforge.pipeline.stages.rejudge): ``threshold`` only decides the verdict on the stored
    # asd_score; weights, scale and window_s change what is measured.
    THRESHOLDS = ("threshold",)
    MEASURES = ("asd_score", "asd_scale")

    @dataclass(frozen=True)
    class Config(StageConfig):
        weights: str | None = None  # Light-ASD state dict (.model); None skips the check
        threshold: float = 0.75  # on `scale`
        scale: str = "raw"  # raw | prob
        window_s: tuple[int, ...] = (1, 2, 4, 6)  # reference evaluation window durations, seconds
        device: str = "cpu"
        num_gpus: float = 0.0  # a small model: 0.1 of a GPU is plenty
        torch_threads: int = 1
        batch_size: int = 4

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.scale not in ("raw", "prob"):
                raise ValueError(f"ActiveSpeakerStage.Config.scale must be 'raw' or 'prob', got {self.scale!r}")
            if self.scale == "prob" and not 0.0 <= self.threshold <= 1.0:
                raise ValueError(f"ActiveSpeakerStage.Config.threshold on the prob scale must be in [0, 1], got {self.threshold}")
            if not self.window_s or any(w < 1 for w in self.window_s):
                raise ValueError(f"ActiveSpeakerStage.Config.window_s must be positive seconds, got {self.window_s}")

    def __init__(self, config: "ActiveSpeakerStage.Config | None" = None) -> None:
        super().__init__(config)
        require_file(self.config.weights, "Light-ASD", "asd.weights", LIGHT_ASD_HINT)
        if self.config.weights is None and self.config.enabled:
            log.warning("asd: no Light-ASD weights configured; the active speaker check is skipped")

    @property
    def has_work(self) -> bool:  # without weights every clip is kept and nothing is recorded
        return self.config.weights is not None

    def check_models(self) -> None:
        if self.config.weights is None:  # skipped: nothing to load (and no torch import in the driver)
            return
        from lipforge.pipeline.av.light_asd import load_light_asd

        check_model_loads(lambda: load_light_asd(self.config.weights, "cpu"), self.config.weights, "Light-ASD",
                          "asd.weights", LIGHT_ASD_HINT)

    def setup(self) -> None:
        self._net = None
        if self.config.weights is not None:
            import torch

            from lipforge.pipeline.av.light_asd import load_light_asd

            torch.set_num_threads(self.config.torch_threads)
            self._net = load_light_asd(self.config.weights, self.config.device)

    def process(self, items: list[ClipItem]) -> list[ClipItem]:
        if self._net is None:
            return items
        from lipforge.pipeline.av.face_input import reference_crops, to_gray
        from lipforge.pipeline.av.light_asd import asd_face_input, asd_scores
        from lipforge.pipeline.av.mfcc import mfcc

        c = self.config
        for it in items:
            frames, lm = face_frames_and_landmarks(it)
            t = len(frames)
            faces = asd_face_input(to_gray(reference_crops(frames, lm, 224)))  # (T, 112, 112)
            feats = mfcc(audio_for_frames(it, t), it.sample_rate)  # (4T - 1, 13)
            feats = np.concatenate([feats, feats[-1:]])  # 4T rows: the last frame keeps its 4 MFCCs
            s = asd_scores(self._net, faces, feats, c.window_s, c.scale, c.device)
            s = np.pad(s, (0, t - len(s)), mode="edge") if 0 < len(s) < t else s
            it.arrays["asd_scores.npy"] = s.astype(np.float32)
            score = float(s.mean()) if len(s) else float("nan")
            it.measurements.update(asd_score=score, asd_scale=c.scale)
            reason = self.rule(score)
            if reason:
                it.drop(reason, by=self.name)
        return items

    def rule(self, asd_score: float) -> str | None:
        """The verdict rule, shared by :meth:`process` and :meth:`judge` (a NaN score fails)."""
        return "not_speaking" if not asd_score >= self.config.threshold else None

    def judge(self, measurements: dict):
        """This config's verdict on a stored row (``UNKNOWN`` when it was measured otherwise)."""
        from lipforge.pipeline.stages.rejudge import UNKNOWN

        if self.config.weights is None:
            return None  # the check does not run: every clip passes
        score = measurements.get("asd_score")
        if score is None or measurements.get("asd_scale") != self.config.scale:
            return UNKNOWN
        return self.rule(float(score))
