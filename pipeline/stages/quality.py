"""Image quality gate: HyperIQA with KeySync's nine-evaluation protocol, or a fallback measure.

With ``hyperiqa_weights`` set, the clip score is the mean of HyperIQA on the first, middle and
last face frame, three seeded random 224 px crops each; below ``hyperiqa_threshold`` (KeySync:
0.4) the clip is dropped as ``low_quality``. Without weights the no-download ``laplacian``
measure (variance of the Laplacian, see :mod:`lipforge.pipeline.av.iqa`) decides with
``laplacian_threshold``. ``iqa_measure`` names which one decided; all nine values are stored.
Runs on the face crop when the crop stage ran, else on the whole frame.

The fallback's default threshold (8.0) is set from a measurement on the real fixture
(benchmarks/sync_fallback.py, 66 windows of the 320 px face crop): the real clip scores 15.2 to
20.7 (the former default, 15, sat 1.3% under its worst window), a Gaussian blur of sigma 1 px
scores 6.7 to 8.6 and of sigma 2 px 3.5 to 4.1; at 8.0 no real window is dropped, 82% of the
sigma-1 and all sigma-2 copies are. One 10 s video is thin evidence: the verdict says it is the
stand-in's (``prov_quality_measure``) and can be re-tuned from ``iqa_score`` with refilter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipforge.pipeline.stages.inputs import check_model_loads, require_file
from lipforge.pipeline.stages.base import ClipItem, Stage, StageConfig

HYPERIQA_HINT = ("HyperIQA weights are pyiqa's release file HyperIQA_resnet50-koniq (github.com/chaofengc/"
                 "IQA-PyTorch releases); copy it under your models_dir, or unset hyperiqa_weights for the fallback")


class QualityStage(Stage):
    name = "quality"
    # Re-judging from stored scores (lipforge.pipeline.stages.rejudge): thresholds only decide verdicts,
    # the measures are what this stage writes (it never splits or trims a clip).
    THRESHOLDS = ("hyperiqa_threshold", "laplacian_threshold")
    MEASURES = ("iqa_measure", "iqa_score", "iqa_scores")

    @dataclass(frozen=True)
    class Config(StageConfig):
        hyperiqa_weights: str | None = None  # pyiqa HyperNet state dict ('params' key or plain)
        backbone_weights: str | None = None  # optional ResNet-50 state dict loaded first
        hyperiqa_threshold: float = 0.4  # KeySync
        laplacian_threshold: float = 8.0  # fallback measure, own scale; false-drop rate: benchmarks/sync_fallback.py
        seed: int = 0  # the random crops are seeded: a rerun gives the same scores
        device: str = "cpu"
        torch_threads: int = 1
        batch_size: int = 4

        def __post_init__(self) -> None:
            super().__post_init__()
            if not 0.0 <= self.hyperiqa_threshold <= 1.0:
                raise ValueError(f"QualityStage.Config.hyperiqa_threshold must be in [0, 1], got {self.hyperiqa_threshold}")
            if self.laplacian_threshold < 0:
                raise ValueError(f"QualityStage.Config.laplacian_threshold must be >= 0, got {self.laplacian_threshold}")
            if self.backbone_weights is not None and self.hyperiqa_weights is None:
                raise ValueError("QualityStage.Config.backbone_weights is set but hyperiqa_weights is not")

    def __init__(self, config: "QualityStage.Config | None" = None) -> None:
        super().__init__(config)
        c = self.config
        require_file(c.hyperiqa_weights, "HyperIQA", "quality.hyperiqa_weights", HYPERIQA_HINT)
        require_file(c.backbone_weights, "HyperIQA ResNet-50 backbone", "quality.backbone_weights", HYPERIQA_HINT)
        self.measure = "hyperiqa" if c.hyperiqa_weights else "laplacian"

    def check_models(self) -> None:
        if self.measure == "hyperiqa":
            from lipforge.pipeline.av.iqa import build_hyperiqa

            c = self.config
            check_model_loads(lambda: build_hyperiqa(c.hyperiqa_weights, c.backbone_weights, "cpu"), c.hyperiqa_weights,
                              "HyperIQA", "quality.hyperiqa_weights", HYPERIQA_HINT)

    def setup(self) -> None:
        self._net = None
        if self.measure == "hyperiqa":
            import torch

            from lipforge.pipeline.av.iqa import build_hyperiqa

            torch.set_num_threads(self.config.torch_threads)
            self._net = build_hyperiqa(self.config.hyperiqa_weights, self.config.backbone_weights, self.config.device)

    def process(self, items: list[ClipItem]) -> list[ClipItem]:
        from lipforge.pipeline.av.iqa import hyperiqa_scores, laplacian_variance, nine_crops

        c = self.config
        crops = [nine_crops(it.frames, seed=c.seed) for it in items]
        if not crops:
            return items
        allc = np.concatenate(crops)  # (9B, 224, 224, 3): one network call per batch
        scores = hyperiqa_scores(self._net, allc, c.device) if self._net is not None else laplacian_variance(allc)
        for i, it in enumerate(items):
            s = scores[9 * i: 9 * i + 9]
            it.measurements.update(iqa_measure=self.measure, iqa_score=float(s.mean()),
                                   iqa_scores=[float(v) for v in s])
            reason = self.rule(float(s.mean()))
            if reason:
                it.drop(reason, by=self.name)
        return items

    def rule(self, iqa_score: float) -> str | None:
        """The verdict rule, shared by :meth:`process` and :meth:`judge`."""
        c = self.config
        thr = c.hyperiqa_threshold if self.measure == "hyperiqa" else c.laplacian_threshold
        return "low_quality" if iqa_score < thr else None

    def judge(self, measurements: dict):
        """This config's verdict on a stored row (``UNKNOWN`` when it was measured otherwise)."""
        from lipforge.pipeline.stages.rejudge import UNKNOWN

        score = measurements.get("iqa_score")
        if score is None or measurements.get("iqa_measure") != self.measure:
            return UNKNOWN
        return self.rule(float(score))
