"""``lipforge sources DATASET --annotations PATH --videos DIR --out sources.parquet``.

Turns one dataset's annotation files into an input list for ``lipforge curate`` (one row per
time range, with dataset, key, labels and face box) and lists, beside it, every row that could
not become a source with its reason (:mod:`lipforge.pipeline.datasets`). A missing annotation
file or videos folder, or an unknown dataset, is a user error (one line, exit 2).
"""
from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    from lipforge.pipeline.datasets import ADAPTERS

    p = argparse.ArgumentParser(prog="lipforge sources",
                                description="Turn one dataset's annotation files into a curate input list of time "
                                            "ranges; rows that cannot become sources are listed with a reason.")
    p.add_argument("dataset", help=f"one of: {', '.join(ADAPTERS)}")
    p.add_argument("--annotations", required=True, help="the dataset's annotation file or folder (see README)")
    p.add_argument("--videos", required=True, help="folder of the downloaded videos (walked recursively)")
    p.add_argument("--out", required=True, help="the input list to write (.parquet); the skipped rows go beside it")
    return p


def main(argv: list[str] | None = None) -> int:
    from lipforge.pipeline.datasets import make_sources
    from lipforge.pipeline.datasets.base import summarize

    args = build_parser().parse_args(argv)
    if not str(args.out).endswith(".parquet"):
        raise ValueError(f"--out {args.out}: the sources list is written as .parquet")
    sources, skipped, listing = make_sources(args.dataset, args.annotations, args.videos, args.out)
    text = summarize(sources, skipped)
    if text:
        print(text)
    print(f"sources: {args.out} ({len(sources)} rows; curate them with lipforge curate --input {args.out})")
    print(f"skipped: {listing} ({len(skipped)} rows, each with a reason)")
    return 0
