"""Dataset adapters: a published corpus's annotation files -> the input list of a curation run.

``lipforge sources DATASET --annotations PATH --videos DIR --out sources.parquet`` reads the
annotation files of one dataset (each adapter documents the layout it reads, taken from the
dataset's own repository), finds each segment's video under ``--videos`` and writes a list
that ``lipforge curate --input sources.parquet`` takes: one row per time range, with the
dataset, its key, labels and face box (:mod:`lipforge.pipeline.source.inputs`). Rows that
cannot become sources go to ``sources.skipped.csv`` with a reason
(:mod:`lipforge.pipeline.datasets.base`).

>>> sources, skipped, listing = make_sources("hdtf", "HDTF_dataset", "videos/", "hdtf.parquet")  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from pathlib import Path

# CLI name -> "module:function" reading the annotations into DatasetRows
ADAPTERS: dict[str, str] = {
    "hdtf": "lipforge.pipeline.datasets.hdtf:read",
    "celebv-hq": "lipforge.pipeline.datasets.celebv:read_hq",
    "celebv-text": "lipforge.pipeline.datasets.celebv:read_text",
    "ava-speech": "lipforge.pipeline.datasets.ava:read",
    "vfhq": "lipforge.pipeline.datasets.vfhq:read",
    "multitalk": "lipforge.pipeline.datasets.multitalk:read",
}


def adapter(name: str):
    key = name.lower().replace("_", "-")
    if key not in ADAPTERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(ADAPTERS)}")
    mod, fn = ADAPTERS[key].split(":")
    return getattr(importlib.import_module(mod), fn)


def make_sources(dataset: str, annotations: str | Path, videos: str | Path, out: str | Path):
    """Read, resolve and write; returns (sources, skipped, path of the skipped listing)."""
    from lipforge.pipeline.datasets.base import build_sources, write_sources

    read = adapter(dataset)
    if not Path(videos).is_dir():
        raise FileNotFoundError(f"--videos {videos}: not a folder")
    sources, skipped = build_sources(read(annotations), videos)
    listing = write_sources(out, sources, skipped)
    return sources, skipped, listing
