"""Before a run works: bring the work store in line with the corpus catalog, the inputs on disk
and the config, so that what the runner then computes, plus what it keeps, equals a fresh run.

For every source of the corpus (the catalog after this run's ``--input`` is added):

* content changed since its results were stored (:mod:`lipforge.pipeline.source.identity`): all its
  results are dropped and it is curated again (its old clips are replaced);
* its verdict was a probe failure that may have healed (``truncated``, ``decode_error``,
  ``not_found``, ``empty_file``) and its file is there: probed again;
* its stored results were computed under another config: candidates whose path through the
  stages is unchanged are kept (:func:`fingerprint.candidate_is_current`), those where only
  thresholds changed are re-judged from their stored scores (:mod:`lipforge.pipeline.stages.rejudge`),
  the others recomputed;
* it would be cut into other parts (``segment.part_s`` changed and it is long enough to be split,
  :mod:`lipforge.pipeline.source.parts`): curated again;
* its committed work files are damaged (a missing or truncated parquet or tar, see
  :meth:`WorkStore.intact_candidates`): those candidates are recomputed.

Nothing is deleted until every check passed: a source that must be recomputed but whose file
is missing (an unmounted input) stops the run before anything changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lipforge.manifests.schema import STATUS_DROPPED
from lipforge.pipeline.store.catalog import Catalog, Entry
from lipforge.pipeline.store.fingerprint import candidate_is_current
from lipforge.pipeline.source.identity import content_id, same_content
from lipforge.pipeline.source.inputs import is_url
from lipforge.pipeline.source.parts import parts_changed

HEALABLE = frozenset({"truncated", "decode_error", "not_found", "not_a_file", "permission_denied", "empty_file"})
NO_FILE = frozenset({"not_found", "not_a_file", "permission_denied"})  # verdicts of a path with no content to identify


class PlanError(ValueError):
    """A user-fixable reason not to start (one line, exit code 2)."""


@dataclass
class PlanReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # content changed: curated again
    retried: list[str] = field(default_factory=list)  # probe failure probed again
    moved: list[str] = field(default_factory=list)  # same content at a new path
    missing: list[str] = field(default_factory=list)  # file gone, results kept (see --prune-missing)
    recomputed_candidates: int = 0  # stale under the new config
    rejudged_candidates: int = 0  # verdicts re-applied from stored scores (no decoding)
    kept_candidates: int = 0  # stored results reused under a changed config
    damaged_candidates: int = 0
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"added": len(self.added), "changed": len(self.changed), "retried": len(self.retried),
                "moved": len(self.moved), "missing": len(self.missing), "removed": len(self.removed),
                "candidates_recomputed": self.recomputed_candidates, "candidates_rejudged": self.rejudged_candidates,
                "candidates_reused_after_config_change": self.kept_candidates,
                "candidates_damaged": self.damaged_candidates}


def add_inputs(catalog: Catalog, inputs: list, report: PlanReport) -> dict[str, object]:
    """Add this run's inputs to the catalog (in memory); returns their current content ids."""
    import dataclasses
    import os

    ids = {}
    for s in inputs:
        if not is_url(s.path):
            s = dataclasses.replace(s, path=os.path.abspath(s.path))  # a corpus outlives the working directory
        e = catalog.entries.get(s.source_id)
        cid = content_id(s.path, e.content if e is not None and e.path == s.path else None)
        ids[s.source_id] = cid
        if e is None:
            catalog.entries[s.source_id] = Entry(s.source_id, s.path)
            report.added.append(s.source_id)
        elif e.path != s.path:
            if cid is not None and e.content is not None and not same_content(e.content, cid):
                raise PlanError(f"source id {s.source_id} of {s.path} is already in the corpus for {e.path} with "
                                "other content; give it another name (or a source_id column), or --remove "
                                f"{s.source_id} first")
            if cid is not None:
                e.path = s.path
                report.moved.append(s.source_id)
        catalog.entries[s.source_id].spec = Entry.spec_of(s)  # range / dataset fields as this run gives them
    return ids


