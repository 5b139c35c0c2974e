"""A self-contained HTML report: hours and clips in and out, reasons, thumbnails, throughput."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from lipforge.pipeline.datasets.report import datasets_section
from lipforge.pipeline.store import WorkStore


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(out: Path, summary: dict, clip_rows: list[dict], store: WorkStore, per_reason: int) -> Path:
    groups: dict[str, list[str]] = {}
    for c in clip_rows:
        key = "kept" if c["status"] == "kept" else c["reason"]
        groups.setdefault(key, []).append(c["clip_id"])
    thumbs = []
    for reason, ids in sorted(groups.items()):
        imgs = []
        for cid in ids[:per_reason]:
            p = store.work / "thumbs" / f"{cid}.jpg"
            if p.exists():
                b64 = base64.b64encode(p.read_bytes()).decode()
                imgs.append(f'<figure><img src="data:image/jpeg;base64,{b64}"><figcaption>{html.escape(cid)}</figcaption></figure>')
        thumbs.append(f"<h3>{html.escape(reason)} ({len(ids)})</h3><div class=row>{''.join(imgs) or 'no thumbnails'}</div>")
    s, c = summary["sources"], summary["clips"]
    flow = [{"step": "sources in", "count": s["in"], "hours": s["hours_in"]},
            {"step": "sources decoded", "count": s["ok"], "hours": ""},
            {"step": "candidate clips", "count": c["candidates"], "hours": c["hours_candidates"]},
            {"step": "clips kept", "count": c["kept"], "hours": c["hours_kept"]}]
    reasons = [{"stage": st, "reason": r, "clips": n} for st, d in summary["dropped_by_stage"].items() for r, n in d.items()]
    reasons += [{"stage": "probe", "reason": r, "clips": f"{n} sources"} for r, n in s["dropped"].items()]
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>lipforge curation report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px}}
.row{{display:flex;flex-wrap:wrap;gap:8px}}figure{{margin:0;font-size:10px}}img{{height:96px}}</style></head><body>
<h1>lipforge curation report</h1>
<h2>In and out</h2>{_table(flow)}
{datasets_section(summary)}
<h2>Rejections by stage and reason</h2>{_table(reasons)}
<h2>Stages: clips and hours in and out, throughput</h2>{_table(summary["stages"])}
<h2>Shards</h2><p>{summary["shards"]["count"]} shards, {summary["shards"]["samples"]} samples</p>
<h2>Thumbnails</h2>{''.join(thumbs)}
<h2>summary.json</h2><pre>{html.escape(json.dumps(summary, indent=2, sort_keys=True))}</pre>
</body></html>"""
    path = out / "report.html"
    tmp = path.with_name("report.html.tmp")
    tmp.write_text(doc)
    tmp.replace(path)
    return path
