"""``lipforge curate``: raw talking videos -> WebDataset shards + Parquet manifests.

:func:`curate` is the library call (the demo and tests use it); :func:`main` parses argv for the
``lipforge`` dispatcher. Configuration problems (bad values, missing model files, a missing input)
raise before any work starts; the dispatcher prints them as one line with exit code 2.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def curate(input: str | Path, output: str | Path, config: str | Path | None = None, *, runner: str = "ray",
           address: str | None = None, num_cpus: int | None = None, models_dir: str | None = None) -> dict:
    """Curate ``input`` (a directory or a list file) into ``output``; returns the run summary.

    >>> curate("videos/", "corpus/", runner="local")["clips"]["kept"]  # doctest: +SKIP
    17
    """
    from lipforge.pipeline.config import RunConfig
    from lipforge.pipeline.curate import list_inputs
    from lipforge.pipeline.finalize import finalize

    cfg = RunConfig.load(str(config) if config else None)
    if models_dir:
        cfg = dataclasses.replace(cfg, models_dir=models_dir)
    sources = list_inputs(str(input))
    if runner == "local":
        from lipforge.pipeline.runners.local import LocalRunner

        run = LocalRunner(cfg)
    elif runner == "ray":
        from lipforge.pipeline.runners.ray_runner import RayRunner

        run = RayRunner(cfg, address=address, num_cpus=num_cpus)
    else:
        raise ValueError(f"runner must be 'ray' or 'local', got {runner!r}")
    run.run(sources, str(output))
    return finalize(sources, str(output), cfg)


def build_parser() -> argparse.ArgumentParser:
    c = argparse.ArgumentParser(prog="lipforge curate", description=__doc__.split("\n")[0])
    c.add_argument("--input", required=True, help="directory of videos, or a .txt/.csv/.parquet list of paths")
    c.add_argument("--output", required=True)
    c.add_argument("--config", help="run config YAML (lipforge.pipeline.config.RunConfig)")
    c.add_argument("--address", default=None,
                   help="Ray cluster to join: 'auto' or 'ray://host:10001'; default: start a local Ray in-process")
    c.add_argument("--runner", choices=("ray", "local"), default="ray",
                   help="'local' runs the same stages in this process without Ray")
    c.add_argument("--num-cpus", type=int, default=None, help="CPUs of the in-process local Ray")
    c.add_argument("--models-dir", default=None, help="directory where relative model paths are looked up")
    return c


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    summary = curate(args.input, args.output, args.config, runner=args.runner, address=args.address,
                     num_cpus=args.num_cpus, models_dir=args.models_dir)
    c = summary["clips"]
    print(f"curated {summary['sources']['in']} sources: {c['kept']}/{c['rows']} clips kept "
          f"({c['hours_kept'] * 3600:.1f} s); dropped: {c['dropped'] or {}}")
    from lipforge.pipeline.datasets.report import datasets_lines

    for line in datasets_lines(summary):  # one line per dataset (issue 16)
        print(line)
    from lipforge.pipeline.provenance import attention

    for line in attention(summary):  # stages skipped or decided by a weight-free stand-in
        print(f"note: {line}")
    print(f"shards:    {args.output}/shards/")
    print(f"manifests: {args.output}/manifests/ (sources, clips, shards .parquet)")
    print(f"report:    {args.output}/report.html and {args.output}/summary.json")
    return 0
