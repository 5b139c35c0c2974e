"""What makes a batch job "done": its output, made with this checkpoint and these settings.

Every finished job leaves a record ``<work>/done/<job_id>.json`` (written after its output) with
the checkpoint's content hash and the settings that shape the output (steps, guidance, segments,
crop, seed, fps, dtype). A rerun skips a job only when its output exists *and* its record
matches; an output made otherwise is redone with ``overwrite``, else the rerun is refused with a
one-line message, so ``results.parquet`` and the outputs never describe runs that were not made.

>>> settings_hash({"steps": 15})                                     # doctest: +SKIP
'5c1c...'
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

# BatchConfig fields that change what a job writes (resources, runners and paths do not)
OUTPUT_SETTINGS = ("num_inference_steps", "guidance_scale", "audio_guidance_scale", "identity_guidance_scale",
                   "segment_length", "overlap", "crop_size", "seed", "fps", "dtype")


def checkpoint_hash(directory: str | Path) -> str:
    """sha256 over the relative paths and bytes of every file in a model export (sorted)."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"checkpoint {directory}: not a directory (expected a LipSyncModel export)")
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(root)).encode() + b"\0")
        with open(p, "rb") as f:
            while b := f.read(1 << 20):
                h.update(b)
    return h.hexdigest()


def output_settings(cfg) -> dict:
    return {k: getattr(cfg, k) for k in OUTPUT_SETTINGS if hasattr(cfg, k)}


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def record_path(work_dir: str | Path, job_id: str) -> Path:
    return Path(work_dir) / "done" / f"{job_id}.json"


def write_record(work_dir: str | Path, job: dict, ckpt: str, settings: dict) -> None:
    p = record_path(work_dir, job["job_id"])
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"output": job["output"], "checkpoint_hash": ckpt, "settings": settings,
                               "settings_hash": settings_hash(settings)}, sort_keys=True))
    os.replace(tmp, p)


def job_state(work_dir: str | Path, job: dict, ckpt: str, settings: dict) -> str:
    """``pending`` (no output), ``done`` (output made with these settings) or ``stale`` (made otherwise)."""
    if not Path(job["output"]).is_file():
        return "pending"
    p = record_path(work_dir, job["job_id"])
    try:
        rec = json.loads(p.read_text())
    except (OSError, ValueError):
        return "stale"
    same = rec.get("checkpoint_hash") == ckpt and rec.get("settings_hash") == settings_hash(settings)
    return "done" if same else "stale"
