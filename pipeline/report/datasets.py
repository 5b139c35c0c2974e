"""The per-dataset table of the HTML report: hours in, after each stage, and kept, per dataset.

Reads ``summary["datasets"]`` (:mod:`lipforge.pipeline.report.accounting`); the report calls
:func:`datasets_section` and places the returned HTML where it wants it.
"""
from __future__ import annotations

import html

from lipforge.pipeline.report.accounting import NO_DATASET


def datasets_lines(summary: dict) -> list[str]:
    """One terminal line per named dataset: sources, seconds in and kept (``lipforge curate`` prints them)."""
    out = []
    for name, d in sorted((summary.get("datasets") or {}).items()):
        if name != NO_DATASET:
            pct = 100.0 * d["hours_kept"] / d["hours_in"] if d["hours_in"] else 0.0
            out.append(f"  {name}: {d['sources']} sources, {d['hours_in'] * 3600:.1f} s in, "
                       f"{d['hours_kept'] * 3600:.1f} s kept ({pct:.0f}%)")
    return out


def datasets_section(summary: dict) -> str:
    """An ``<h2>`` and a table (one row per dataset); empty when no input named a dataset."""
    ds = summary.get("datasets") or {}
    if not ds or set(ds) == {NO_DATASET}:
        return ""
    stages = list(dict.fromkeys(s["stage"] for d in ds.values() for s in d["stages"]))
    head = ["dataset", "sources", "dropped sources", "hours in", *(f"after {s}" for s in stages),
            "hours kept", "kept %"]
    rows = []
    for name, d in sorted(ds.items()):
        after = {s["stage"]: s["hours_out"] for s in d["stages"]}
        pct = 100.0 * d["hours_kept"] / d["hours_in"] if d["hours_in"] else 0.0
        dropped = ", ".join(f"{k}: {v}" for k, v in sorted(d["sources_dropped"].items())) or "-"
        cells = [name, d["sources"], dropped, f"{d['hours_in']:.4f}",
                 *(f"{after[s]:.4f}" if s in after else "" for s in stages), f"{d['hours_kept']:.4f}", f"{pct:.1f}"]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (f'<h2>Per dataset: hours in, after each stage, kept</h2><table class="datasets"><tr>{th}</tr>'
            f'{"".join(rows)}</table>')
