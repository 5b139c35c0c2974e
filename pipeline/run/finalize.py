"""Turn the durable per-candidate results into the published corpus.

Deterministic and idempotent: manifests sorted by id, samples packed into bounded shards in
clip-id order, so an interrupted-and-resumed run publishes exactly the bytes an uninterrupted
one does. Incremental: shards are planned from the candidate tars' headers and only shards
whose content changed are written (:class:`lipforge.pipeline.store.shards.ShardPublisher`), so a rerun that
adds nothing writes no shard and one that adds sources rewrites the shards from the first new
key on. Atomic: the manifests go into a new generation directory and the ``manifests`` pointer
is replaced last (:mod:`lipforge.pipeline.store.generations`), so a reader sees the old corpus or the
new one, never a mix, however the publish ends. Writes ``generations/<n>/{sources,clips,shards}
.parquet`` (``manifests`` points there), ``shards/*.tar``, ``summary.json`` and ``report.html``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lipforge.manifests.schema import (SHARD_COLUMNS, SOURCE_COLUMNS, STATUS_KEPT, ShardRecord, arrow_schema,
                              clip_columns)
from lipforge.pipeline.stages.config import RunConfig
from lipforge.pipeline.report.corpus_stats import candidate_seconds, corpus_rows
from lipforge.pipeline.source.inputs import SourceInput
from lipforge.pipeline.report.accounting import dataset_accounting
from lipforge.pipeline.report.provenance import add_provenance, source_sync_offsets
from lipforge.pipeline.report.html import write_report
from lipforge.manifests.corpus import current_generation, shards_dir
from lipforge.pipeline.store import generations as gens
from lipforge.pipeline.store.release import candidate_refs, release_published
from lipforge.pipeline.store.shards import DamagedSamples, ShardPlan, ShardPublisher
from lipforge.pipeline.store.atomic import atomic_write_bytes, atomic_write_parquet
from lipforge.pipeline.store.work import WorkStore


def _published_records(path: Path) -> dict[str, list[ShardRecord]]:
    """Rows of the last published shards manifest by shard file name ({} when unreadable)."""
    try:
        rows = pq.read_table(path, columns=["shard", "key", "offset", "size", "n_frames"]).to_pylist()
    except (OSError, pa.ArrowInvalid, KeyError):
        return {}
    out: dict[str, list[ShardRecord]] = {}
    for r in rows:
        name = r["shard"].rpartition("/")[2]
        out.setdefault(name, []).append(ShardRecord(shard=name, key=r["key"], offset=r["offset"],
                                                    size=r["size"], n_frames=r["n_frames"]))
    return out


def finalize(sources: list[SourceInput], output: str, cfg: RunConfig, extra_stats: dict | None = None,
             prior_stats: frozenset[str] = frozenset()) -> dict:
    """Publish; ``prior_stats``: the stats files of earlier runs (this run's work is the rest)."""
    out = Path(output)
    store = WorkStore(out)
    sources = sorted(sources, key=lambda s: s.source_id)  # the shards' key order starts here
    src_rows, incomplete = [], []
    for s in sources:
        got = store.read_source(s.source_id)
        if got is None or not store.try_complete_source(s.source_id):
            incomplete.append(s.source_id)
            continue
        src_rows.append(got[0].to_row())
    if incomplete:
        raise RuntimeError(f"{len(incomplete)} sources are not complete (e.g. {incomplete[:3]}); run curate again to finish them")

    clip_tables, parquets = [], []
    for s in sources:
        d = store.group_dir(s.source_id)
        if d.exists():
            for p in sorted(d.glob("*.parquet")):
                clip_tables.append(pq.read_table(p))
                parquets.append(p)
    schema = arrow_schema(clip_columns())
    clips = pa.concat_tables([t.cast(schema) for t in clip_tables]) if clip_tables else schema.empty_table()
    clips = clips.sort_by("clip_id")

    # Sources are visited in id order, candidates in id order and samples in key order inside a
    # candidate tar; ids are "{source_id}-{start_ms:08d}-{track}" with source ids made of
    # [A-Za-z0-9_] (all sorting after '-'), so this stream is already in global key order. Only
    # tar headers are read to plan the shards; sample bytes are read for shards that changed.
    # A candidate's tar may hold samples of clips re-judged as dropped since (lipforge.pipeline.stages.rejudge):
    # only kept clips are published.
    kept_ids = set(clips.filter(pa.compute.equal(clips["status"], STATUS_KEPT))["clip_id"].to_pylist())
    sha_of: dict[str, str | None] = {}
    check = CopyCheck(store)

    def kept_refs():  # from candidate tars, or from the shards a candidate was released to
        for p in parquets:
            got, sha = candidate_refs(store, p)
            check.add(p, [r for r in got if r.key in kept_ids], sha)
            for r in got:
                if r.key in kept_ids:
                    sha_of[r.key] = sha
                    yield r

    def identity(r) -> str | None:  # where the bytes come from does not change what they are
        sha = sha_of.get(r.key)
        return f"{sha}/{r.key}/{[(e, n) for e, _, n in r.members]}" if sha else None

    publisher = ShardPublisher(shards_dir(out), store.work / "published_shards.json",
                               ShardPlan(cfg.shards.max_samples, cfg.shards.max_bytes, cfg.shards.boundaries),
                               identity=identity, intact=check)
    cur = current_generation(out)
    try:
        recs = publisher.publish(kept_refs(), _published_records(cur / "shards.parquet") if cur else {})
    except DamagedSamples as e:  # nothing published: those candidates are recomputed, then publish again
        raise DamagedCandidates(check.reopen(e.refs)) from None
    shard_of = {r.key: f"shards/{r.shard}" for r in recs}
    if kept_ids != set(shard_of):
        raise RuntimeError(f"manifest and shards disagree: {len(kept_ids ^ set(shard_of))} ids differ")
    clips = clips.set_column(clips.schema.get_field_index("shard"), "shard",
                             pa.array([shard_of.get(c) for c in clips["clip_id"].to_pylist()], pa.string()))
    staged = gens.stage_generation(out)
    atomic_write_parquet(pa.Table.from_pylist(sorted(src_rows, key=lambda r: r["source_id"]),
                                        schema=arrow_schema(SOURCE_COLUMNS)), staged / "sources.parquet")
    atomic_write_parquet(clips, staged / "clips.parquet")
    shard_rows = [dict(r.__dict__, shard=f"shards/{r.shard}") for r in recs]
    atomic_write_parquet(pa.Table.from_pylist(shard_rows, schema=arrow_schema(SHARD_COLUMNS)), staged / "shards.parquet")
    cfg.save(staged / "run_config.yaml")
    gen = gens.seal(out, staged)  # None: the same manifests as the current generation
    if gen is not None:
        gens.switch(out, gen)  # the pointer, replaced last: from here readers see the new corpus
    cfg.save(out / "run_config.yaml")
    # release records follow their samples (and, with keep_work_samples off, tars are released)
    # before the files only the previous generations named are deleted
    n_released = release_published(store, parquets, [shards_dir(out) / n for n in sorted({r.shard for r in recs})],
                                   cfg.shards.keep_work_samples)
    publisher.commit(keep=gens.referenced_shards(out))  # files no live generation names go now
    gens.collect(out)

    run_stats = store.read_stats(skip=prior_stats)  # this run's work
    clip_rows = clips.to_pylist()
    stats = corpus_stats(clip_rows, cfg)  # the corpus's counts, as a fresh run's counters give them
    summary = build_summary(src_rows, clip_rows, stats, recs)
    summary["stages"] = corpus_rows(stats, run_stats, _stage_order)
    summary["shards"].update(written=len(publisher.written), reused=len(publisher.reused), released_now=n_released)
    add_provenance(summary, cfg, sources, stats)  # per stage: ran / fallback / skipped, measure, weights, rule
    summary["provenance"]["sync_source_offsets"] = source_sync_offsets(clip_rows)  # information, never applied
    if extra_stats:
        summary.update(extra_stats)
    summary["work"] = run_work(run_stats, summary)
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2, sort_keys=True).encode())
    write_report(out, summary, clip_rows, store, cfg.report_thumbnails_per_reason)
    return summary


