"""One ``lipforge curate`` run, start to end: lock, catalog, plan, run, publish, unlock.

    lock the output (one writer)  ->  load the catalog (the corpus so far)
    -> [--verify [--repair]]  -> [--remove LIST] [--prune-missing]  -> add --input
    -> plan: what changed, what is stale, what is damaged (nothing deleted before every check)
    -> free-space check  -> run the stages over what is left to do (local or Ray runner)
    -> publish a new generation of manifests + shards (:mod:`lipforge.pipeline.run.finalize`)

User-fixable failures (a busy output, an unwritable output, a full disk, a missing input
mount, a bad list or config) end as one line naming the path and what to do, exit code 2; a
run that fails this way publishes nothing, and running it again once the cause is fixed
gives what a clean run gives.
"""
from __future__ import annotations

import errno
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lipforge.errors import UserError

SPACE_MARGIN = 1.25  # headroom over the estimate
DEFAULT_BYTES_RATIO = 1.0  # work + shard bytes per input byte before this corpus measured its own
MIN_FREE = 64 << 20


@dataclass
class CurateRequest:
    output: str
    input: str | None = None
    config: str | None = None
    runner: str = "ray"
    address: str | None = None
    num_cpus: int | None = None
    models_dir: str | None = None
    remove: str | None = None
    prune_missing: bool = False
    verify: bool = False
    repair: bool = False
    skip_space_check: bool = False
    notes: list[str] = field(default_factory=list)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def load_config(req: CurateRequest):
    """``--config``, else the corpus's own ``run_config.yaml`` (said so), else the defaults."""
    import dataclasses

    from lipforge.pipeline.stages.config import RunConfig

    path = req.config
    saved = Path(req.output) / "run_config.yaml"
    if path is None and saved.exists():
        path = str(saved)
        _say(f"[curate] no --config: using the corpus's {saved}")
    cfg = RunConfig.load(path)
    if req.models_dir:
        cfg = dataclasses.replace(cfg, models_dir=req.models_dir)
    return cfg


def io_error_message(e: OSError, output: str) -> str | None:
    where = e.filename or output
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"disk full writing {where}: free space there (or use another --output) and run the same "
                "command again; finished work is kept and the published corpus is unchanged")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {where} ({e.strerror}): make the output writable or choose another --output"
    if e.errno in (errno.ENOTDIR, errno.EEXIST) and str(where).startswith(str(output)):
        return f"cannot use {where} as an output directory ({e.strerror}): choose another --output"
    return None


def find_os_error(e: BaseException) -> OSError | None:
    """The OSError behind ``e``, also when a Ray task raised it on a worker (the driver then gets
    a RayTaskError whose chain may only survive as text)."""
    import re

    seen, first = set(), e
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError):
            return e
        e = getattr(e, "cause", None) or e.__cause__ or e.__context__
    m = re.search(r"OSError: \[Errno (\d+)\] ([^:\n]+)(?:: '([^'\n]+)')?", str(first))
    if m:
        return OSError(int(m.group(1)), m.group(2).strip(), m.group(3))
    return None


def dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.exists() else 0


def check_free_space(out: Path, store, todo: list, done: list) -> None:
    """Refuse to start when the output's filesystem clearly cannot hold the run: the bytes this
    corpus stored per input byte so far (or 1.0 before it has any) times the input bytes left."""
    import os

    size = lambda s: os.path.getsize(s.path) if os.path.isfile(s.path) else 0
    todo_bytes = sum(size(s) for s in todo)
    done_bytes = sum(size(s) for s in done)
    stored = dir_bytes(store.work / "groups") + dir_bytes(out / "shards")
    ratio = stored / done_bytes if done_bytes and stored else DEFAULT_BYTES_RATIO
    need = int(todo_bytes * ratio * SPACE_MARGIN) + MIN_FREE
    free = shutil.disk_usage(out).free
    if free < need:
        raise UserError(f"not enough free space on {out}: about {need / 1e9:.2f} GB needed for "
                        f"{len(todo)} sources ({todo_bytes / 1e9:.2f} GB in, {ratio:.2f} stored bytes per input byte), "
                        f"{free / 1e9:.2f} GB free; free space or use another --output (--skip-space-check to try anyway)")


def run(req: CurateRequest) -> dict:
    """Run ``req``; returns the summary (for ``--verify`` without ``--repair``: the findings).
    User-fixable failures raise :class:`lipforge.errors.UserError` (one line, exit code 2)."""
    try:
        return _run(req)
    except UserError:
        raise
    except Exception as e:
        os_err = find_os_error(e)
        msg = io_error_message(os_err, req.output) if os_err is not None else None
        if msg is None:
            raise
        raise UserError(msg) from e


