"""Inline SVG charts for the curation report: horizontal bars and histograms with threshold lines.

Plain strings, no plotting library and nothing fetched: the report stays one self-contained file.

>>> svg = histogram([1.0, 2.0], [0.5], thresholds=[(1.5, ">= 1.5")], title="iqa_score")
>>> svg.startswith("<svg") and "1.5" in svg
True
"""
from __future__ import annotations

import html
import math

KEPT, DROPPED, LINE = "#3a7d44", "#c0504d", "#1f3b73"


def _num(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.01:
        return f"{v:.2f}"
    return f"{v:.2g}"


def bars(rows: list[tuple[str, float, str]], title: str, unit: str = "", width: int = 640,
         label_w: int = 230) -> str:
    """Horizontal bars: ``rows`` = (label, value, colour); the value is printed after the bar."""
    e = html.escape
    bar_h, gap, top = 18, 6, 26
    h = top + len(rows) * (bar_h + gap) + 6
    vmax = max((v for _, v, _ in rows), default=0.0) or 1.0
    span = width - label_w - 90
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
             f'viewBox="0 0 {width} {h}" role="img"><title>{e(title)}</title>',
             f'<text x="4" y="16" font-weight="bold" font-size="13">{e(title)}</text>']
    for i, (label, v, colour) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = max(1.0, span * v / vmax) if v > 0 else 0.0
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="12">{e(label)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="12">{e(_num(v))}{e(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(kept: list[float], dropped: list[float], thresholds: list[tuple[float, str]], title: str,
              note: str = "", bins: int = 24, width: int = 440, height: int = 224, integer: bool = False) -> str:
    """Stacked histogram (kept below, dropped above) with a dashed line per threshold."""
    e = html.escape
    vals = [v for v in kept + dropped if v is not None and math.isfinite(v)]
    head = (f'<svg class="chart hist" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img"><title>{e(title)}</title>'
            f'<text x="4" y="15" font-weight="bold" font-size="13">{e(title)}</text>'
            f'<text x="4" y="30" font-size="11" fill="#555">{e(note)}</text>')
    if not vals:
        return head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="12" fill="#777">' \
                      'not measured in this run</text></svg>'
    xs = [t for t, _ in thresholds if t is not None and math.isfinite(t)]
    lo, hi = min(vals + xs), max(vals + xs)
    if integer:
        lo, hi = math.floor(lo) - 0.5, math.ceil(hi) + 0.5
        bins = max(1, min(int(hi - lo), 40))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    left, right, top, bottom = 40, 10, 38, 44
    pw, ph = width - left - right, height - top - bottom
    step = (hi - lo) / bins

    def counts(vs):
        c = [0] * bins
        for v in vs:
            if v is not None and math.isfinite(v):
                c[min(bins - 1, max(0, int((v - lo) / step)))] += 1
        return c

    ck, cd = counts(kept), counts(dropped)
    cmax = max(a + b for a, b in zip(ck, cd)) or 1
    px = lambda v: left + pw * (v - lo) / (hi - lo)  # noqa: E731
    out = [head, f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#888"/>',
           f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" font-size="10">{cmax}</text>',
           f'<text x="{left - 4}" y="{top + ph}" text-anchor="end" font-size="10">0</text>']
    bw = pw / bins
    for i, (a, b) in enumerate(zip(ck, cd)):
        x = left + i * bw
        ha, hb = ph * a / cmax, ph * b / cmax
        if a:
            out.append(f'<rect x="{x:.1f}" y="{top + ph - ha:.1f}" width="{max(bw - 1, 1):.1f}" height="{ha:.1f}" fill="{KEPT}"/>')
        if b:
            out.append(f'<rect x="{x:.1f}" y="{top + ph - ha - hb:.1f}" width="{max(bw - 1, 1):.1f}" height="{hb:.1f}" fill="{DROPPED}"/>')
    for v in (lo, (lo + hi) / 2, hi):
        out.append(f'<text x="{px(v):.1f}" y="{top + ph + 14}" text-anchor="middle" font-size="10">{e(_num(v))}</text>')
    for t, label in thresholds:
        if t is None or not math.isfinite(t):
            continue
        x = px(t)
        out.append(f'<line class="threshold" x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + ph}" stroke="{LINE}" '
                   f'stroke-width="2" stroke-dasharray="5,3"/>'
                   f'<text x="{min(x + 3, width - 70):.1f}" y="{top + ph + 26}" font-size="10" fill="{LINE}">{e(label)}</text>')
    out.append(f'<text x="{width - right}" y="{height - 3}" text-anchor="end" font-size="10">'
               f'<tspan fill="{KEPT}">kept {len([v for v in kept if v is not None])}</tspan> '
               f'<tspan fill="{DROPPED}">dropped {len([v for v in dropped if v is not None])}</tspan></text></svg>')
    return "".join(out)
