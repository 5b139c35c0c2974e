"""The curation report: one self-contained HTML file to judge a run and choose thresholds.

Top to bottom: a banner naming every stage that was skipped or decided by a weight-free stand-in;
the funnel of hours through the stages; clips and hours per reason; a histogram of every score
with the threshold the run applied; the stage table (status, measure, weights, rule, counts,
throughput); the sources table; then per verdict contact sheets (face-crop frames with the face
box drawn, read back from the sources) and a few short playable clips. Charts are inline SVG,
pictures and clips base64 data: nothing is linked, so the file works wherever it is copied. The
layout fits a 1400 px wide window.
"""
from __future__ import annotations

import html
import json
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lipforge.pipeline.report.datasets import datasets_section
from lipforge.pipeline.report.svg import DROPPED, KEPT, bars, histogram
from lipforge.pipeline.store.work import WorkStore

CSS = """
body{font-family:system-ui,sans-serif;margin:16px auto;max-width:1360px;padding:0 12px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:16px 0 6px}.meta{color:#555;font-size:12px}
.banner{background:#fff4ce;border:1px solid #e0b000;padding:8px 14px;margin:10px 0;font-size:13px}
.banner.ok{background:#e7f5e9;border-color:#3a7d44}.banner ul{margin:4px 0;padding-left:18px}
table{border-collapse:collapse;width:100%;table-layout:fixed;font-size:12px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f3f3}.grid{display:flex;flex-wrap:wrap;gap:10px}.chart{background:#fafafa;border:1px solid #eee}
.sheet{margin:4px 0 10px}.sheet img{display:block;max-width:100%}.cap{font-size:11px;color:#444}
video{width:160px;height:160px;background:#000}.clips{display:flex;gap:12px;flex-wrap:wrap}
details pre{font-size:11px;max-height:400px;overflow:auto;background:#f7f7f7;padding:8px}
"""

# (column, stage, threshold key in the stage's provenance, label of the rule, integer bins)
SCORES = (("face_max_px", "faces", "min_face_px", ">", False),
          ("iqa_score", "quality", "iqa_score", ">=", False),
          ("speech_ratio", "speech", "min_speech_ratio", ">=", False),
          ("asd_score", "asd", "asd_score", ">=", False),
          ("sync_conf", "sync", "sync_conf", ">=", False),
          ("sync_offset", "sync", "sync_offset", "|x| <=", True))


def _e(v) -> str:
    return html.escape("" if v is None else str(v))


def _table(cols: list[str], rows: list[list], widths: list[int] | None = None) -> str:
    if not rows:
        return "<p>none</p>"
    cg = "".join(f'<col style="width:{w}%">' for w in widths) if widths else ""
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><colgroup>{cg}</colgroup><tr>{head}</tr>{body}</table>"


def _stages_prov(summary: dict) -> dict[str, dict]:
    return {s["stage"]: s for s in summary.get("provenance", {}).get("stages", [])}


def banner(summary: dict) -> str:
    from lipforge.pipeline.report.provenance import attention

    lines = attention(summary)
    if not lines:
        return '<div class="banner ok">Every stage ran with its expert model.</div>'
    items = "".join(f"<li>{_e(x)}</li>" for x in lines)
    return (f'<div class="banner" id="attention"><b>Read these verdicts with care:</b> {len(lines)} stage(s) '
            f"were skipped or decided by a weight-free stand-in.<ul>{items}</ul></div>")


def funnel(summary: dict) -> str:
    prov = _stages_prov(summary)
    rows = [("sources in", summary["sources"]["hours_in"], "#6b8fb8"),
            ("candidate clips", summary["clips"]["hours_candidates"], "#6b8fb8")]
    for s in summary.get("stages", []):
        if s["stage"] == "segment":
            continue
        st = prov.get(s["stage"], {}).get("status", s.get("status", "ran"))
        tag = {"skipped": " (skipped)", "fallback": " (stand-in)"}.get(st, "")
        rows.append((f"after {s['stage']}{tag}", s["hours_out"], "#bbbbbb" if st == "skipped" else KEPT))
    rows.append(("kept", summary["clips"]["hours_kept"], KEPT))
    return bars(rows, "Hours of video through the stages", " h", width=900, label_w=260)