def _run(req: CurateRequest) -> dict:
    from lipforge.pipeline.store.catalog import Catalog, read_name_list
    from lipforge.pipeline.run.curate import list_inputs
    from lipforge.pipeline.stages.build import build_stages
    from lipforge.pipeline.store.fingerprint import run_fingerprints
    from lipforge.pipeline.store.lock import OutputLock, OutputLocked
    from lipforge.pipeline.run.plan import PlanError, PlanReport, missing_sources, plan_and_apply, remove_sources
    from lipforge.pipeline.store.work import WorkStore

    out = Path(req.output)
    if out.exists() and not out.is_dir():
        raise UserError(f"--output {out} is a file, not a directory: choose another --output")
    try:  # configuration problems (bad values, missing model files, bad input lists) end here
        cfg = load_config(req)
        skipped: list[tuple[str, str]] = []
        sources = list_inputs(req.input, skipped) if req.input else []
        stages = build_stages(cfg)
        for st in stages:
            st.check_models()  # a model file that does not load: one line now, not a traceback mid-run
        if req.runner == "local":
            from lipforge.pipeline.run.runners.local import LocalRunner

            runner = LocalRunner(cfg)
        else:
            from lipforge.pipeline.run.runners.ray_runner import RayRunner

            runner = RayRunner(cfg, address=req.address, num_cpus=req.num_cpus)
            runner.close_in_background = True  # Ray stops while finalize publishes (joined below)
        removal = read_name_list(req.remove) if req.remove else []
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None
    if req.repair and not req.verify:
        raise UserError("--repair needs --verify (it repairs what the verification finds)")
    if not sources and not (out / "work").is_dir():  # say so before creating anything
        raise UserError(f"{out} holds no corpus yet: give --input (a directory or a list of videos)")
    lock = OutputLock(out)
    try:
        lock.acquire()
    except OutputLocked as e:
        raise UserError(str(e)) from None
    try:
        store = WorkStore(out)
        if req.runner != "local" and not req.verify and any(not store.source_done(s.source_id) for s in sources):
            # Ray's processes come up while this driver plans (joined in runner.run; stopped by
            # runner.wait_closed below when nothing turns out to be left to do)
            runner.start_early()
        catalog = Catalog.load(store)
        if not catalog.entries and not sources:
            raise UserError(f"{out} holds no corpus yet: give --input (a directory or a list of videos)")
        fps = run_fingerprints(cfg, stages)
        if catalog.adopted:
            _adopt(catalog, out, fps)
        report = PlanReport()
        if req.verify:
            found = _verify(store, catalog, out, req.repair)
            if not req.repair:
                return {"verify": found}
        try:
            if removal:
                remove_sources(store, catalog, catalog.resolve(removal), report)
            if req.prune_missing:
                gone = missing_sources(catalog)
                remove_sources(store, catalog, gone, report)
            for sid in report.removed:
                _say(f"[curate] removed from the corpus: {sid}")
            bad = catalog.invalid()
            if bad:
                sid = next(iter(bad))
                raise UserError(f"{len(bad)} corpus sources in {catalog.path} cannot be processed (e.g. {bad[sid]}); "
                                f"drop them with --remove {sid if len(bad) == 1 else '<their ids>'} or --prune-missing")
            plan_and_apply(store, catalog, sources, fps, report, {s.name: s for s in stages})
        except (PlanError, ValueError) as e:
            raise UserError(str(e)) from None
        corpus = catalog.sources()
        todo = [s for s in corpus if not store.source_done(s.source_id)]
        if not req.skip_space_check:
            check_free_space(out, store, todo, [s for s in corpus if store.source_done(s.source_id)])
        if report.missing:
            _say(f"[curate] {len(report.missing)} corpus sources have no file any more (e.g. "
                 f"{catalog.entries[report.missing[0]].path}); their clips stay published; --prune-missing drops them")
        if skipped:
            _say(f"[curate] {skipped_line(skipped, req.input)}")
        prior = store.stats_files()  # earlier runs' counters: this run's work is what it adds
        if todo:
            runner.run(todo, str(out))
        summary = _publish(runner, store, corpus, out, cfg, {"store": report, "inputs_skipped": skipped_summary(skipped)},
                           prior)
    finally:
        try:
            runner.wait_closed()  # Ray fully stopped before the output is unlocked
        finally:
            lock.release()
    return summary


def skipped_summary(skipped: list[tuple[str, str]], max_listed: int = 1000) -> dict:
    """``summary.json``'s ``inputs_skipped``: the names the folder listing skipped, by reason."""
    from collections import Counter

    return {"count": len(skipped), "by_reason": dict(sorted(Counter(r for _, r in skipped).items())),
            "files": [{"path": p, "reason": r} for p, r in skipped[:max_listed]]}


def skipped_line(skipped: list[tuple[str, str]], where: str) -> str:
    by = skipped_summary(skipped, 0)["by_reason"]
    return (f"skipped {len(skipped)} names in {where} ({', '.join(f'{n} {r}' for r, n in by.items())}; "
            f"e.g. {skipped[0][0]}): see the listing rule in README, the list in summary.json (inputs_skipped)")


