"""Audio-visual sync: offset (frames, searched over +-vshift) and confidence per clip.

Backends: ``syncnet`` (SyncNet v2 from a local syncnet_python checkpoint, LSE-C / LSE-D; the one
to use for real curation) and ``offline`` (no weights: mouth-patch vs speech-band canonical
correlation, see :mod:`lipforge.pipeline.av.offline_sync`, a weight-free stand-in).

With ``syncnet``: a clip whose confidence is under ``min_conf`` (default 3.0) is dropped as
``av_unsynced``; a confident clip whose |offset| exceeds ``max_offset`` is dropped as
``av_offset_too_large`` (LatentSync's rule: too far to trust a shift); otherwise its audio is
shifted so the offset becomes 0 (zero padded, same length) and ``audio_shift_s`` records the
shift (positive: audio moved earlier). Offset sign: positive = audio lags video.

With ``offline`` the offset and confidence are recorded and never used: no clip is dropped and no
audio is shifted (``audio_shift_s`` = 0). Measured on the real fixture (benchmarks/sync_fallback.py,
66 own-speech windows of 2-6 s vs the same windows with another voice or the own voice moved by
2.5 / 5 s): only 53% of own-speech offsets were within +-3 frames (range -8..+15), the old
``|offset| > 6`` rule dropped 30% of the good windows, and every confidence threshold that caught
replaced speech dropped own speech at almost the same rate (``conf < 0.1``: 11% of own speech,
15% of replaced). No weight-free rule here has a false-drop rate worth throwing data away for,
so ``min_conf`` is refused with this backend (re-tune later from the stored ``sync_conf``
with ``lipforge refilter`` if you must).
"""
from __future__ import annotations

from dataclasses import dataclass

from lipforge.pipeline.stages.inputs import audio_for_frames, check_model_loads, face_frames_and_landmarks, require_file
from lipforge.pipeline.stages.base import ClipItem, Stage, StageConfig

SYNCNET_HINT = ("SyncNet v2 weights are syncnet_v2.model from joonson/syncnet_python (download_model.sh); "
                "copy it under your models_dir")
DEFAULT_MIN_CONF = {"syncnet": 3.0}  # LatentSync keeps SyncNet conf >= 3; offline never drops