class DamagedCandidates(RuntimeError):
    """Committed candidates whose sample bytes, read to publish them, are not what was computed;
    they were reopened (:meth:`WorkStore.reopen_candidates`): the runner recomputes them."""

    def __init__(self, parquets: list[Path]) -> None:
        super().__init__(f"{len(parquets)} stored candidates hold bytes that do not match the sha256 recorded "
                         f"when they were computed (e.g. {parquets[0].with_suffix('.tar')})")
        self.parquets = parquets


class CopyCheck:
    """``intact(ref, sample)`` for :class:`ShardPublisher`: a sample's bytes against the digest
    recorded when it was encoded (``WorkStore.recorded_samples``); a candidate from before
    per-sample digests is checked whole, its tar against its recorded sha256."""

    def __init__(self, store: WorkStore) -> None:
        self.store = store
        self.want: dict[str, str | None] = {}  # key -> sample digest
        self.parquet_of: dict[str, Path] = {}
        self.tar_sha: dict[str, str | None] = {}  # tar path -> recorded sha256 (legacy candidates)
        self._tar_ok: dict[str, bool] = {}

    def add(self, parquet: Path, refs: list, tar_sha: str | None) -> None:
        digests = self.store.recorded_samples(parquet) or {}
        for r in refs:
            self.want[r.key], self.parquet_of[r.key] = digests.get(r.key), parquet
            if r.key not in digests and r.tar == str(parquet.with_suffix(".tar")):
                self.tar_sha[r.tar] = tar_sha

    def __call__(self, ref, sample: dict) -> bool:
        from lipforge.manifests.container import sample_digest

        want = self.want.get(ref.key)
        if want is not None:
            return sample_digest(sample) == want
        sha = self.tar_sha.get(ref.tar)
        if not sha:
            return True  # nothing recorded to check against (a released candidate from before)
        if ref.tar not in self._tar_ok:
            import hashlib

            with open(ref.tar, "rb") as f:
                self._tar_ok[ref.tar] = hashlib.file_digest(f, "sha256").hexdigest() == sha
        return self._tar_ok[ref.tar]

    def reopen(self, refs: list) -> list[Path]:
        """Forget the candidates ``refs`` came from (the next run recomputes them)."""
        parquets = sorted({self.parquet_of[r.key] for r in refs})
        for p in parquets:
            self.store.reopen_candidates(p.parent.name, [p.name[: -len(".parquet")]])
        return parquets


