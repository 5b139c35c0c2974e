"""What produced a stored result, so a rerun under another config redoes exactly what changed.

Every stored candidate was produced by the run config's *global* part (probe, segmentation,
shard video encoding: a change there changes the candidates themselves) and by the enabled
stages it went through, in order, each with a fingerprint of its class, ``VERSION``,
measurement parameters, thresholds and model files (size + edge digest, see
:mod:`lipforge.pipeline.source.identity`). Resource fields (CPUs, GPUs, batch size, concurrency,
threads) never change a result and are left out.

A candidate dropped by the k-th stage depends only on the first k stages: a fresh run under a
new config takes the same path exactly when those k fingerprints are unchanged. So after a
config change a rerun keeps the candidates whose path is unchanged and recomputes only the
others (:func:`candidate_is_current`); the published corpus then equals a fresh run's.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

RESOURCE_FIELDS = frozenset({"num_cpus", "num_gpus", "batch_size", "concurrency", "torch_threads", "enabled"})
WRITER = "writer"  # dropped_by of a clip whose shard sample could not be encoded (after every stage)


def _jsonable(v: Any) -> Any:
    if dataclasses.is_dataclass(v):
        return {f.name: _jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in sorted(v.items())}
    return v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)


def _digest(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _file_identity(path: str) -> str | None:
    from lipforge.pipeline.source.identity import content_id

    cid = content_id(path) if os.path.isfile(path) else None
    return f"{cid.size}:{cid.digest[:16]}" if cid else None


def stage_thresholds(stage) -> dict:
    """The config fields a stage declares as thresholds (``THRESHOLDS``: applied to stored
    measurements by its ``judge``, see :mod:`lipforge.pipeline.stages.rejudge`) and their values."""
    return {k: _jsonable(getattr(stage.config, k)) for k in getattr(type(stage), "THRESHOLDS", ())}


def stage_fingerprint(stage) -> str:
    """Fingerprint of what one constructed stage measures (model paths already resolved): its
    class, version, model files and every config field but resources and thresholds."""
    cls = type(stage)
    params, files = {}, {}
    skip = RESOURCE_FIELDS | set(getattr(cls, "THRESHOLDS", ()))
    for f in dataclasses.fields(stage.config):
        if f.name in skip:
            continue
        v = getattr(stage.config, f.name)
        params[f.name] = _jsonable(v)
        if isinstance(v, str) and v and (f.name.endswith("_path") or f.name.endswith("weights")):
            files[f.name] = _file_identity(v)
    return _digest({"stage": stage.name, "class": f"{cls.__module__}.{cls.__qualname__}",
                    "version": getattr(cls, "VERSION", 1), "params": params, "files": files})


def global_fingerprint(cfg) -> str:
    """Probe, segmentation and the shard sample encoding: what every candidate depends on."""
    # part_s is judged per source (plan.parts_changed): it changes only sources long enough to split
    seg = {k: v for k, v in dataclasses.asdict(cfg.segment).items() if k not in RESOURCE_FIELDS | {"part_s"}}
    probe = {k: v for k, v in dataclasses.asdict(cfg.probe).items() if k not in RESOURCE_FIELDS}
    return _digest({"probe": probe, "segment": seg, "video_crf": cfg.shards.video_crf,
                    "video_keyint": cfg.shards.video_keyint})


def run_fingerprints(cfg, stages) -> dict:
    """The recorded form: ``{"global": g, "stages": [[name, fp, thresholds], ...]}`` in run order."""
    return {"global": global_fingerprint(cfg), "part_s": cfg.segment.part_length_s,
            "stages": [[s.name, stage_fingerprint(s), stage_thresholds(s)] for s in stages]}


def _entries(fps: dict) -> list[tuple]:
    return [(x[0], x[1], json.dumps(x[2] if len(x) > 2 else None, sort_keys=True)) for x in fps.get("stages", [])]


def reach(rows: list[dict], stage_names: list[str]) -> int | None:
    """How many stages of the recorded list decided a candidate: all of them when one of its
    clips was kept (or dropped by the writer, after every stage), else up to the last stage
    that dropped one of its clips (0: dropped by the segmenter). None when a row names a stage
    the list does not hold (recompute to be safe)."""
    n = 0
    for r in rows:
        if r["status"] == "kept" or r["dropped_by"] == WRITER:
            return len(stage_names)
        by = r["dropped_by"]
        if by in stage_names:
            n = max(n, stage_names.index(by) + 1)
        elif by not in (None, "segment"):
            return None
    return n


def candidate_is_current(rows: list[dict], recorded: dict, current: dict) -> bool:
    """True when a fresh run under ``current`` would produce this candidate exactly as it was
    produced under ``recorded`` (both from :func:`run_fingerprints`): the stages that decided
    it are unchanged, and, when a clip of it passed every stage, no stage was added after."""
    if recorded.get("global") != current["global"]:
        return False
    old, new = _entries(recorded), _entries(current)
    passed = any(r["status"] == "kept" or r["dropped_by"] == WRITER for r in rows)
    if passed:
        return old == new
    k = reach(rows, [e[0] for e in old])
    return k is not None and old[:k] == new[:k]
