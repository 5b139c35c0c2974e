"""Hours in and kept per dataset and per stage, from the manifests' rows (summary.json "datasets").

Computed from sources.parquet and clips.parquet rows, not from stage counters, so it always
agrees with the published manifests. A source's hours in are its ``span_s`` (the range it
covers, or the whole file). The clip rows of a candidate tile it (a stage that splits a
candidate keeps every piece as a row), so the hours *into* a stage are the durations of the
rows no earlier stage dropped, and the hours *out* are those minus the rows it dropped:
"how much of HDTF survived the sync filter" is ``datasets.hdtf.stages[sync].hours_out``.
Inputs without a dataset are grouped under ``NO_DATASET``.
"""
from __future__ import annotations

from collections import Counter

NO_DATASET = "(none)"


def _hours(secs: float) -> float:
    return round(secs / 3600.0, 6)


def stage_order(clip_rows: list[dict], stage_names: list[str]) -> list[str]:
    """The stages that ran, in run order, then any other stage that dropped a clip (the writer)."""
    from lipforge.pipeline.stages.registry import STAGES

    order = ["segment", *STAGES]
    names = list(dict.fromkeys([*stage_names, *(c["dropped_by"] for c in clip_rows if c["dropped_by"])]))
    return sorted(names, key=lambda n: order.index(n) if n in order else len(order))


def dataset_accounting(src_rows: list[dict], clip_rows: list[dict], stage_names: list[str]) -> dict:
    from lipforge.manifests.schema import STATUS_KEPT
    from lipforge.pipeline.report.corpus_stats import candidate_seconds

    ds_of = {r["source_id"]: r.get("dataset") or NO_DATASET for r in src_rows}
    stages = stage_order(clip_rows, stage_names)
    out: dict[str, dict] = {}
    for ds in sorted(set(ds_of.values())):
        srcs = [r for r in src_rows if ds_of[r["source_id"]] == ds]
        clips = [c for c in clip_rows if ds_of.get(c["source_id"]) == ds]
        kept = [c for c in clips if c["status"] == STATUS_KEPT]
        span = lambda r: r.get("span_s") if r.get("span_s") is not None else (r.get("duration_s") or 0.0)  # noqa: E731
        entry = {
            "sources": len(srcs), "sources_ok": sum(r["status"] == "ok" for r in srcs),
            "sources_dropped": dict(Counter(r["reason"] for r in srcs if r["status"] != "ok")),
            "hours_in": _hours(sum(span(r) for r in srcs)),
            "hours_candidates": _hours(candidate_seconds(clips)),
            "clips_kept": len(kept), "hours_kept": _hours(sum(c["duration_s"] for c in kept)),
            "stages": [],
        }
        alive = clips
        for st in stages:
            gone = [c for c in alive if c["status"] != STATUS_KEPT and c["dropped_by"] == st]
            secs_in = sum(c["duration_s"] for c in alive)
            entry["stages"].append({"stage": st, "hours_in": _hours(secs_in),
                                    "hours_out": _hours(secs_in - sum(c["duration_s"] for c in gone)),
                                    "dropped": dict(Counter(c["reason"] for c in gone))})
            ids = {id(c) for c in gone}
            alive = [c for c in alive if id(c) not in ids]
        out[ds] = entry
    return out
