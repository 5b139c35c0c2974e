"""Turn the durable per-candidate results into the published corpus.

Deterministic and idempotent: manifests sorted by id, samples packed into bounded shards in
clip-id order, so an interrupted-and-resumed run publishes exactly the bytes an uninterrupted
one does. Incremental: shards are planned from the candidate tars' headers and only shards
whose content changed are written (:class:`lipforge.pipeline.shards.ShardPublisher`), so a rerun that
adds nothing writes no shard and one that adds sources rewrites the shards from the first new
key on. Atomic: the manifests go into a new generation directory and the ``manifests`` pointer
is replaced last (:mod:`lipforge.pipeline.generations`), so a reader sees the old corpus or the
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
from lipforge.pipeline.config import RunConfig
from lipforge.pipeline.corpus_stats import corpus_rows
from lipforge.pipeline.curate import SourceInput
from lipforge.pipeline.datasets.accounting import dataset_accounting
from lipforge.pipeline.provenance import add_provenance, source_sync_offsets
from lipforge.pipeline.report import write_report
from lipforge.manifests.corpus import current_generation, shards_dir
from lipforge.pipeline import generations as gens
from lipforge.pipeline.release import candidate_refs, release_published
from lipforge.pipeline.shards import ShardPlan, ShardPublisher
from lipforge.pipeline.store import WorkStore, atomic_write_bytes, atomic_write_parquet


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
    # A candidate's tar may hold samples of clips re-judged as dropped since (lipforge.pipeline.rejudge):
    # only kept clips are published.
    kept_ids = set(clips.filter(pa.compute.equal(clips["status"], STATUS_KEPT))["clip_id"].to_pylist())
    sha_of: dict[str, str | None] = {}

    def kept_refs():  # from candidate tars, or from the shards a candidate was released to
        for p in parquets:
            got, sha = candidate_refs(store, p)
            for r in got:
                if r.key in kept_ids:
                    sha_of[r.key] = sha
                    yield r

    def identity(r) -> str | None:  # where the bytes come from does not change what they are
        sha = sha_of.get(r.key)
        return f"{sha}/{r.key}/{[(e, n) for e, _, n in r.members]}" if sha else None

    publisher = ShardPublisher(shards_dir(out), store.work / "published_shards.json",
                               ShardPlan(cfg.shards.max_samples, cfg.shards.max_bytes, cfg.shards.boundaries),
                               identity=identity)
    cur = current_generation(out)
    recs = publisher.publish(kept_refs(), _published_records(cur / "shards.parquet") if cur else {})
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


def corpus_stats(clip_rows: list[dict], cfg: RunConfig) -> dict:
    from lipforge.pipeline.corpus_stats import corpus_stage_stats
    from lipforge.pipeline.registry import stage_classes

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


def _stage_order(name: str) -> int:
    from lipforge.pipeline.registry import STAGES

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
        # hours in / per stage / kept per dataset (issue 16; lipforge.pipeline.datasets.accounting)
        "datasets": dataset_accounting(src_rows, clip_rows, sorted(stats, key=_stage_order)),
    }