def plan_and_apply(store, catalog: Catalog, inputs: list, current_fps: dict, report: PlanReport,
                   stages: dict | None = None) -> None:
    """Check everything first, then invalidate or re-judge (see the module doc), then save the
    catalog. ``stages``: this run's constructed stages by name (their ``judge`` re-judges)."""
    from lipforge.pipeline.stages.rejudge import rejudge

    known = add_inputs(catalog, inputs, report)
    actions: list[tuple[str, str, list[str]]] = []  # (sid, "source" | "candidates", candidate ids)
    blocked = []
    for sid, e in sorted(catalog.entries.items()):
        url = is_url(e.path)  # no file identity to check, and never "missing"
        cid = None if url else known.get(sid) if sid in known else content_id(e.path, e.content)
        gone = cid is None and not url
        got = store.read_source(sid)
        if got is None:  # never started (or reopened by a killed run): the runner curates it
            e.content, e.fingerprints = cid, current_fps
            continue
        record, cands = got
        if url:
            pass
        elif cid is None:
            if record.status != STATUS_DROPPED or record.reason not in NO_FILE:
                report.missing.append(sid)
        elif e.content is not None and not same_content(e.content, cid):
            actions.append((sid, "source", []))
            report.changed.append(sid)
            e.content = cid
            continue
        else:
            e.content = cid
        if record.status == STATUS_DROPPED and record.reason in HEALABLE and not gone:
            actions.append((sid, "source", []))
            report.retried.append(sid)
            continue
        if parts_changed(record, (e.fingerprints or {}).get("part_s", 0.0), current_fps.get("part_s", 0.0)):
            actions.append((sid, "source", []))  # other part boundaries: other candidates
            report.recomputed_candidates += len(cands)
            if gone:
                blocked.append(e.path)
            continue
        if e.fingerprints != current_fps:
            recorded = e.fingerprints
            if not recorded or recorded.get("global") != current_fps["global"]:
                stale = list(cands) if record.status != STATUS_DROPPED else []
                actions.append((sid, "source", []))
            else:
                stale, rejudged = [], []
                for c in sorted(store.intact_candidates(sid, repair=False)):
                    stored = store.candidate_rows(sid, c, None)  # read once: path check and re-judging
                    if candidate_is_current(stored, recorded, current_fps):
                        continue
                    rows = rejudge(stored, recorded, current_fps, stages or {})
                    if rows is None:
                        stale.append(c)
                    else:
                        rejudged.append((c, rows))
                report.kept_candidates += len(cands) - len(stale) - len(rejudged)
                report.rejudged_candidates += len(rejudged)
                if stale:
                    actions.append((sid, "candidates", stale))
                if rejudged:
                    actions.append((sid, "rejudge", rejudged))
            report.recomputed_candidates += len(stale)
            if stale and gone and record.status != STATUS_DROPPED:
                blocked.append(e.path)
                continue
        damaged = store.damaged_candidates(sid, cands)
        if damaged:
            report.damaged_candidates += len(damaged)
            actions.append((sid, "candidates", damaged))
        if gone and record.status != STATUS_DROPPED and (damaged or not store.source_done(sid)):
            blocked.append(e.path)  # stored clips that cannot be finished without the file
    if blocked:
        raise PlanError(f"{len(blocked)} corpus sources must be recomputed but their files are missing (e.g. "
                        f"{blocked[0]}): mount the inputs again, or drop them with --prune-missing")
    for sid in report.moved:  # the same file at a new path: its record names the new path
        got = store.read_source(sid)
        if got is not None and got[0].path != catalog.entries[sid].path:
            got[0].path = catalog.entries[sid].path
            store.write_source(got[0], got[1])
    for sid, kind, cands in actions:
        if kind == "source":
            store.reopen_source(sid)
        elif kind == "rejudge":
            for c, rows in cands:
                store.rewrite_candidate(sid, c, rows)
            store.try_complete_source(sid)  # no decoding needed when nothing else was stale
        else:
            store.reopen_candidates(sid, cands)
    for e in catalog.entries.values():
        e.fingerprints = current_fps
    catalog.save()


def remove_sources(store, catalog: Catalog, sids: list[str], report: PlanReport) -> None:
    """Take sources out of the corpus: the catalog first (they leave the next publish), then
    their work files."""
    for sid in sids:
        catalog.entries.pop(sid, None)
    catalog.save()
    for sid in sids:
        store.reopen_source(sid)
    report.removed.extend(sids)


def missing_sources(catalog: Catalog) -> list[str]:
    """What ``--prune-missing`` drops: sources whose file is gone (or is no readable file), and
    entries no run can process (:meth:`Catalog.invalid`)."""
    bad = catalog.invalid()
    return [sid for sid, e in sorted(catalog.entries.items())
            if sid in bad or (not is_url(e.path) and content_id(e.path, e.content) is None)]

