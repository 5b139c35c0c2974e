"""Re-judge stored candidates under changed thresholds, from their stored scores, without decoding.

A stage opts in by declaring ``THRESHOLDS`` (config fields that only decide verdicts),
``MEASURES`` (the manifest columns it writes) and ``judge(row)`` (its verdict rule, which its
``process`` also uses, so the two cannot disagree). Optional: ``PASS_ONLY`` (the measures it
writes only on a clip it lets through, e.g. sync's ``audio_shift_s``) and ``SPLITS`` (it cuts a
candidate into pieces: faces). A stage that drops for several reasons writes the same
measurements whatever the reason. Speech, faces, quality, asd and sync judge; landmarks and
crop only declare what they measure. When only such fields changed at the stages a stored clip
went through, the clip's verdict is recomputed from its row:

* it passed a stage and now fails it (a tightened threshold): dropped there with that stage's
  reason, its ``PASS_ONLY`` measures cleared; measurements and provenance of later stages are
  cleared (a fresh run never makes them: it stops at the first failing stage) and its shard
  sample is no longer published. When a later stage on its path split the candidate (faces), a
  fresh run drops the candidate whole, before the split: its pieces become that one row again;
* it failed a stage and still fails (maybe for another reason of that stage): that reason;
* it failed a stage and now passes (a loosened threshold): it needs the later stages, which
  never saw it (and sync must shift its audio), so its candidate is recomputed; likewise any
  change of what a stage measures (other weights, parameters, an added or removed stage) on its
  path, or a judge that cannot tell (``UNKNOWN``).

Either way the published corpus equals a fresh run with the new config.
"""
from __future__ import annotations

import json

UNKNOWN = "?unknown"  # a judge's answer when the stored measurements cannot decide
WRITER = "writer"


def _entries(fps: dict) -> list[tuple]:
    return [(x[0], x[1], json.dumps(x[2] if len(x) > 2 else None, sort_keys=True)) for x in fps.get("stages", [])]


def _reached(row: dict, names: list[str]) -> int:
    """Index of the last stage a stored row went through (len - 1: all; -1: none)."""
    if row["status"] == "kept" or row["dropped_by"] == WRITER:
        return len(names) - 1
    return names.index(row["dropped_by"]) if row["dropped_by"] in names else -1  # segment


def _splits(stages: dict, names: list[str]) -> bool:
    return any(getattr(stages.get(n), "SPLITS", False) for n in names)


IDENTITY = ("clip_id", "start_frame", "end_frame", "start_s", "end_s", "duration_s", "status", "reason",
            "dropped_by", "shard")


def _unsplit(rows: list[dict], judged: dict, cleared: set[str]) -> dict | None:
    """The candidate row a fresh run writes when it drops the candidate before the stage that cut
    it into ``rows`` (they tile it): ``judged`` (one piece, as re-judged so far) spanning them all.
    None when a column that is not cleared differs between the pieces (it is not the candidate's)."""
    for k in set().union(*rows):
        if k not in cleared and k not in IDENTITY and len({repr(r.get(k)) for r in rows}) > 1:
            return None
    start, end = min(r["start_frame"] for r in rows), max(r["end_frame"] for r in rows)
    r = rows[0]
    fps = float(round((r["end_frame"] - r["start_frame"]) / r["duration_s"])) if r["duration_s"] else 0.0
    if not fps or sum(x["end_frame"] - x["start_frame"] for x in rows) != end - start:
        return None  # not a tiling
    whole = dict(judged)
    whole.update(clip_id=judged["parent_id"], start_frame=start, end_frame=end, start_s=start / fps,
                 end_s=end / fps, duration_s=(end - start) / fps)
    return whole


def rejudge(rows: list[dict], recorded: dict, current: dict, stages: dict) -> list[dict] | None:
    """New rows of one candidate under ``current`` (None: recompute it). ``rows`` are full
    clip rows as stored, ``stages`` the constructed stages of this run by name."""
    if recorded.get("global") != current["global"]:
        return None
    old, new = _entries(recorded), _entries(current)
    old_names = [e[0] for e in old]
    if any(r["dropped_by"] not in (None, "segment", WRITER, *old_names) for r in rows):
        return None  # dropped by a stage this record does not know
    out = []
    for row in rows:
        row = dict(row)
        by = row["dropped_by"]
        if row["status"] != "kept" and by in (None, "segment"):
            out.append(row)  # decided before any stage
            continue
        if row["status"] == "kept" or by == WRITER:
            dropped_at = len(old)  # passed every old stage
        elif by in old_names:
            dropped_at = old_names.index(by)
        else:
            return None
        for j, (name, fp, thr) in enumerate(new):
            if j > dropped_at:
                break
            if j >= len(old) or old[j][:2] != (name, fp):
                return None  # a different measurement on this clip's path
            if old[j][2] == thr:
                if j == dropped_at:
                    break  # same stage, same thresholds: same verdict
                continue
            stage = stages.get(name)
            judge = getattr(stage, "judge", None)
            if judge is None:
                return None
            verdict = judge(row)
            if verdict == UNKNOWN:
                return None
            prov = getattr(stage, "provenance", None)
            if prov is not None:  # the row now says which rule (this run's thresholds) judged it
                row.update(prov().columns())
            if j == dropped_at:
                if verdict is None:
                    return None  # now passes a stage it failed: the later stages must see it
                row["reason"] = verdict  # still fails, maybe for another of its reasons
                break
            if verdict is not None:  # now fails a stage it passed
                split = len(rows) != 1 or row["clip_id"] != row["parent_id"]
                # the later stages this clip (split: any piece of the candidate) went through
                last = max(_reached(r, old_names) for r in rows) if split else dropped_at
                path = old_names[j + 1:last + 1]
                cleared = set(getattr(stage, "PASS_ONLY", ()))
                for later in path:
                    measures = getattr(stages.get(later), "MEASURES", None)
                    if measures is None:
                        return None
                    cleared |= set(measures) | {k for k in row if k.startswith(f"prov_{later}_")}
                if split:
                    if not _splits(stages, path):  # split, but not after this stage: pieces stay
                        if not _splits(stages, old_names[:j + 1]):
                            return None  # a stage that does not say it splits did
                    else:  # a fresh run drops the candidate whole, before the split
                        whole = _unsplit(rows, row, cleared)
                        if whole is None:
                            return None
                        whole.update({m: None for m in cleared})
                        whole.update(status="dropped", reason=verdict, dropped_by=name, shard=None)
                        return [whole]
                row.update({m: None for m in cleared})  # a fresh run never reaches those stages
                row.update(status="dropped", reason=verdict, dropped_by=name, shard=None)
                break
        else:  # went through every new stage: fine only if it passed every old one, and no more
            if dropped_at != len(old) or len(new) != len(old):
                return None
        out.append(row)
    return out