def reasons(clip_rows: list[dict]) -> str:
    n, h = Counter(), Counter()
    for c in clip_rows:
        k = "kept" if c["status"] == "kept" else f"{c['reason']} ({c['dropped_by']})"
        n[k] += 1
        h[k] += c["duration_s"] / 3600.0
    order = sorted(n, key=lambda k: (k != "kept", -n[k], k))
    col = lambda k: KEPT if k == "kept" else DROPPED  # noqa: E731
    return ('<div class="grid">' + bars([(k, n[k], col(k)) for k in order], "Clips per verdict", width=660)
            + bars([(k, h[k], col(k)) for k in order], "Hours per verdict", " h", width=660) + "</div>")


def histograms(clip_rows: list[dict], summary: dict) -> str:
    prov = _stages_prov(summary)
    out = []
    for col, stage, key, op, integer in SCORES:
        p = prov.get(stage, {})
        kept = [c.get(col) for c in clip_rows if c["status"] == "kept" and c.get(col) is not None]
        dropped = [c.get(col) for c in clip_rows if c["status"] != "kept" and c.get(col) is not None]
        thr = p.get("thresholds", {}).get(key)
        lines = []
        if thr is not None:
            lines = [(-thr, f"-{thr}"), (thr, f"{thr}")] if integer else [(thr, f"{op} {thr}")]
        status = p.get("status", "skipped")
        if status == "fallback":
            note = f"{p['measure']} (weight-free stand-in): {p['rule']}"
        elif status == "skipped":
            note = f"{stage} skipped: {p.get('why') or 'not run'}"
        else:
            note = f"{p.get('measure', '')}: {p.get('rule', '')}"
        out.append(histogram([float(v) for v in kept], [float(v) for v in dropped], lines, col, note=note[:80],
                             integer=integer))
    return '<div class="grid">' + "".join(out) + "</div>"


def stage_table(summary: dict) -> str:
    prov = _stages_prov(summary)
    stats = {s["stage"]: s for s in summary.get("stages", [])}
    rows = []
    for name in ["segment"] + [p for p in prov]:
        s, p = stats.get(name, {}), prov.get(name, {})
        dropped = ", ".join(f"{k[len('dropped_'):]} {v}" for k, v in sorted(s.items()) if k.startswith("dropped_"))
        status = p.get("status", "ran" if s else "")
        st_html = f"<b>{_e(status)}</b>" + (f"<br>{_e(p['why'])}" if p.get("why") else "")
        rows.append([_e(name), st_html, _e(p.get("measure", "")), _e(p.get("weights") or ""), _e(p.get("rule", "")),
                     _e(s.get("items_in", "")), _e(s.get("kept", "")), _e(dropped),
                     _e(f"{s['hours_in']:.4g} → {s['hours_out']:.4g}" if s else ""),
                     _e(f"{s['seconds']:.1f} s, {s['items_per_s']:.2f}/s" if s else "")])
    return _table(["stage", "status", "measure", "weights", "rule", "in", "kept", "dropped", "hours in → out",
                   "time"], rows, [7, 14, 9, 14, 17, 5, 5, 11, 9, 9])


def sources_table(sources: list[dict], clip_rows: list[dict]) -> str:
    per = defaultdict(lambda: [0, 0, 0.0])
    for c in clip_rows:
        p = per[c["source_id"]]
        p[1] += 1
        if c["status"] == "kept":
            p[0] += 1
            p[2] += c["duration_s"]
    rows = []
    for s in sources:
        k, n, secs = per[s["source_id"]]
        name = Path(s["path"]).name
        rows.append([f'<span title="{_e(s["path"])}">{_e(name)}</span>', _e(s["status"]), _e(s["reason"] or ""),
                     _e(f"{s['duration_s']:.1f} s" if s.get("duration_s") is not None else ""),
                     _e(f"{k} / {n}"), _e(f"{secs:.1f} s")])
    return _table(["file", "status", "reason", "duration", "clips kept / cut", "kept"], rows, [36, 8, 18, 12, 13, 13])


