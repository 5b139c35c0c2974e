"""Speech presence: silero-vad speech ratio per clip; clips under the threshold are dropped.

Runs before the face stages (it needs only the audio), so silence, music-only and noise clips
never cost a face detection. Drop reason ``no_speech``; ``speech_ratio`` is always recorded.

>>> stage = SpeechStage(SpeechStage.Config(min_speech_ratio=0.3))   # doctest: +SKIP
>>> items = stage(items)   # items without enough speech come back dropped as no_speech
"""
from __future__ import annotations

from dataclasses import dataclass

from lipforge.pipeline.stages.base import ClipItem, Stage, StageConfig


class SpeechStage(Stage):
    name = "speech"
    # Re-judging (lipforge.pipeline.stages.rejudge): a change of these config fields is applied to the
    # stored speech_ratio by judge(), without decoding; any other field is a new measurement.
    THRESHOLDS = ("min_speech_ratio",)
    MEASURES = ("speech_ratio",)

    @dataclass(frozen=True)
    class Config(StageConfig):
        min_speech_ratio: float = 0.3  # share of the clip silero-vad must mark as speech
        vad_threshold: float = 0.5  # silero's per-window speech probability threshold
        min_speech_ms: int = 250  # shorter speech bursts are ignored (clicks, coughs)
        torch_threads: int = 1
        batch_size: int = 8

        def __post_init__(self) -> None:
            super().__post_init__()
            if not 0.0 <= self.min_speech_ratio <= 1.0:
                raise ValueError(f"SpeechStage.Config.min_speech_ratio must be in [0, 1], got {self.min_speech_ratio}")
            if not 0.0 < self.vad_threshold < 1.0:
                raise ValueError(f"SpeechStage.Config.vad_threshold must be in (0, 1), got {self.vad_threshold}")
            if self.min_speech_ms < 0:
                raise ValueError(f"SpeechStage.Config.min_speech_ms must be >= 0, got {self.min_speech_ms}")

    def setup(self) -> None:
        import torch

        from lipforge.pipeline.av.vad import load_vad

        torch.set_num_threads(self.config.torch_threads)
        self._vad = load_vad()

    def process(self, items: list[ClipItem]) -> list[ClipItem]:
        from lipforge.pipeline.av.vad import speech_ratio

        c = self.config
        for it in items:
            if it.audio is None or len(it.audio) == 0:
                it.measurements["speech_ratio"] = 0.0
                it.drop("no_speech", by=self.name)
                continue
            r = speech_ratio(self._vad, it.audio, it.sample_rate, c.vad_threshold, c.min_speech_ms)
            it.measurements["speech_ratio"] = r
            reason = self.rule(r)
            if reason:
                it.drop(reason, by=self.name)
        return items

    def rule(self, speech_ratio: float) -> str | None:
        """The verdict rule itself, shared by :meth:`process` and :meth:`judge`."""
        return "no_speech" if speech_ratio < self.config.min_speech_ratio else None

    def judge(self, measurements: dict):
        """The verdict of this config's thresholds on stored measurements: a reason code, None
        (passes), or ``UNKNOWN`` when the measurements cannot tell (then the clip is recomputed)."""
        from lipforge.pipeline.stages.rejudge import UNKNOWN

        r = measurements.get("speech_ratio")
        if r is None or (r == 0.0 and self.config.min_speech_ratio == 0.0):  # 0.0 is also "no audio"
            return UNKNOWN
        return self.rule(r)
