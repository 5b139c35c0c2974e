"""AVA-Speech (Chaudhuri et al., Interspeech 2018; research.google.com/ava, videos mirrored by
github.com/cvdfoundation/ava-dataset).

``ava_speech_labels_v1.csv`` has no header; each row is one densely labelled segment of a movie
(the 15-minute span from 900 s to 1800 s of each video)::

    video_id,start_s,end_s,label         e.g.  -5KQ66BBWC4,902.11,905.57,CLEAN_SPEECH

with ``label`` one of ``NO_SPEECH``, ``CLEAN_SPEECH``, ``SPEECH_WITH_MUSIC``,
``SPEECH_WITH_NOISE`` (the layout AVA-Speech tools read, e.g. rafaelgreca/ava-speech-downloader
takes columns 0-3 of the headerless CSV as video id, start, end, label; the CSV itself, served
from research.google.com, was not read here). The three speech labels become sources (the
label is kept in
``labels``); ``NO_SPEECH`` rows are listed as ``not_speech``. The labels cut speech into short pieces
(a CLEAN_SPEECH span followed at once by SPEECH_WITH_MUSIC ...), so by default ``lipforge
sources`` merges touching speech segments of a video into one source (``--merge-gap S`` widens
that, ``--no-merge`` keeps the pieces; the merged source's labels list each label once).
Videos are looked up as ``{video_id}.*`` (the CVDF mirror has .mp4, .mkv and .webm files).
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from lipforge.pipeline.datasets.base import DatasetRow

NAME = "ava_speech"
SPEECH_LABELS = ("CLEAN_SPEECH", "SPEECH_WITH_MUSIC", "SPEECH_WITH_NOISE")
LABELS = ("NO_SPEECH", *SPEECH_LABELS)


def read(annotations: str | Path) -> Iterator[DatasetRow]:
    path = Path(annotations)
    if not path.is_file():
        raise FileNotFoundError(f"--annotations {path}: no such file (ava_speech_labels_v1.csv)")
    with open(path, newline="") as f:
        for n, rec in enumerate(csv.reader(f), 1):
            if not rec or not "".join(rec).strip():
                continue
            where = f"{path.name}:{n}"
            vid = rec[0].strip()
            try:
                if len(rec) != 4:
                    raise ValueError(f"{len(rec)} fields, want 4")
                start, end, label = float(rec[1]), float(rec[2]), rec[3].strip()
                if label not in LABELS:
                    raise ValueError(f"unknown label {label!r}")
            except ValueError as e:
                if n == 1 and len(rec) == 4 and not rec[1].strip().replace(".", "").isdigit():
                    continue  # a header row
                yield DatasetRow(NAME, f"{vid}@{n}", (vid,), problem="unparsed_entry",
                                 detail=f"{','.join(rec)} ({e})", where=where)
                continue
            key = f"{vid}@{start:.2f}"
            if label not in SPEECH_LABELS:
                yield DatasetRow(NAME, key, (vid,), start, end, labels=label, problem="not_speech", where=where)
            else:
                yield DatasetRow(NAME, key, (vid,), start, end, labels=label, where=where)
