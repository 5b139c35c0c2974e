"""What makes a batch job "done": its output, made from these inputs with this checkpoint and these settings.

Every finished job leaves a record ``<work>/done/<job_id>.json`` (written after its output) with
the content identity of its video and audio as they were read (size, mtime and a hash of the
file's edges: :mod:`lipforge.pipeline.source.identity`, the one curation's store uses), the checkpoint's
content hash and the settings that shape the output (steps, guidance, segments, crop, seed, fps,
dtype, audio mix, face gap, sampler). A rerun skips a job only when its output exists *and* its record
matches. A changed input (a re-take saved under the same name) is redone without asking: the old
output is simply out of date. An output made with another checkpoint or settings is redone with
``overwrite``, else the rerun is refused with a one-line message, so ``results.parquet`` and the
outputs never describe runs that were not made. ``results.parquet`` is rewritten after every
finished job (:class:`ResultsTable`), tracebacks included, so a killed batch leaves its account.

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
                   "segment_length", "overlap", "crop_size", "seed", "fps", "dtype", "audio_mix", "max_face_gap", "sampler")
INPUTS = ("video", "audio")


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


def input_ids(job: dict) -> str:
    """JSON of the content identity of the job's video and audio now (what its prepare stage reads)."""
    from lipforge.pipeline.source.identity import content_id

    ids = {k: content_id(job[k]) for k in INPUTS}
    return json.dumps({k: v.to_dict() if v is not None else None for k, v in ids.items()}, sort_keys=True)


def write_record(work_dir: str | Path, job: dict, ckpt: str, settings: dict) -> None:
    """The done record; ``job["input_ids"]`` (set when the job was prepared) names the inputs read."""
    p = record_path(work_dir, job["job_id"])
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + f".{os.getpid()}.tmp")
    inputs = json.loads(job.get("input_ids") or "null")
    tmp.write_text(json.dumps({"output": job["output"], "checkpoint_hash": ckpt, "settings": settings,
                               "settings_hash": settings_hash(settings), "inputs": inputs}, sort_keys=True))
    os.replace(tmp, p)


def _inputs_unchanged(job: dict, recorded: dict | None) -> bool:
    from lipforge.pipeline.source.identity import ContentId, content_id, same_content

    if not recorded:
        return False  # a record without identities (an older run): the inputs cannot be vouched for
    for k in INPUTS:
        known = ContentId.from_dict(recorded.get(k))
        if known is None or not same_content(known, content_id(job[k], known)):
            return False
    return True


def job_state(work_dir: str | Path, job: dict, ckpt: str, settings: dict) -> str:
    """``pending`` (no output), ``done`` (output made from these inputs with these settings),
    ``changed`` (an input's content differs from the one the output was made from: redone) or
    ``stale`` (made with another checkpoint or settings)."""
    if not Path(job["output"]).is_file():
        return "pending"
    p = record_path(work_dir, job["job_id"])
    try:
        rec = json.loads(p.read_text())
    except (OSError, ValueError):
        return "stale"
    same = rec.get("checkpoint_hash") == ckpt and rec.get("settings_hash") == settings_hash(settings)
    if not same:
        return "stale"
    return "done" if _inputs_unchanged(job, rec.get("inputs")) else "changed"


RESULT_COLUMNS = ("job_id", "video", "audio", "output", "status", "error", "traceback", "seconds_prepare",
                  "seconds_generate", "seconds_finish", "device", "checkpoint_hash", "settings_hash", "settings",
                  "input_ids")


class ResultsTable:
    """``results.parquet``, rewritten (temporary file + rename) each time a job's row arrives, so a
    batch killed half-way leaves the rows of every job it finished, errors with their tracebacks.

    >>> t = ResultsTable("work/results.parquet", {"checkpoint_hash": "ab", "settings_hash": "cd", "settings": "{}"})  # doctest: +SKIP
    >>> t.add({"job_id": "1", "status": "done", ...})                                     # doctest: +SKIP
    """

    def __init__(self, path: str | Path, common: dict) -> None:
        self.path, self.common = Path(path), dict(common)
        self.rows: list[dict] = []

    def add(self, row: dict, write: bool = True) -> None:
        self.rows.append({**row, **self.common})
        if write:
            self.write()

    def write(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({c: [r.get(c, 0.0 if c.startswith("seconds") else "") for r in self.rows]
                          for c in RESULT_COLUMNS})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".partial")
        pq.write_table(table, tmp)
        os.replace(tmp, self.path)
