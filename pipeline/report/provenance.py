"""The run's provenance block in ``summary.json``: version, date, input, config hash, and per stage
its status, measure, weights, rule, thresholds and counts; plus the lines that flag a skipped
stage or a stand-in's verdict to the CLI and the report. Each stage's own record is
:mod:`lipforge.pipeline.stages.provenance`.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

from lipforge.pipeline.source.inputs import is_url
from lipforge.pipeline.stages.provenance import FALLBACK, RAN, SKIPPED, STAND_IN, StageProvenance
from lipforge.pipeline.stages.build import build_stages
from lipforge.pipeline.stages.registry import stage_classes


def config_sha256(cfg) -> str:
    import json

    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_provenance(cfg, sources, stats: dict) -> dict[str, Any]:
    """The ``provenance`` block of summary.json: version, date, input, config hash, and per stage
    its status, measure, weights, rule, thresholds and counts."""
    import datetime
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("lipforge")
    except PackageNotFoundError:
        ver = "unknown"
    built = {st.name: st for st in build_stages(cfg)}
    stages = []
    for name in stage_classes():
        if name in built:
            p = built[name].provenance()
        else:
            p = StageProvenance(name, SKIPPED, "", "not checked: every clip passes", why="disabled in the run config")
        d = p.as_dict()
        s = stats.get(name)
        d["items_in"] = s.items_in if s else 0
        d["kept"] = s.kept if s else 0
        d["dropped"] = dict(sorted(s.dropped.items())) if s else {}
        d["judged"] = 0 if p.status == SKIPPED else d["items_in"]
        stages.append(d)
    paths = sorted(s.path if is_url(s.path) else os.path.abspath(s.path) for s in sources)
    listing = hashlib.sha256("\n".join(f"{s.source_id}\t{s.path}" for s in sorted(sources, key=lambda s: s.source_id))
                             .encode()).hexdigest()[:16]
    try:
        root = os.path.commonpath(paths) if paths else ""
    except ValueError:
        root = ""
    return {"lipforge_version": ver,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "input": {"sources": len(sources), "root": root, "listing_sha256": listing},
            "config_sha256": config_sha256(cfg), "stages": stages}


def add_provenance(summary: dict, cfg, sources, stats: dict) -> dict:
    """Put the provenance block into a summary and mark each stage's stats with its status, so a
    skipped stage never reads as "kept 17 in 0.0 s"."""
    prov = run_provenance(cfg, sources, stats)
    summary["provenance"] = prov
    status = {s["stage"]: s["status"] for s in prov["stages"]}
    for row in summary.get("stages", []):
        row["status"] = status.get(row["stage"], RAN)
    return summary


def attention(summary: dict) -> list[str]:
    """One line per stage that was skipped or decided by a stand-in (for the CLI and the report)."""
    out = []
    for s in summary.get("provenance", {}).get("stages", []):
        if s["status"] == SKIPPED:
            n = f"; {s['items_in']} clips passed unchecked" if s["items_in"] else ""
            out.append(f"{s['stage']}: SKIPPED ({s['why']}){n}")
        elif s["status"] == FALLBACK:
            out.append(f"{s['stage']}: decided by a {STAND_IN}, {s['measure']} ({s['why']}); rule: {s['rule']}")
    return out


def source_sync_offsets(clip_rows: list[dict]) -> dict[str, Any]:
    """Per source, the median ``sync_offset`` over its measured clips and their count, per measure:
    information (a constant offset points at a muxing delay of the source), never used to shift
    audio. ``{"lowerlip": {"<source_id>": {"median": 1.0, "clips": 12}, ...}}``"""
    import statistics

    got: dict[tuple[str, str], list[int]] = {}
    for r in clip_rows:
        if r.get("sync_offset") is not None and r.get("sync_backend"):
            got.setdefault((r["sync_backend"], r.get("source_id") or r["clip_id"].rsplit("-", 2)[0]), []).append(
                int(r["sync_offset"]))
    out: dict[str, Any] = {}
    for (backend, sid), offs in sorted(got.items()):
        out.setdefault(backend, {})[sid] = {"median": float(statistics.median(offs)), "clips": len(offs)}
    return out
