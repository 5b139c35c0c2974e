"""Per-stage counts of the published corpus, from its clip rows: what a fresh run counts.

Stage counters (:class:`lipforge.pipeline.stages.base.StageStats`) count the work of one run; summed
over the runs that built a corpus they count a recomputed candidate twice and a re-judged one
under its old verdict. The rows say what each stage decided, so the counts a fresh run with this
run's stages would report follow from them: a candidate enters the stages whole (one item) until
the stage that splits it (faces, ``SPLITS``), whose outcome and every later stage's items are
its pieces (the rows, which tile the candidate); a row reached a stage unless an earlier one
dropped it. ``seconds`` cannot be derived: the summary gives this run's (see
:func:`corpus_rows`).
"""
from __future__ import annotations

from lipforge.manifests.schema import STATUS_KEPT
from lipforge.pipeline.stages.base import StageStats

SEGMENT = "segment"
WRITER = "writer"


def _seconds(rows: list[dict]) -> float:
    """Seconds of a candidate (its rows tile it) as a stage counts them: frames / fps."""
    r = rows[0]
    fps = round((r["end_frame"] - r["start_frame"]) / r["duration_s"]) if r["duration_s"] else 25
    return (max(x["end_frame"] for x in rows) - min(x["start_frame"] for x in rows)) / float(fps)


def corpus_stage_stats(clip_rows: list[dict], stage_names: list[str], splits: set[str] = frozenset()) -> dict[str, StageStats]:
    """Counts (items, kept, dropped by reason, video and kept seconds) per stage of ``stage_names``
    (the run's enabled stages in order; ``splits``: those that cut candidates) and of the
    segmenter; stages no item reached are left out, as a run's counters leave them out."""
    pos = {n: i for i, n in enumerate(stage_names)}
    split_at = min([pos[n] for n in splits if n in pos], default=len(stage_names))
    seg = StageStats(SEGMENT)
    stats = {n: StageStats(n) for n in stage_names}
    groups: dict[str, list[dict]] = {}
    for r in clip_rows:
        groups.setdefault(r["parent_id"], []).append(r)

    def reach(r: dict) -> int:  # index of the stage that dropped it; len: passed them all
        if r["status"] == STATUS_KEPT or r["dropped_by"] not in pos:
            return len(stage_names)
        return pos[r["dropped_by"]]

    for rows in groups.values():
        secs = _seconds(rows)
        seg.items_in += 1
        seg.video_seconds += secs
        if rows[0]["status"] != STATUS_KEPT and rows[0]["dropped_by"] in (None, SEGMENT):
            seg.dropped[rows[0]["reason"]] += 1
            continue
        seg.kept += 1
        seg.kept_seconds += secs
        for i, name in enumerate(stage_names):
            st = stats[name]
            came = [r for r in rows if reach(r) >= i]
            if not came:
                break
            whole = i <= split_at  # the candidate comes in as one item
            st.items_in += 1 if whole else len(came)
            st.video_seconds += secs if whole else sum(r["duration_s"] for r in came)
            passed = [r for r in came if reach(r) > i]
            if i < split_at:  # not cut yet: the candidate passes or is dropped whole
                if passed:
                    st.kept += 1
                    st.kept_seconds += secs
                else:
                    st.dropped[came[0]["reason"]] += 1
                continue
            st.kept += len(passed)
            st.kept_seconds += sum(r["duration_s"] for r in passed)
            for r in came:
                if reach(r) == i:
                    st.dropped[r["reason"]] += 1
    out = {SEGMENT: seg} if seg.items_in else {}
    out.update({n: s for n, s in stats.items() if s.items_in})
    return out


def corpus_rows(corpus: dict[str, StageStats], run: dict[str, StageStats], order) -> list[dict]:
    """summary.json ``stages``: the corpus's counts per stage; ``seconds``, ``cpu_seconds`` and ``items_per_s`` are
    this run's work on the stage (``work.stages`` has its counts; a fresh run: the same)."""
    out = []
    for name in sorted(set(corpus) | set(run), key=order):
        d = (corpus.get(name) or StageStats(name)).as_dict()
        r = run.get(name) or StageStats(name)
        d.update(seconds=round(r.seconds, 4), cpu_seconds=round(r.cpu_seconds, 4), items_per_s=round(r.items_per_s, 3))
        out.append(d)
    return out


def candidate_seconds(clip_rows: list[dict]) -> float:
    """Seconds of candidate clips: each candidate spans from its first to its last piece.

    A stage that splits a candidate (the face stage at a gap or a box jump) gives it rows that
    tile it, and the first may keep the candidate's id with a shorter duration, so the rows
    whose id equals their parent id would undercount.
    """
    span: dict[str, tuple[float, float]] = {}
    for c in clip_rows:
        s, e = span.get(c["parent_id"], (c["start_s"], c["end_s"]))
        span[c["parent_id"]] = (min(s, c["start_s"]), max(e, c["end_s"]))
    return sum(e - s for s, e in span.values())
