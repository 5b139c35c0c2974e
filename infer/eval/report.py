"""Evaluation report: ``eval.json`` (all numbers) and ``eval.html`` (tables + inline PNG plots)."""
from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import Any


def _plot(series: dict[str, list[float]], title: str, threshold: float | None = None) -> str:
    """A line plot as an inline ``<img>`` (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.4), dpi=90)
    for name, ys in series.items():
        ax.plot(ys, label=name, lw=1.2)
    if threshold is not None:
        ax.axhline(threshold, color="gray", ls="--", lw=0.8, label=f"MAR {threshold}")
    ax.set_xlabel("frame (25 fps)")
    ax.set_ylabel("MAR")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))


def render_html(result: dict[str, Any]) -> str:
    s = result["summary"]
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in s.items())
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>lipforge eval</title>",
             "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
             "table{border-collapse:collapse}</style></head><body>",
             "<h1>lipforge evaluation</h1><h2>Summary</h2><table>", rows, "</table>"]
    leak = result.get("lipleak")
    if leak and "error" in leak:
        parts.append(f"<h2>LipLeak</h2><p>not computed: {html.escape(leak['error'])}</p>")
    elif leak:
        from lipforge.infer.eval.metrics import LIPLEAK_LITE_THRESHOLD

        parts += ["<h2>LipLeak</h2>",
                  f"<p>LipLeak = std(MAR | silent) / (std(MAR | speech) + 1e-5) = {leak['lipleak']:.4f}; "
                  f"LipLeak-lite (share of silent frames with MAR &gt; {LIPLEAK_LITE_THRESHOLD}) = "
                  f"{leak['lipleak_lite']:.4f}</p>",
                  _plot({"silent audio": leak["mar_silent"], "speech audio": leak["mar_speech"]},
                        "MAR under silent vs speech audio", LIPLEAK_LITE_THRESHOLD)]
    keys = ["n_frames", "frame_mapping", "ssim", "psnr", "lpips", "lmd", "mar_mean", "mar_std", "sync_offset",
            "sync_conf", "sync_backend"]
    parts.append("<h2>Videos</h2><table><tr><th>video</th>" + "".join(f"<th>{k}</th>" for k in keys) + "</tr>")
    for v in result["videos"]:
        parts.append(f"<tr><td>{html.escape(Path(v['path']).name)}</td>"
                     + "".join(f"<td>{_fmt(v[k]) if k in v else ''}</td>" for k in keys) + "</tr>")
    parts.append("</table>")
    for v in result["videos"]:
        if "mar" in v:
            parts += [f"<h3>{html.escape(Path(v['path']).name)}</h3>", _plot({"MAR": v["mar"]}, "mouth aspect ratio")]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write eval.json and eval.html atomically into ``out_dir``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in (("eval.json", json.dumps(result, indent=2)), ("eval.html", render_html(result))):
        p = d / name
        tmp = p.with_name(p.name + ".partial")
        tmp.write_text(text)
        os.replace(tmp, p)
        out.append(p)
    return out[0], out[1]
