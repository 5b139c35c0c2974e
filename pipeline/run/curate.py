"""What a curation run does, independent of where it runs (local loop or Ray Data).

The runners call these pieces: list the inputs, turn one source into candidate groups
(probe, decode once, normalize, scene split, segment), push a group through the stage list,
persist it, and finally build the manifests, shards and report (:mod:`lipforge.pipeline.run.finalize`).
A *group* is a candidate clip plus the clips a stage split from it; it is the unit of
durability (see :mod:`lipforge.pipeline.store.work`).
"""
from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from lipforge.manifests.ids import source_id_for_path
from lipforge.manifests.schema import STATUS_DROPPED, SourceRecord
from lipforge.pipeline.stages.config import RunConfig
from lipforge.pipeline.media import MediaDecodeError
from lipforge.pipeline.source.inputs import (SourceInput, check_source_input, list_path,  # SourceInput lives with the row parsing
                                             source_input_from_row)
from lipforge.pipeline.source.listing import list_folder
from lipforge.pipeline.source.parts import SourcePart
from lipforge.pipeline.stages.base import ClipItem, Stage, StageStats
from lipforge.pipeline.store.work import WorkStore



def list_inputs(spec: str, skipped: list[tuple[str, str]] | None = None) -> list[SourceInput]:
    """A directory (walked recursively by one rule, :mod:`lipforge.pipeline.source.listing`;
    ``skipped`` receives the ``(path, reason)`` of every name it skips), or a list file: .txt
    (one path per line), .csv / .parquet with a ``path`` column; relative paths in a list are
    taken from the list's folder. Every input is bounded before anything is recorded
    (:func:`~lipforge.pipeline.source.inputs.check_source_input`). Sorted by id."""
    p = Path(spec)
    items: list[SourceInput] = []
    if p.is_dir():
        items, skips = list_folder(p)
        if skipped is not None:
            skipped.extend(skips)
    elif p.suffix == ".txt":
        for n, line in enumerate(p.read_text().splitlines(), 1):
            if line.strip() and not line.startswith("#"):
                path = list_path(line.strip(), p)
                items.append(check_source_input(SourceInput(path, source_id_for_path(path)), f"--input {spec} line {n}"))
    elif p.suffix == ".csv":  # rows may give a time range, dataset, labels, box (pipeline.source.inputs)
        with open(p, newline="") as f:
            for n, row in enumerate(csv.DictReader(f), 2):
                items.append(source_input_from_row(_in_folder(row, p), f"--input {spec} row {n}"))
    elif p.suffix == ".parquet":
        import pyarrow.parquet as pq

        t = pq.read_table(p).to_pylist()
        items = [source_input_from_row(_in_folder(r, p), f"--input {spec} row {n}") for n, r in enumerate(t, 1)]
    elif p.is_file():
        items.append(SourceInput(str(p), source_id_for_path(str(p))))
    else:
        raise FileNotFoundError(f"--input {spec}: not a directory, list file (.txt/.csv/.parquet) or video file")
    for s in items:
        check_source_input(s, f"--input {spec}")
    ids = [s.source_id for s in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"--input {spec}: duplicate source ids")
    return sorted(items, key=lambda s: s.source_id)


def _in_folder(row: dict, list_file: Path) -> dict:
    path = row.get("path")
    return {**row, "path": list_path(path.strip(), list_file)} if isinstance(path, str) and path.strip() else row


@dataclass
class SourceOutcome:
    record: SourceRecord
    candidate_ids: list[str] = field(default_factory=list)


def iter_source_groups(src: SourceInput, cfg: RunConfig, store: WorkStore,
                       outcome: SourceOutcome | None = None,
                       stats: StageStats | None = None, part: SourcePart | None = None) -> Iterator[list[ClipItem]]:
    """Probe, decode once, segment: yields one group per candidate not yet durable.

    After exhaustion the source record (with candidate ids) is in the store; a source that
    cannot be used is recorded as dropped with its reason, and its file is never touched.
    A decode error after some clips were cut keeps those clips (reason ``partial_decode``).
    ``stats`` (name "segment") receives the time spent probing, decoding and segmenting.
    ``part`` (one of several, :mod:`lipforge.pipeline.source.parts`): only its range is
    decoded, and its record is stored as that part's (the store merges them).
    """
    from lipforge.pipeline.stages.segment import Segmenter
    from lipforge.pipeline.source.parts import SCENES_PER_PART, segment_view
    from lipforge.pipeline.source.ranges import probe_input

    split = part is not None and part.n > 1
    stats = stats if stats is not None else StageStats("segment")
    t0, c0 = time.perf_counter(), time.process_time()
    record = probe_input(src, cfg.probe)  # the file's verdict, then its range's (a range source)
    seg = Segmenter(cfg.segment)
    if record.status != STATUS_DROPPED:
        view = segment_view(record, part) if split else record
        it = seg.run(src.path, view, skip=store.done_candidates(src.source_id),
                     scene_base=part.index * SCENES_PER_PART if split else 0)
        while True:
            try:
                item = next(it)
            except StopIteration:
                break
            except MediaDecodeError:
                if seg.candidate_ids:
                    record.reason = "partial_decode"
                else:
                    record.status, record.reason = STATUS_DROPPED, "decode_error"
                break
            stats.items_in += 1
            stats.kept += item.kept
            if not item.kept:
                stats.dropped[item.reason] += 1
            stats.video_seconds += item.n_frames / item.fps
            stats.kept_seconds += item.n_frames / item.fps if item.kept else 0.0
            stats.seconds += time.perf_counter() - t0
            stats.cpu_seconds += time.process_time() - c0
            yield [item]
            # The caller is done with this clip: let go of its frames before the next is decoded
            # (else each worker holds two clips at once, its peak memory rising with the source).
            del item
            t0, c0 = time.perf_counter(), time.process_time()
        record.n_frames, record.n_scenes = seg.n_frames, seg.n_scenes
        record.n_candidates = len(seg.candidate_ids)
    stats.seconds += time.perf_counter() - t0
    stats.cpu_seconds += time.process_time() - c0
    cands = list(seg.candidate_ids) if record.status != STATUS_DROPPED else []
    if split:
        store.write_part(src.source_id, part.index, part.n, record, cands)
    else:
        store.write_source(record, cands)
    if outcome is not None:
        outcome.record, outcome.candidate_ids = record, cands


class StageWarmUp:
    """Every stage's :meth:`Stage.setup` (imports, model loads) on a thread, begun when a worker
    starts, so the models load while the first clip is decoded; :meth:`join` before the first
    :func:`run_stages`. A setup that fails here is left undone: the stage's own call runs it
    again and raises in the caller's thread."""

    def __init__(self, stages: list[Stage]) -> None:
        import threading

        self.seconds = 0.0
        self.error: Exception | None = None
        self._stages = stages
        self._thread = threading.Thread(target=self._load, name="lipforge-stage-setup", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            for st in self._stages:
                st.ready()
        except Exception as e:  # noqa: BLE001 - raised again by the stage's own setup call, in the caller's thread
            self.error = e
        self.seconds = time.perf_counter() - t0

    def join(self) -> None:
        self._thread.join()


def run_stages(stages: list[Stage], items: list[ClipItem]) -> list[ClipItem]:
    for st in stages:
        items = st(items)
    return items


def group_by_parent(items: list[ClipItem]) -> dict[str, list[ClipItem]]:
    out: dict[str, list[ClipItem]] = {}
    for it in items:
        out.setdefault(it.parent_id, []).append(it)
    return out
