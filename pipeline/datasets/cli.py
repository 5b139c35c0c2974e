"""``lipforge sources DATASET --annotations PATH --videos DIR --out sources.parquet``.

Turns one dataset's annotation files into an input list for ``lipforge curate`` (one row per
time range, with dataset, key, labels, face box and warnings) and lists, beside it, every row
that could not become a source with its reason (:mod:`lipforge.pipeline.datasets`). Prints per
dataset the hours the annotations list, the hours whose videos were found and the expected
yield under the run's ``min_clip_s`` (``--config`` or ``--min-clip-s``). A missing annotation
file or videos folder, an unknown dataset or a bad option is a user error (one line, exit 2).
"""
from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    from lipforge.pipeline.datasets import ADAPTERS, DEFAULT_MERGE_GAP

    p = argparse.ArgumentParser(prog="lipforge sources",
                                description="Turn one dataset's annotation files into a curate input list of time "
                                            "ranges; rows that cannot become sources are listed with a reason.")
    p.add_argument("dataset", help=f"one of: {', '.join(ADAPTERS)}")
    p.add_argument("--annotations", required=True, help="the dataset's annotation file or folder (see README)")
    p.add_argument("--videos", required=True, help="folder of the downloaded videos (walked recursively)")
    p.add_argument("--out", required=True, help="the input list to write (.parquet); the skipped rows go beside it")
    merge = p.add_mutually_exclusive_group()
    merge.add_argument("--merge-gap", type=float, metavar="S",
                       help="merge segments of one video and face at most S seconds apart into one source "
                            f"(default: {', '.join(f'{k} {v:g}' for k, v in DEFAULT_MERGE_GAP.items())}; "
                            "other datasets: no merging)")
    merge.add_argument("--no-merge", action="store_true", help="merge no segments, not even a dataset's default")
    yld = p.add_mutually_exclusive_group()
    yld.add_argument("--config", help="the curate run config (YAML) whose segment.min_clip_s the expected yield uses")
    yld.add_argument("--min-clip-s", type=float, metavar="S",
                     help="the min_clip_s the expected yield uses (default: the run config's default)")
    return p


def main(argv: list[str] | None, load_min_clip_s) -> int:
    """Run `lipforge sources`; `load_min_clip_s(config_path_or_None)` gives the curate run's
    `segment.min_clip_s` (the run config lives on a floor above the datasets: `pipeline.cli` passes it)."""
    from lipforge.pipeline.datasets import make_sources
    from lipforge.pipeline.datasets.summary import summarize

    args = build_parser().parse_args(argv)
    if not str(args.out).endswith(".parquet"):
        raise ValueError(f"--out {args.out}: the sources list is written as .parquet")
    if args.merge_gap is not None and not args.merge_gap >= 0:
        raise ValueError(f"--merge-gap must be >= 0 seconds, got {args.merge_gap}")
    if args.min_clip_s is not None and not args.min_clip_s > 0:
        raise ValueError(f"--min-clip-s must be > 0 seconds, got {args.min_clip_s}")
    min_clip_s = args.min_clip_s or load_min_clip_s(args.config)
    built, listing = make_sources(args.dataset, args.annotations, args.videos, args.out,
                                  merge_gap=args.merge_gap, merge=not args.no_merge)
    text = summarize(built, min_clip_s)
    if text:
        print(text)
    print(f"sources: {args.out} ({len(built.sources)} rows; curate them with lipforge curate --input {args.out})")
    print(f"skipped: {listing} ({len(built.skipped)} rows, each with a reason)")
    return 0
