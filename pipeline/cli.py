"""``lipforge curate``: raw talking videos -> WebDataset shards + Parquet manifests.

:func:`curate` is the library call (the demo and tests use it); :func:`main` parses argv for the
``lipforge`` dispatcher. Configuration problems (bad values, missing model files, a missing input)
raise before any work starts; the dispatcher prints them as one line with exit code 2.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def curate(input: str | Path | None, output: str | Path, config: str | Path | None = None, *, runner: str = "ray",
           address: str | None = None, num_cpus: int | None = None, models_dir: str | None = None,
           remove: str | None = None, prune_missing: bool = False, verify: bool = False, repair: bool = False,
           skip_space_check: bool = False) -> dict:
    """Curate ``input`` (a directory or a list file; None: only the corpus already in ``output``)
    into ``output``, adding to the corpus there; returns the run summary. The whole run
    lifecycle (lock, catalog, plan, run, atomic publish) is :mod:`lipforge.pipeline.run.lifecycle`.

    >>> curate("videos/", "corpus/", runner="local")["clips"]["kept"]  # doctest: +SKIP
    17
    """
    from lipforge.pipeline.run.lifecycle import CurateRequest, run

    if runner not in ("ray", "local"):
        raise ValueError(f"runner must be 'ray' or 'local', got {runner!r}")
    return run(CurateRequest(output=str(output), input=str(input) if input is not None else None,
                             config=str(config) if config else None, runner=runner, address=address,
                             num_cpus=num_cpus, models_dir=models_dir, remove=remove, prune_missing=prune_missing,
                             verify=verify, repair=repair, skip_space_check=skip_space_check))


def build_parser() -> argparse.ArgumentParser:
    c = argparse.ArgumentParser(prog="lipforge curate", description=__doc__.split("\n")[0])
    c.add_argument("--input", default=None,
                   help="directory of videos, or a .txt/.csv/.parquet list of paths; added to the corpus in --output "
                        "(leave out to refresh the corpus as it is, e.g. after a config change)")
    c.add_argument("--output", required=True)
    c.add_argument("--config", help="run config YAML (lipforge.pipeline.stages.config.RunConfig)")
    c.add_argument("--address", default=None,
                   help="Ray cluster to join: 'auto' or 'ray://host:10001'; default: start a local Ray in-process")
    c.add_argument("--runner", choices=("ray", "local"), default="ray",
                   help="'local' runs the same stages in this process without Ray")
    c.add_argument("--num-cpus", type=int, default=None, help="CPUs of the in-process local Ray")
    c.add_argument("--models-dir", default=None, help="directory where relative model paths are looked up")
    # ---- the corpus store (issue 11)
    c.add_argument("--remove", default=None, metavar="LIST",
                   help="take sources out of the corpus: comma-separated source ids, or a .txt of ids or paths")
    c.add_argument("--prune-missing", action="store_true",
                   help="take out the sources whose files are gone (printing each)")
    c.add_argument("--verify", action="store_true",
                   help="read the whole corpus and work store and report damage (exit 1 when any)")
    c.add_argument("--repair", action="store_true", help="with --verify: recompute and republish what is damaged")
    c.add_argument("--skip-space-check", action="store_true", help="start even when the free-space estimate says no")
    return c


def main(argv: list[str] | None = None) -> int:
    from lipforge.pipeline.run.lifecycle import print_summary

    args = build_parser().parse_args(argv)
    summary = curate(args.input, args.output, args.config, runner=args.runner, address=args.address,
                     num_cpus=args.num_cpus, models_dir=args.models_dir, remove=args.remove,
                     prune_missing=args.prune_missing, verify=args.verify, repair=args.repair,
                     skip_space_check=args.skip_space_check)
    if "verify" in summary:
        return 1 if summary["verify"] else 0
    print_summary(summary, args.output)
    return 0


def sources_main(argv: list[str] | None = None) -> int:
    """`lipforge sources`: the dataset adapters' command, with the run config's `min_clip_s` for
    the expected yield (the config is a stage-floor type the datasets floor does not import)."""
    from lipforge.pipeline.datasets.cli import main
    from lipforge.pipeline.stages.config import RunConfig

    return main(argv, lambda path: RunConfig.load(path).segment.min_clip_s)
