"""Re-filter a curated corpus from its stored scores alone: no decoding, no model, seconds.

``lipforge refilter --corpus DIR --where "sync_conf >= 5 and iqa_score >= 0.5" --output VIEW``
writes a corpus view: ``VIEW/manifests/{sources,clips,shards}.parquet`` where every kept clip the
condition rejects is dropped with reason ``refilter_where`` (``dropped_by`` = ``refilter``), and
``shards.parquet`` lists only the selected samples. By default the samples stay in the corpus's
shards (``shards.parquet`` rows give each one's shard, relative to the view, and byte offset;
``shards.txt`` lists those shard files) so nothing is copied; a tar reader that cannot seek must
use ``--republish``, which packs the selected samples into ``VIEW/shards/`` with the corpus's
shard plan: member bytes copied as they are, so the view's shards are the shards a fresh run with
the tighter threshold writes. ``VIEW/summary.json`` says what changed (clips and hours kept
before and after, and per source).

The condition is DuckDB SQL over clips.parquet (:mod:`lipforge.manifests.query`); NULL is false, so a
condition on a score a stage never measured rejects the clip.

>>> refilter("corpus", "speech_ratio >= 0.5", "corpus_view")       # doctest: +SKIP
{'refilter': {...}, 'before': {'kept': 26, ...}, 'after': {'kept': 21, ...}, ...}
"""
from __future__ import annotations

import datetime
import json
import os
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lipforge.manifests.corpus import manifest_path, manifests_dir, shard_path, shards_dir
from lipforge.manifests.query import check_where, kept_ids_where
from lipforge.manifests.schema import STATUS_DROPPED, STATUS_KEPT
from lipforge.pipeline.store.atomic import atomic_write_bytes, atomic_write_parquet

REASON = "refilter_where"
BY = "refilter"


def corpus_files(corpus: Path) -> dict[str, Path]:
    """The files of a published corpus a view is built from (a missing one: FileNotFoundError)."""
    man = manifests_dir(corpus)  # resolved once: all three from one published generation
    files = {name: man / f"{name}.parquet" for name in ("clips", "sources", "shards")}
    files["config"] = corpus / "run_config.yaml"
    for name, p in files.items():
        if not p.is_file():
            raise FileNotFoundError(f"--corpus {corpus}: {p} not found; is it the --output of a finished lipforge curate?")
    return files


def _check_output(corpus: Path, output: Path) -> None:
    if output.resolve() == corpus.resolve() or corpus.resolve() in output.resolve().parents:
        raise ValueError(f"--output {output}: must not be the corpus or inside it (a view never changes the corpus)")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise FileExistsError(f"--output {output}: exists and is not empty; give a new directory")


def _hours(rows: list[dict]) -> float:
    return round(sum(r["duration_s"] for r in rows) / 3600.0, 6)


def _republish(corpus: Path, output: Path, shard_rows: list[dict], cfg_path: Path) -> list:
    """Pack the selected samples into output/shards with the corpus's shard plan (bytes copied)."""
    from lipforge.pipeline.stages.config import RunConfig
    from lipforge.manifests.container import scan_tar
    from lipforge.pipeline.store.shards import DamagedSamples, ShardPlan, ShardPublisher

    want: dict[str, set[str]] = {}
    for r in shard_rows:
        want.setdefault(r["shard"], set()).add(r["key"])
    refs = []
    for shard in sorted(want):  # shard names sort in key order, samples inside are in key order
        refs += [ref for ref in scan_tar(shard_path(corpus, shard)) if ref.key in want[shard]]
    refs.sort(key=lambda r: r.key)
    sc = RunConfig.load(cfg_path).shards
    pub = ShardPublisher(shards_dir(output), output / "work" / "published_shards.json",
                         ShardPlan(sc.max_samples, sc.max_bytes, sc.boundaries), intact=SourceCheck(corpus))
    try:
        recs = pub.publish(refs, {})
    except DamagedSamples as e:
        from lipforge.errors import UserError

        r = e.refs[0]
        raise UserError(f"refilter --republish: {len(e.refs)} samples in {corpus}'s shards do not hold the bytes "
                        f"computed for them (e.g. {r.key} in {r.tar}); nothing damaged was copied. Run "
                        f"`lipforge curate --output {corpus} --verify --repair`, then refilter again") from None
    pub.commit()
    return recs


class SourceCheck:
    """``intact(ref, sample)`` for a republish: a sample copied out of a corpus's published shards
    holds the bytes computed for it (the digests its work store recorded,
    :func:`~lipforge.pipeline.store.verify.recorded_digests`); a sample with no recorded digest
    (a view's corpus without its work store, a corpus from before the digests) is checked through
    its shard, whose bytes must hash to the digest in its name."""

    def __init__(self, corpus: Path) -> None:
        self.want: dict[str, str] = {}
        self._shard_ok: dict[str, bool] = {}
        if (corpus / "work").is_dir():
            from lipforge.pipeline.store.catalog import Catalog
            from lipforge.pipeline.store.verify import recorded_digests
            from lipforge.pipeline.store.work import WorkStore

            store = WorkStore(corpus)
            self.want = recorded_digests(store, Catalog.load(store))

    def __call__(self, ref, sample: dict) -> bool:
        from lipforge.manifests.container import sample_digest

        want = self.want.get(ref.key)
        if want is not None:
            return sample_digest(sample) == want
        if ref.tar not in self._shard_ok:
            import hashlib

            named = Path(ref.tar).name[: -len(".tar")].rpartition("-")[2]
            with open(ref.tar, "rb") as f:
                got = hashlib.file_digest(f, "sha256").hexdigest()
            self._shard_ok[ref.tar] = len(named) != 12 or got[:12] == named
        return self._shard_ok[ref.tar]


