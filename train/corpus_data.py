"""Training from a curated corpus's manifests: select clips with SQL, read only those, by offset.

``data: {corpus: DIR, where: "sync_backend = 'syncnet' and sync_conf >= 5"}`` in ``train.yaml``
(a threshold names its measure: :func:`check_where_scales`):

1. the kept clips of ``clips.parquet`` are filtered by ``where`` (an SQL condition over its
   columns, evaluated by DuckDB), so a threshold changes at training time with no shard rewritten;
2. ``shards.parquet`` gives each selected sample's shard, byte offset and size: the sample
   counts come from there (no tar header re-scan) and the loader seeks to each selected sample
   and reads only its bytes (:func:`lipforge.manifests.container.read_sample_at`), skipping the rest of the shard.

>>> idx = corpus_index("corpus/", "sync_conf >= 5")   # doctest: +SKIP
>>> idx.urls[0], idx.counts[0], idx.entries[0][0]      # doctest: +SKIP
('corpus/shards/shard-….tar', 412, (0, 183296))
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CorpusIndex:
    urls: list[str]  # shard paths holding at least one selected sample
    entries: list[list[tuple[int, int]]]  # per shard: (offset, size) of each selected sample, in tar order
    keys: list[list[str]]  # per shard: the selected keys, same order
    n_kept: int  # kept clips before ``where``

    @property
    def counts(self) -> list[int]:
        return [len(e) for e in self.entries]


# score column -> (the column naming its measure, the measures whose scale a threshold means)
SCORED_BY: dict[str, tuple[str, frozenset[str]]] = {
    "iqa_score": ("iqa_measure", frozenset({"hyperiqa"})),
    "sync_conf": ("sync_backend", frozenset({"syncnet"})),
    "sync_min_dist": ("sync_backend", frozenset({"syncnet"})),
}


def check_where_scales(where: str, kept) -> None:
    """Refuse a threshold on a score whose scale depends on the measure (``iqa_score >= 0.5`` is
    HyperIQA's scale; the Laplacian stand-in's scores all pass it) unless the condition also names
    the measure (``iqa_measure = 'hyperiqa' and iqa_score >= 0.5``) or every kept clip was scored
    by a measure that scale belongs to."""
    import re

    for score, (measure, trusted) in SCORED_BY.items():
        if not re.search(rf"\b{score}\b", where) or re.search(rf"\b{measure}\b", where):
            continue
        if measure not in kept.column_names:
            continue
        used = {m for m in kept[measure].to_pylist() if m is not None}
        other = sorted(used - trusted)
        if other:
            raise ValueError(f"data.where={where!r} thresholds {score}, but kept clips were scored by {measure} "
                             f"{', '.join(repr(m) for m in other)} (a stand-in on its own scale, not "
                             f"{'/'.join(sorted(trusted))}): write the condition per measure, e.g. "
                             f"({measure} = '{sorted(trusted)[0]}' and {score} ...), or re-score the corpus")


def _scored_by(clips_parquet: Path) -> str:
    """`` (kept clips scored by: ...)``: which measures a corpus's scores came from."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(clips_parquet)
    t = t.filter(pc.equal(t["status"], "kept"))
    parts = []
    for measure in sorted({m for m, _ in SCORED_BY.values()}):
        if measure in t.column_names:
            counts: dict[str, int] = {}
            for m in t[measure].to_pylist():
                counts[str(m)] = counts.get(str(m), 0) + 1
            parts += [f"{measure} {k!r} x{v}" for k, v in sorted(counts.items())]
    return f" (kept clips scored by: {', '.join(parts)})" if parts else ""


def select_keys(clips_parquet: Path, where: str | None) -> tuple[set[str], int]:
    """clip ids of the kept clips satisfying ``where`` (all kept ones when None), and the kept
    count. The condition is evaluated by the one SQL home shared with ``lipforge refilter``
    (:func:`lipforge.manifests.query.kept_ids_where`)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(clips_parquet, columns=None)
    if "status" not in table.column_names or "clip_id" not in table.column_names:
        raise ValueError(f"{clips_parquet}: not a lipforge clips manifest (no clip_id/status columns)")
    kept = table.filter(pc.equal(table["status"], "kept"))
    if not where:
        return set(kept["clip_id"].to_pylist()), kept.num_rows
    check_where_scales(where, kept)
    from lipforge.manifests.query import kept_ids_where

    try:
        ids = kept_ids_where(clips_parquet, where)
    except ValueError as e:
        raise ValueError(f"data.where over {clips_parquet}: {e}") from None
    return set(ids), kept.num_rows


def corpus_index(corpus: str | Path, where: str | None = None) -> CorpusIndex:
    """The selected samples of ``corpus``, located by ``shards.parquet`` (no shard is opened)."""
    import pyarrow.parquet as pq

    from lipforge.manifests import corpus as layout

    root = Path(corpus)
    man = layout.manifests_dir(root)  # resolved once: both manifests from one published generation
    clips_p, shards_p = man / "clips.parquet", man / "shards.parquet"
    for p in (clips_p, shards_p):
        if not Path(p).is_file():
            raise FileNotFoundError(f"data.corpus={str(root)!r}: {p} does not exist (not a curated corpus: "
                                    "run lipforge curate --output DIR first)")
    keys, n_kept = select_keys(Path(clips_p), where)
    if not keys:
        raise ValueError(f"data.where={where!r} selects none of the {n_kept} kept clips of {root}"
                         + _scored_by(clips_p))
    t = pq.read_table(shards_p, columns=["shard", "key", "offset", "size"]).to_pylist()
    by_shard: dict[str, list[tuple[int, int, str]]] = {}
    for r in t:
        if r["key"] in keys:
            by_shard.setdefault(r["shard"], []).append((int(r["offset"]), int(r["size"]), r["key"]))
    missing = keys - {k for rows in by_shard.values() for _, _, k in rows}
    if missing:
        raise ValueError(f"{shards_p}: {len(missing)} selected clips have no shard sample (e.g. {sorted(missing)[0]}); "
                         "the manifests and shards disagree: re-run lipforge curate")
    urls, entries, kk = [], [], []
    for shard in sorted(by_shard):
        rows = sorted(by_shard[shard])  # tar order
        url = str(layout.shard_path(root, shard))
        if not Path(url).is_file():
            raise FileNotFoundError(f"{shards_p} names shard {shard}, but {url} does not exist")
        urls.append(url)
        entries.append([(o, s) for o, s, _ in rows])
        kk.append([k for _, _, k in rows])
    return CorpusIndex(urls, entries, kk, n_kept)
