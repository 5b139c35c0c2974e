"""Which measure decided each stage's verdict: stamped on every clip row and listed per run.

A stage's provenance says whether the intended expert model ran (``ran``), a weight-free
stand-in decided (``fallback``), or the check could not run at all (``skipped``); which
backend or measure it was; the weights file it loaded (name and sha256 prefix); and the rule it
applied with its thresholds. The stage base class stamps the ``prov_<stage>_*`` columns
(:data:`lipforge.manifests.schema.PROVENANCE_STAGES`) on every clip the stage judged, and
:func:`lipforge.pipeline.report.provenance.run_provenance` writes the per-stage list into ``summary.json``, so neither a clip row nor a
report can show a stand-in's verdict without saying so.

>>> describe(SyncStage()).status                          # doctest: +SKIP
'fallback'
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from lipforge.manifests.schema import PROVENANCE_STAGES

RAN, FALLBACK, SKIPPED = "ran", "fallback", "skipped"
STAND_IN = "weight-free stand-in"
_HASHES: dict[tuple[str, int, int], str] = {}


def weights_id(path: str | os.PathLike | None) -> str | None:
    """``"<file name>@sha256:<12 hex>"`` of a weights file (hashed once per file version)."""
    if path is None or str(path) == "":
        return None
    p = os.fspath(path)
    st = os.stat(p)
    key = (os.path.abspath(p), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()[:12]
    return f"{os.path.basename(p)}@sha256:{_HASHES[key]}"


@dataclass(frozen=True)
class StageProvenance:
    stage: str
    status: str  # ran | fallback | skipped
    measure: str  # backend or measure that decided ("" when skipped)
    rule: str  # the rule applied, as a reader would check it
    weights: str | None = None  # "name@sha256:prefix" of every weights file, "; "-joined
    thresholds: dict[str, Any] = field(default_factory=dict)
    why: str | None = None  # for fallback / skipped: what is missing

    def columns(self) -> dict[str, Any]:
        """The clip-row columns of this stage (only for stages in PROVENANCE_STAGES)."""
        if self.stage not in PROVENANCE_STAGES:
            return {}
        measure = self.measure if self.status != FALLBACK else f"{self.measure} ({STAND_IN})"
        return {f"prov_{self.stage}_measure": measure if self.status != SKIPPED else "skipped",
                f"prov_{self.stage}_weights": self.weights, f"prov_{self.stage}_rule": self.rule}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _join(*ids: str | None) -> str | None:
    got = [i for i in ids if i]
    return "; ".join(got) if got else None


def _packaged(module: str, rel: str) -> str | None:
    """A model file that ships inside a pip package (no download), if it is there."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    p = os.path.join(list(spec.submodule_search_locations)[0], rel)
    return p if os.path.isfile(p) else None


def _speech(st) -> StageProvenance:
    c = st.config
    return StageProvenance("speech", RAN, "silero_vad", f"speech_ratio >= {c.min_speech_ratio}",
                           weights_id(_packaged("silero_vad", "data/silero_vad.jit")),
                           {"min_speech_ratio": c.min_speech_ratio, "vad_threshold": c.vad_threshold,
                            "min_speech_ms": c.min_speech_ms})


def _faces(st) -> StageProvenance:
    c = st.config
    w = weights_id(getattr(st, "_weights", None) or c.weights) if c.backend == "ultralytics" else None
    if c.backend == "blazeface":  # both pinned model files (the short-range one is the fallback)
        from lipforge.pipeline.faces.blazeface_files import SHA256

        w = ";".join(weights_id(os.path.join(st._weights, name)) for name in SHA256)
    measure = {"dlib": "dlib_hog", "blazeface": "blazeface+dlib68"}.get(c.backend, c.backend)
    return StageProvenance("faces", RAN, measure,
                           f"face_max_px > {c.min_face_px}, piece >= {c.min_clip_s} s (gaps <= {c.max_gap} "
                           f"frames filled, box jump > {c.jump_threshold} splits)", w,
                           {"min_face_px": c.min_face_px, "min_clip_s": c.min_clip_s, "max_gap": c.max_gap,
                            "jump_threshold": c.jump_threshold, "detect_max_side": c.detect_max_side,
                            "dlib_refine": c.dlib_refine})


def _landmarks(st) -> StageProvenance:
    c = st.config
    if c.backend == "dlib":
        w = weights_id(_packaged("face_recognition_models", "models/shape_predictor_68_face_landmarks.dat"))
    else:
        w = weights_id(getattr(st, "_weights", None) or c.fan_weights)
    return StageProvenance("landmarks", RAN, c.backend, "no verdict (68 landmarks for crop, masks and AV checks)", w)