def _groups(clip_rows: list[dict]) -> dict[str, list[dict]]:
    """Clips per verdict, earliest in their source first: the examples are decoded from the start of
    each source up to the last frame shown, so early clips keep the report cheap on long sources."""
    g: dict[str, list[dict]] = defaultdict(list)
    for c in sorted(clip_rows, key=lambda c: (c["start_frame"], c["clip_id"])):
        g["kept" if c["status"] == "kept" else c["reason"]].append(c)
    return dict(sorted(g.items(), key=lambda kv: (kv[0] != "kept", -len(kv[1]), kv[0])))


def _caption(c: dict) -> str:
    keys = ("face_max_px", "iqa_score", "speech_ratio", "asd_score", "sync_offset", "sync_conf")
    vals = ", ".join(f"{k} {c[k]:.3g}" if isinstance(c.get(k), float) else f"{k} {c[k]}"
                     for k in keys if c.get(k) is not None)
    return f"{c['clip_id']} ({c['duration_s']:.1f} s){': ' + vals if vals else ''}"


def examples(clip_rows: list[dict], sources: list[dict], per_reason: int, clips_per_reason: int = 1,
             max_clips: int = 6) -> str:
    """Per verdict: contact sheets of ``per_reason`` clips, and short playable clips."""
    from lipforge.pipeline.stages.provenance import sheet_positions
    from lipforge.pipeline.report.media import SourceNeeds, contact_sheet, decode_needed, playable_clip, CLIP_FRAMES

    path_of = {s["source_id"]: s["path"] for s in sources}
    groups = _groups(clip_rows)
    needs: dict[str, SourceNeeds] = {}
    sheet_clips, play_clips = [], []
    for reason, rows in groups.items():
        for c in rows[:per_reason]:
            if c["source_id"] not in path_of:
                continue
            n = needs.setdefault(c["source_id"], SourceNeeds(path_of[c["source_id"]]))
            n.frames.update(c["start_frame"] + p for p in sheet_positions(c["end_frame"] - c["start_frame"]))
            sheet_clips.append(c["clip_id"])
        for c in rows[: (2 if reason == "kept" else clips_per_reason)]:
            if c["source_id"] in path_of and len(play_clips) < max_clips:
                rng = (c["start_frame"], min(c["end_frame"], c["start_frame"] + CLIP_FRAMES))
                needs.setdefault(c["source_id"], SourceNeeds(path_of[c["source_id"]])).clip_ranges.append(rng)
                play_clips.append(c["clip_id"])
    def decode(n: SourceNeeds):
        try:
            return decode_needed(n)
        except Exception as e:  # a source that cannot be read again: the report says so, it does not fail
            return e

    # On threads (PyAV decodes without the GIL): the report's decoding is most of finalize. At
    # most 4 at once: each holds up to a few hundred 640 px frames of its source.
    with ThreadPoolExecutor(max(1, min(len(needs), os.cpu_count() or 1, 4))) as pool:
        decoded = dict(zip(needs, pool.map(decode, needs.values())))
    out = []
    for reason, rows in groups.items():
        by = rows[0]["dropped_by"] if reason != "kept" else None
        title = "kept" if reason == "kept" else f"{reason} (dropped by {by})"
        measure = rows[0].get(f"prov_{by}_measure") if by else None
        hours = sum(c["duration_s"] for c in rows) / 3600.0
        part = [f"<h3>{_e(title)}: {len(rows)} clips, {hours:.4g} h"
                + (f" · decided by {_e(measure)}" if measure else "") + "</h3>"]
        for c in rows[:per_reason]:
            got = decoded.get(c["source_id"])
            if isinstance(got, Exception) or got is None:
                part.append(f'<p class="cap">{_e(c["clip_id"])}: source not readable ({_e(got)})</p>')
                continue
            frames, scale, _ = got
            pos = [c["start_frame"] + p for p in sheet_positions(c["end_frame"] - c["start_frame"])]
            boxes = c.get("sheet_face_boxes")
            bw = [None] * len(pos) if not boxes else list(np.asarray(boxes, np.float64).reshape(-1, 4) * scale)
            b64 = contact_sheet([frames.get(i) for i in pos], bw, reason == "kept")
            img = f'<img alt="contact sheet" src="data:image/jpeg;base64,{b64}">' if b64 else "no frames decoded"
            part.append(f'<div class="sheet">{img}<div class="cap">{_e(_caption(c))}</div></div>')
        vids = []
        for c in rows:
            if c["clip_id"] not in play_clips:
                continue
            got = decoded.get(c["source_id"])
            if isinstance(got, Exception) or got is None:
                continue
            frames, scale, audio = got
            s = c["start_frame"]
            e = min(c["end_frame"], s + CLIP_FRAMES)
            boxes = c.get("sheet_face_boxes")
            box = None if not boxes else np.median(np.asarray(boxes, np.float64).reshape(-1, 4), axis=0) * scale
            got = playable_clip([frames.get(i) for i in range(s, e)], audio.get(s), box)
            if got:
                b64, poster = got
                vids.append(f'<figure><video controls preload="metadata" poster="data:image/jpeg;base64,{poster}" '
                            f'src="data:video/mp4;base64,{b64}">'
                            f'</video><figcaption class="cap">{_e(c["clip_id"])}</figcaption></figure>')
        if vids:
            part.append(f'<div class="clips">{"".join(vids)}</div>')
        out.append("".join(part))
    return "".join(out) or "<p>no clips</p>"


