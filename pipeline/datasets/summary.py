"""What ``lipforge sources`` prints per dataset: hours listed, found and expected to survive.

Three figures answer "how much of this dataset will I get": the hours the annotations list
(every row with a usable range, found or not: comparable with the dataset's published size on
a partial download), the hours whose videos were found, and the expected yield, the hours of
the sources at least ``min_clip_s`` long (the segmenter drops a shorter range whole as
``too_short``; a longer one is cut into pieces that cover it). Then boxes, warnings by code,
merged rows, ranges overlapping another of their video, and the skipped rows by reason.

>>> print(summarize(built, min_clip_s=2.0))                       # doctest: +SKIP
multitalk: 108570 sources, 145.699 h; annotations list 145.702 h, videos found for 145.702 h; expected yield ...
"""
from __future__ import annotations

from collections import Counter

from lipforge.pipeline.datasets.build import SourceList


def overlapping(sources: list[dict]) -> int:
    """Ranges that overlap an earlier range of the same video (MultiTalk and CelebV list some):
    they stay separate sources, but their clips share frames, which a training split should know."""
    n = 0
    by_path: dict[str, list[tuple[float, float]]] = {}
    for r in sources:
        if r["start_s"] is not None:
            by_path.setdefault(r["path"], []).append((r["start_s"], r["end_s"]))
    for spans in by_path.values():
        reach = -1.0
        for a, b in sorted(spans):
            n += a < reach
            reach = max(reach, b)
    return n


def _warning_codes(sources: list[dict]) -> Counter:
    return Counter(w.split(":", 1)[0] for r in sources if r.get("warnings") for w in r["warnings"].split(" | "))


def summarize(built: SourceList, min_clip_s: float) -> str:
    """Two lines per dataset (see the module doc)."""
    lines = []
    datasets = {r["dataset"] for r in built.sources} | {r["dataset"] for r in built.skipped} | set(built.listed_s)
    for ds in sorted(datasets):
        mine = [r for r in built.sources if r["dataset"] == ds]
        spans = [r["end_s"] - r["start_s"] for r in mine if r["start_s"] is not None]
        short = [s for s in spans if s < min_clip_s]
        reasons = Counter(r["reason"] for r in built.skipped if r["dataset"] == ds)
        warns = _warning_codes(mine)
        boxes = sum(r["box_x0"] is not None for r in mine)
        flagged = f" (+{built.flagged_s[ds] / 3600:.3f} h in bad or implausible ranges)" if built.flagged_s[ds] else ""
        lines.append(f"{ds}: {len(mine)} sources, {sum(spans) / 3600:.3f} h; annotations list "
                     f"{built.listed_s[ds] / 3600:.3f} h{flagged}, videos found for {built.found_s[ds] / 3600:.3f} h; "
                     f"expected yield {(sum(spans) - sum(short)) / 3600:.3f} h at min_clip_s {min_clip_s:g} s "
                     f"({len(short)} sources shorter: {sum(short) / 3600:.3f} h too_short)")
        lines.append(f"  {boxes} with a face box; warnings {sum(warns.values())}"
                     + (f" {dict(sorted(warns.items()))}" if warns else "")
                     + f"; {built.merged[ds]} rows merged into adjacent ones; {overlapping(mine)} overlapping "
                     f"an earlier range of their video; skipped {sum(reasons.values())}"
                     + (f" {dict(sorted(reasons.items()))}" if reasons else ""))
    return "\n".join(lines)