def _crop(st) -> StageProvenance:
    c = st.config
    return StageProvenance("crop", RAN, "square_face_crop", "no verdict", None,
                           {"crop_size": c.crop_size, "margin": c.margin})


def _quality(st) -> StageProvenance:
    c = st.config
    if st.measure == "hyperiqa":
        return StageProvenance("quality", RAN, "hyperiqa", f"iqa_score >= {c.hyperiqa_threshold}",
                               _join(weights_id(c.hyperiqa_weights), weights_id(c.backbone_weights)),
                               {"iqa_score": c.hyperiqa_threshold})
    return StageProvenance("quality", FALLBACK, "laplacian", f"iqa_score >= {c.laplacian_threshold} (Laplacian variance)",
                           None, {"iqa_score": c.laplacian_threshold},
                           why="no HyperIQA weights (quality.hyperiqa_weights): the Laplacian sharpness "
                               "stand-in decided (its false-drop rate: README, 'Refilter and report')")


def _asd(st) -> StageProvenance:
    c = st.config
    if c.weights is None:
        return StageProvenance("asd", SKIPPED, "", "not checked: every clip passes", None, {},
                               why="no Light-ASD weights configured (asd.weights): the active-speaker check "
                                   "did not run")
    return StageProvenance("asd", RAN, "light_asd", f"asd_score >= {c.threshold} ({c.scale})",
                           weights_id(c.weights), {"asd_score": c.threshold, "scale": c.scale})


def _sync(st) -> StageProvenance:
    c = st.config
    if c.backend == "offline":
        from lipforge.pipeline.av.offline_sync import gate_rates

        why = ("no sync weights (sync.backend: offline): the weight-free lower-lip measure; offsets are "
               "recorded, never corrected")
        if not c.offline_gate:
            return StageProvenance("sync", FALLBACK, st.measure_name, "recorded only: never drops, never shifts audio",
                                   None, {}, why=why)
        return StageProvenance("sync", FALLBACK, st.measure_name,
                               f"sync_conf >= {c.offline_gate_conf:g} on clips >= {c.offline_gate_min_s:g} s (shorter: "
                               f"recorded only); never shifts audio; {gate_rates()}", None,
                               {"sync_conf": c.offline_gate_conf, "min_clip_s": c.offline_gate_min_s}, why=why)
    rule = f"sync_conf >= {st.conf_threshold}, |sync_offset| <= {c.max_offset} (then shifted to 0)"
    if c.backend == "expert":
        m = st.expert_meta
        measure = (f"expert (trained on {m['corpus']} where {m['where'] or 'all kept clips'}, {m['steps']} steps; "
                   f"held-out acc {m['val_acc']:.3f}, AUC {m['val_auc']:.3f})")
        return StageProvenance("sync", RAN, measure, rule, weights_id(c.expert_weights),
                               {"sync_conf": st.conf_threshold, "sync_offset": c.max_offset})
    return StageProvenance("sync", RAN, c.backend, rule, weights_id(c.syncnet_weights),
                           {"sync_conf": st.conf_threshold, "sync_offset": c.max_offset})


DESCRIBERS = {"speech": _speech, "faces": _faces, "landmarks": _landmarks, "crop": _crop,
              "quality": _quality, "asd": _asd, "sync": _sync}


def describe(stage) -> StageProvenance:
    """Provenance of a constructed stage (a stage lipforge does not know reports its name only)."""
    fn = DESCRIBERS.get(stage.name)
    if fn is None:
        return StageProvenance(stage.name, RAN, type(stage).__name__, "")
    return fn(stage)


def stamp(prov: StageProvenance, items) -> None:
    """Write the stage's provenance columns, and the contact-sheet face boxes, on judged items."""
    cols = prov.columns()
    for it in items:
        it.measurements.update(cols)
        boxes = it.arrays.get("face_boxes.npy")
        if boxes is not None and len(boxes):
            it.measurements["sheet_face_boxes"] = sheet_boxes(boxes)


SHEET_FRAMES = 4


def sheet_positions(n_frames: int, k: int = SHEET_FRAMES) -> list[int]:
    """Frame indices (within a clip) the report's contact sheet shows: centres of k equal parts."""
    return [min(n_frames - 1, int((2 * i + 1) * n_frames / (2 * k))) for i in range(k)]


def sheet_boxes(boxes) -> list[float]:
    import numpy as np

    b = np.asarray(boxes, np.float32)
    return [float(v) for v in b[sheet_positions(len(b))].reshape(-1)]