def _read_sources(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    from lipforge.manifests.corpus import manifest_path

    p = manifest_path(out, "sources")
    return pq.read_table(p).to_pylist() if p.exists() else []


def write_report(out: Path, summary: dict, clip_rows: list[dict], store: WorkStore, per_reason: int) -> Path:
    out = Path(out)
    sources = _read_sources(out)
    prov = summary.get("provenance", {})
    meta = (f"lipforge {_e(prov.get('lipforge_version'))} · {_e(prov.get('date'))} · config "
            f"{_e(prov.get('config_sha256'))} · input {_e(prov.get('input', {}).get('root'))} "
            f"({_e(prov.get('input', {}).get('sources'))} sources)")
    s, c = summary["sources"], summary["clips"]
    headline = (f"{s['in']} sources ({s['hours_in']:.4g} h), {c['candidates']} candidate clips, "
                f"<b>{c['kept']} kept ({c['hours_kept']:.4g} h)</b>, {summary['shards']['count']} shards")
    sections = [
        ("", banner(summary)),
        ("In and out", f"<p>{headline}</p>" + funnel(summary)),
        ("", datasets_section(summary)),  # per dataset (its own <h2>; empty without datasets)
        ("Verdicts: clips and hours per reason", reasons(clip_rows)),
        ("Scores (dashed line: the threshold this run applied)", histograms(clip_rows, summary)),
        ("Stages", stage_table(summary)),
        ("Sources", sources_table(sources, clip_rows)),
        ("Per verdict: contact sheets (face box drawn) and clips", examples(clip_rows, sources, per_reason)),
        ("summary.json", "<details><summary>show</summary><pre>"
         + _e(json.dumps(summary, indent=2, sort_keys=True)) + "</pre></details>"),
    ]
    body = "".join((f"<h2>{_e(t)}</h2>" if t else "") + h for t, h in sections)
    doc = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>lipforge curation report</title>'
           f"<style>{CSS}</style></head><body><h1>lipforge curation report</h1>"
           f'<div class="meta">{meta}</div>{body}</body></html>')
    path = out / "report.html"
    tmp = path.with_name("report.html.tmp")
    tmp.write_text(doc)
    tmp.replace(path)
    return path