class SyncStage(Stage):
    name = "sync"
    # Re-judging (lipforge.pipeline.stages.rejudge): min_conf and max_offset only decide verdicts on the
    # stored sync_conf / sync_offset (the shift of a kept clip is its offset, whatever max_offset
    # is); backend, weights and vshift change what is measured. audio_shift_s is written only
    # when a clip passes, so a clip a tightened threshold drops loses it, as in a fresh run. A
    # clip that now passes needs its audio shifted: recomputed.
    THRESHOLDS = ("min_conf", "max_offset")
    MEASURES = ("sync_backend", "sync_offset", "sync_conf", "sync_min_dist", "audio_shift_s")
    PASS_ONLY = ("audio_shift_s",)

    @dataclass(frozen=True)
    class Config(StageConfig):
        backend: str = "offline"  # offline | syncnet
        syncnet_weights: str | None = None  # required by the syncnet backend
        min_conf: float | None = None  # syncnet only (None: 3.0); the offline measure never drops
        max_offset: int = 6  # syncnet: frames; larger offsets are dropped, smaller ones shifted to 0
        vshift: int = 15  # offsets searched over [-vshift, vshift]
        device: str = "cpu"
        num_gpus: float = 0.0  # SyncNet is small: a fraction of a GPU
        torch_threads: int = 1
        batch_size: int = 4

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.backend not in ("offline", "syncnet"):
                raise ValueError(f"SyncStage.Config.backend must be 'offline' or 'syncnet', got {self.backend!r}")
            if self.backend == "syncnet" and self.syncnet_weights is None:
                raise ValueError("SyncStage.Config.syncnet_weights must be set for backend 'syncnet' "
                                 f"({SYNCNET_HINT})")
            if self.vshift < 1:
                raise ValueError(f"SyncStage.Config.vshift must be >= 1, got {self.vshift}")
            if self.backend == "offline" and self.min_conf is not None:
                raise ValueError(f"SyncStage.Config.min_conf={self.min_conf}: the offline (weight-free) sync measure "
                                 "never drops a clip (no rule on it has a measured false-drop rate worth it, see "
                                 "pipeline/stages/sync.py); use backend 'syncnet' with weights to gate on sync")
            if not 0 <= self.max_offset <= self.vshift:
                raise ValueError(f"SyncStage.Config.max_offset must be in [0, vshift], got {self.max_offset}")

        @property
        def conf_threshold(self) -> float | None:
            """The confidence a clip needs; None when the backend only records (offline)."""
            if self.backend == "offline":
                return None
            return DEFAULT_MIN_CONF[self.backend] if self.min_conf is None else self.min_conf

        @property
        def gates(self) -> bool:
            """Whether this backend's offset / confidence may drop or shift a clip."""
            return self.backend == "syncnet"

    def __init__(self, config: "SyncStage.Config | None" = None) -> None:
        super().__init__(config)
        if self.config.backend == "syncnet":
            require_file(self.config.syncnet_weights, "SyncNet v2", "sync.syncnet_weights", SYNCNET_HINT)

    def check_models(self) -> None:
        if self.config.backend == "syncnet":
            from lipforge.pipeline.av.syncnet import load_syncnet

            check_model_loads(lambda: load_syncnet(self.config.syncnet_weights, "cpu"), self.config.syncnet_weights,
                              "SyncNet v2", "sync.syncnet_weights", SYNCNET_HINT)

    def setup(self) -> None:
        import torch

        torch.set_num_threads(self.config.torch_threads)
        self._net = None
        if self.config.backend == "syncnet":
            from lipforge.pipeline.av.syncnet import load_syncnet

            self._net = load_syncnet(self.config.syncnet_weights, self.config.device)

    def measure(self, item: ClipItem):
        """SyncResult of one clip with the configured backend."""
        from lipforge.pipeline.av.face_input import reference_crops
        from lipforge.pipeline.av.lse import offset_confidence
        from lipforge.pipeline.av.offline_sync import offline_sync

        frames, lm = face_frames_and_landmarks(item)
        audio = audio_for_frames(item, len(frames))
        spf = int(round(item.sample_rate / item.fps))
        if self._net is None:
            return offline_sync(frames, audio, lm, self.config.vshift, spf)
        from lipforge.pipeline.av.mfcc import mfcc
        from lipforge.pipeline.av.syncnet import syncnet_embeddings

        crops = reference_crops(frames, lm, 224)  # (T, 224, 224, 3)
        v, a = syncnet_embeddings(self._net, crops, mfcc(audio, item.sample_rate), device=self.config.device)
        return offset_confidence(v, a, self.config.vshift)

    def process(self, items: list[ClipItem]) -> list[ClipItem]:
        from lipforge.pipeline.av.lse import shift_audio

        c = self.config
        for it in items:
            r = self.measure(it)
            it.measurements.update(sync_backend=c.backend, sync_offset=int(r.offset), sync_conf=float(r.conf),
                                   sync_min_dist=float(r.min_dist))
            reason = self.rule(float(r.conf), int(r.offset))
            if not c.gates:  # a weight-free stand-in: recorded, never used to drop or shift
                it.measurements["audio_shift_s"] = 0.0
            elif reason:
                it.drop(reason, by=self.name)
            else:
                spf = int(round(it.sample_rate / it.fps))
                if r.offset != 0:
                    it.audio = shift_audio(it.audio, r.offset, spf)
                it.measurements["audio_shift_s"] = r.offset * spf / it.sample_rate
        return items

    def rule(self, sync_conf: float, sync_offset: int) -> str | None:
        """The verdict rule, shared by :meth:`process` and :meth:`judge` (None: passes)."""
        c = self.config
        if not c.gates:
            return None
        if not sync_conf >= c.conf_threshold:
            return "av_unsynced"
        if abs(sync_offset) > c.max_offset:
            return "av_offset_too_large"
        return None

    def judge(self, measurements: dict):
        """This config's verdict on a stored row (``UNKNOWN`` when it was measured otherwise)."""
        from lipforge.pipeline.stages.rejudge import UNKNOWN

        conf, offset = measurements.get("sync_conf"), measurements.get("sync_offset")
        if measurements.get("sync_backend") != self.config.backend or conf is None or offset is None:
            return UNKNOWN
        return self.rule(float(conf), int(offset))
