"""Dataset adapters: a published corpus's annotation files -> the input list of a curation run.

``lipforge sources DATASET --annotations PATH --videos DIR --out sources.parquet`` reads the
annotation files of one dataset (each adapter documents the layout it reads, taken from the
dataset's own repository), finds each segment's video under ``--videos`` and writes a list
that ``lipforge curate --input sources.parquet`` takes: one row per time range, with the
dataset, its key, labels, face box and warnings (:mod:`lipforge.pipeline.source.inputs`). Rows
that cannot become sources go to ``sources.skipped.csv`` with a reason
(:mod:`lipforge.pipeline.datasets.base`); duplicates, second speakers and merging:
:mod:`lipforge.pipeline.datasets.build`.

>>> built, listing = make_sources("hdtf", "HDTF_dataset", "videos/", "hdtf.parquet")  # doctest: +SKIP
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


# Datasets whose adjacent segments are merged unless --merge-gap says otherwise: AVA-Speech labels
# speech densely, in pieces (a CLEAN_SPEECH span followed at once by SPEECH_WITH_MUSIC ...).
DEFAULT_MERGE_GAP: dict[str, float] = {"ava-speech": 0.0}


def make_sources(dataset: str, annotations: str | Path, videos: str | Path, out: str | Path,
                 merge_gap: float | None = None, merge: bool = True):
    """Read, resolve and write; returns (SourceList, path of the skipped listing).

    ``merge_gap``: join segments of one video and face at most that many seconds apart (None:
    the dataset's default, :data:`DEFAULT_MERGE_GAP`); ``merge=False`` joins none."""
    from lipforge.pipeline.datasets.build import build_sources, write_sources

    read = adapter(dataset)
    if not Path(videos).is_dir():
        raise FileNotFoundError(f"--videos {videos}: not a folder")
    if merge_gap is None:
        merge_gap = DEFAULT_MERGE_GAP.get(dataset.lower().replace("_", "-"))
    built = build_sources(read(annotations), videos, merge_gap if merge else None)
    listing = write_sources(out, built.sources, built.skipped)
    return built, listing