def corpus_stats(clip_rows: list[dict], cfg: RunConfig) -> dict:
    from lipforge.pipeline.report.corpus_stats import corpus_stage_stats
    from lipforge.pipeline.stages.registry import stage_classes

    enabled = {n: c for n, c in stage_classes().items() if cfg.stage_config(n).enabled}
    return corpus_stage_stats(clip_rows, list(enabled), {n for n, c in enabled.items() if getattr(c, "SPLITS", False)})


def run_work(run_stats: dict, summary: dict) -> dict:
    """What this run did: candidates pushed through the stages (decoded), re-judged from stored
    scores, reused as stored, and its per-stage counters."""
    seg = run_stats.get("segment")
    computed = seg.items_in if seg else 0
    rejudged = summary.get("store", {}).get("candidates_rejudged", 0)
    return {"candidates_computed": computed, "candidates_rejudged": rejudged,
            "candidates_reused": max(0, summary["clips"]["candidates"] - computed - rejudged),
            "stages": [run_stats[k].as_dict() for k in sorted(run_stats, key=_stage_order)]}


def _stage_order(name: str) -> int:
    from lipforge.pipeline.stages.registry import STAGES

    order = ["segment", *STAGES]
    return order.index(name) if name in order else len(order)


def build_summary(src_rows: list[dict], clip_rows: list[dict], stats: dict, shard_recs: list) -> dict:
    from collections import Counter

    hours = lambda secs: round(secs / 3600.0, 6)  # noqa: E731
    src_ok = [r for r in src_rows if r["status"] == "ok"]
    kept = [c for c in clip_rows if c["status"] == STATUS_KEPT]
    per_stage: dict[str, Counter] = {}
    for c in clip_rows:
        if c["status"] != STATUS_KEPT:
            per_stage.setdefault(c["dropped_by"] or "?", Counter())[c["reason"]] += 1
    return {
        "sources": {"in": len(src_rows), "ok": len(src_ok),
                    "dropped": dict(Counter(r["reason"] for r in src_rows if r["status"] != "ok")),
                    # a range source counts the seconds it covers (span_s), not its whole file
                    "hours_in": hours(sum((r["span_s"] if r.get("span_s") is not None else r["duration_s"]) or 0.0
                                          for r in src_rows))},
        "clips": {"candidates": len({c["parent_id"] for c in clip_rows}), "rows": len(clip_rows),
                  "kept": len(kept), "hours_kept": hours(sum(c["duration_s"] for c in kept)),
                  "hours_candidates": hours(candidate_seconds(clip_rows)),
                  "dropped": dict(Counter(c["reason"] for c in clip_rows if c["status"] != STATUS_KEPT))},
        "dropped_by_stage": {k: dict(v) for k, v in sorted(per_stage.items())},
        "stages": [stats[k].as_dict() for k in sorted(stats, key=_stage_order)],
        "shards": {"count": len({r.shard for r in shard_recs}), "samples": len(shard_recs)},
        # hours in / per stage / kept per dataset (issue 16; lipforge.pipeline.report.accounting)
        "datasets": dataset_accounting(src_rows, clip_rows, sorted(stats, key=_stage_order)),
    }