def refilter(corpus: str | Path, where: str, output: str | Path, republish: bool = False) -> dict:
    """Write the view of ``corpus`` whose kept clips are those where ``where`` holds; returns its summary."""
    t0 = time.perf_counter()
    corpus, output = Path(corpus), Path(output)
    files = corpus_files(corpus)
    where = check_where(where)
    _check_output(corpus, output)
    selected = set(kept_ids_where(files["clips"], where))  # ValueError on a bad condition, before any write
    rows = pq.read_table(files["clips"]).to_pylist()
    for r in rows:
        if r["status"] == STATUS_KEPT and r["clip_id"] not in selected:
            r.update(status=STATUS_DROPPED, reason=REASON, dropped_by=BY, shard=None)
    return write_view(corpus, files, output, rows, republish,
                      {"refilter": {"corpus": str(corpus.resolve()), "where": where, "republished": republish}}, t0)


def write_view(corpus: Path, files: dict[str, Path], output: Path, rows: list[dict], republish: bool,
               header: dict, t0: float) -> dict:
    """Write a view of ``corpus`` whose clips.parquet is ``rows`` (a kept clip of the corpus that
    ``rows`` drops leaves the view's shards); returns and writes its summary (``header``'s one key
    gets the date and seconds)."""
    before = [r for r in pq.read_table(files["clips"]).to_pylist() if r["status"] == STATUS_KEPT]
    selected = {r["clip_id"] for r in rows if r["status"] == STATUS_KEPT}
    gone = [r for r in before if r["clip_id"] not in selected]
    shard_rows = [r for r in pq.read_table(files["shards"]).to_pylist() if r["key"] in selected]

    output.mkdir(parents=True, exist_ok=True)
    if republish:
        recs = _republish(corpus, output, shard_rows, files["config"])
        shard_rows = [dict(r.__dict__, shard=f"shards/{r.shard}") for r in recs]
    else:
        rel = {s: os.path.relpath(shard_path(corpus, s), output) for s in {r["shard"] for r in shard_rows}}
        shard_rows = [dict(r, shard=rel[r["shard"]]) for r in shard_rows]
    shard_of = {r["key"]: r["shard"] for r in shard_rows}
    for r in rows:
        if r["status"] == STATUS_KEPT:
            r["shard"] = shard_of[r["clip_id"]]
    atomic_write_parquet(pq.read_table(files["sources"]), manifest_path(output, "sources"))
    atomic_write_parquet(pa.Table.from_pylist(rows, schema=pq.read_schema(files["clips"])), manifest_path(output, "clips"))
    atomic_write_parquet(pa.Table.from_pylist(shard_rows, schema=pq.read_schema(files["shards"])), manifest_path(output, "shards"))
    (output / "run_config.yaml").write_bytes(files["config"].read_bytes())
    shard_files = sorted({r["shard"] for r in shard_rows})
    (output / "shards.txt").write_text("".join(f"{s}\n" for s in shard_files))

    after = [r for r in rows if r["status"] == STATUS_KEPT]
    per_source: dict[str, list[int]] = {}
    for r in before:
        per_source.setdefault(r["source_id"], [0, 0])[0] += 1
    for r in after:
        per_source[r["source_id"]][1] += 1
    (key, head), = header.items()
    summary = {
        key: {**head, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "seconds": round(time.perf_counter() - t0, 3)},
        "before": {"kept": len(before), "hours_kept": _hours(before)},
        "after": {"kept": len(after), "hours_kept": _hours(after), "shards": len(shard_files)},
        "newly_dropped": {"clips": len(gone), "hours": _hours(gone),
                          "by_source": {s: n for s, n in sorted(Counter(r["source_id"] for r in gone).items())}},
        "sources_changed": [{"source_id": s, "kept_before": b, "kept_after": a}
                            for s, (b, a) in sorted(per_source.items()) if a != b],
    }
    atomic_write_bytes(output / "summary.json", json.dumps(summary, indent=2, sort_keys=True).encode())
    return summary


def main(argv: list[str] | None = None) -> int:
    """``lipforge refilter`` (the dispatcher prints user errors as one line, exit code 2)."""
    import argparse

    from lipforge.errors import UserError

    p = argparse.ArgumentParser(prog="lipforge refilter", description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, help="the --output directory of a finished lipforge curate")
    p.add_argument("--where", required=True, help="SQL condition over clips.parquet, e.g. \"sync_conf >= 5\"")
    p.add_argument("--output", required=True, help="a new directory for the view")
    p.add_argument("--republish", action="store_true",
                   help="copy the selected samples into VIEW/shards (default: point into the corpus's shards)")
    args = p.parse_args(argv)
    try:
        s = refilter(args.corpus, args.where, args.output, republish=args.republish)
    except ImportError as e:  # duckdb missing: the message is the install hint
        raise UserError(str(e)) from None
    b, a = s["before"], s["after"]
    print(f"refilter {args.where!r}: kept {b['kept']} -> {a['kept']} clips "
          f"({b['hours_kept'] * 3600:.1f} -> {a['hours_kept'] * 3600:.1f} s) in {s['refilter']['seconds']:.2f} s; "
          f"{len(s['sources_changed'])} sources changed")
    print(f"view: {args.output}/manifests/ (shards.parquet: sample locations), {args.output}/summary.json")
    return 0