def _publish(runner, store, corpus: list, out: Path, cfg, extra: dict, prior: frozenset[str]) -> dict:
    """Publish; stored candidates whose bytes turn out damaged as they are copied into the shards
    are recomputed and the publish done again (once: damage that comes back stops the run).
    ``extra["store"]``: the run's :class:`PlanReport`."""
    from lipforge.pipeline.run.finalize import DamagedCandidates, finalize
    from lipforge.pipeline.source.files import source_file_problem

    report = extra["store"]

    def publish() -> dict:
        return finalize(corpus, str(out), cfg, extra_stats={**extra, "store": report.as_dict()}, prior_stats=prior)

    try:
        return publish()
    except DamagedCandidates as e:
        _say(f"[curate] {e}: recomputing them; nothing of them was published")
        report.damaged_candidates += len(e.parquets)
        path_of = {s.source_id: s.path for s in corpus}
        gone = [path_of[p.parent.name] for p in e.parquets
                if "://" not in path_of[p.parent.name] and source_file_problem(path_of[p.parent.name])]
        if gone:  # as the plan says for any recomputation (the candidates stay reopened)
            raise UserError(f"{len(gone)} damaged candidates must be recomputed but their source files are missing "
                            f"(e.g. {gone[0]}): mount the inputs again, or drop them with --prune-missing") from None
    runner.run([s for s in corpus if not store.source_done(s.source_id)], str(out))
    try:
        return publish()
    except DamagedCandidates as e:
        raise UserError(f"{e}, again after recomputing them: check the disk under {out}") from None


def print_summary(summary: dict, out: str) -> None:
    c, st = summary["clips"], summary.get("store", {})
    print(f"curated {summary['sources']['in']} sources: {c['kept']}/{c['rows']} clips kept "
          f"({c['hours_kept'] * 3600:.1f} s); dropped: {c['dropped'] or {}}")
    if st:
        print(f"corpus:    {st['added']} sources added, {st['changed']} changed, {st['retried']} retried, "
              f"{st['removed']} removed; candidates recomputed {st['candidates_recomputed']}, "
              f"re-judged {st['candidates_rejudged']}, damaged {st['candidates_damaged']}")
    w = summary.get("work")
    if w:  # this run's work; summary.json "stages" counts the corpus, as a fresh run would
        print(f"this run:  {w['candidates_computed']} candidates computed (decoded), {w['candidates_rejudged']} "
              f"re-judged from stored scores, {w['candidates_reused']} reused as stored")
    from lipforge.pipeline.report.datasets import datasets_lines
    from lipforge.pipeline.report.provenance import attention

    for line in datasets_lines(summary):  # one line per dataset
        print(line)
    for line in attention(summary):  # stages skipped or decided by a weight-free stand-in
        print(f"note: {line}")
    print(f"shards:    {out}/shards/")
    print(f"manifests: {out}/manifests/ -> {out}/generations/<n>/ (sources, clips, shards .parquet)")
    print(f"report:    {out}/report.html and {out}/summary.json")


def _adopt(catalog, out: Path, fps: dict) -> None:
    """An output from before the catalog: its results were computed under its saved config."""
    from lipforge.pipeline.stages.config import RunConfig
    from lipforge.pipeline.stages.build import build_stages
    from lipforge.pipeline.store.fingerprint import run_fingerprints

    saved = out / "run_config.yaml"
    try:
        old = RunConfig.load(saved)
        recorded = run_fingerprints(old, build_stages(old))
    except (OSError, ValueError):
        recorded = fps
        _say(f"[curate] {out} predates the corpus catalog and has no readable run_config.yaml: "
             "its stored results are taken to match this run's config")
    for e in catalog.entries.values():
        e.fingerprints = recorded


def _verify(store, catalog, out: Path, repair: bool) -> list[str]:
    from lipforge.pipeline.store.verify import recorded_digests, verify_published, verify_work

    problems = verify_work(store, catalog) + verify_published(out, recorded_digests(store, catalog))
    for p in problems:
        print(f"damaged: {p}")
    if not problems:
        print(f"verified {out}: {len(catalog.entries)} sources, work store and published generation intact")
        return []
    if not repair:
        print(f"{len(problems)} problems; `lipforge curate --output {out} --verify --repair` recomputes "
              "the damaged work files from the recorded inputs and republishes")
        return [str(p) for p in problems]
    for p in problems:
        if p.candidate:
            store.reopen_candidates(p.source_id, [p.candidate])
        elif p.source_id:
            store.reopen_source(p.source_id)
        if p.shard:
            from lipforge.pipeline.store.release import released_into

            store.forget_published_shard(p.shard)
            for sid, cid in released_into(store, sorted(catalog.entries), p.shard):
                store.reopen_candidates(sid, [cid])  # the damaged shard was their only copy
        if not (p.candidate or p.source_id or p.shard):  # unreadable manifests: republish all shards
            store.forget_published_shard(None)
    print(f"repairing {len(problems)} problems: recomputing and republishing")
    return [str(p) for p in problems]
