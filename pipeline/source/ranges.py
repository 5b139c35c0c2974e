"""A source that is a time range of its file: frame indices, the probe verdict, what clips carry.

Times of a range are seconds from the file's first video frame (what a player shows, and what
``ffmpeg -ss`` cuts at). On the 25 fps grid of :mod:`~lipforge.pipeline.source.normalize`
(frame ``i`` at ``i / 25`` s) the range ``[start_s, end_s)`` is the frames
``frame_index(start_s) .. frame_index(end_s) - 1``; clips cut from it keep these file-absolute
frame indices, so a clip's ``start_s`` in clips.parquet is where it lies in the original file
and two ranges of one file never share a clip id.

:func:`probe_input` is the probe of a listed input: the file's own verdict
(:func:`~lipforge.pipeline.source.probe.probe_source`), then the range against the file:

=========================  =====================================================================
``range_outside_file``     dropped: the range starts at or after the end of the file
``too_short_source``       dropped: the part of the range inside the file is shorter than
                           ``ProbeConfig.min_duration_s``
``range_past_end``         kept (status ok): the range ends more than ``RANGE_END_TOL_S`` after
                           the file; only the part inside it is used (``span_s``)
=========================  =====================================================================
"""
from __future__ import annotations

import math

from lipforge.manifests.schema import STATUS_DROPPED, SourceRecord
from lipforge.pipeline.source.inputs import SourceInput
from lipforge.pipeline.source.probe import ProbeConfig

RANGE_END_TOL_S = 0.5  # annotation times are rounded (HDTF to whole seconds); allow that much past the end


def frame_index(t: float, fps: int) -> int:
    """First frame of the 25 fps grid at or after time ``t`` (seconds from the first frame)."""
    return max(0, math.ceil(t * fps - 1e-6))


def probe_input(src: SourceInput, cfg: ProbeConfig | None = None) -> SourceRecord:
    """Probe the file of ``src`` and judge its range; always returns a record (see module doc)."""
    from lipforge.pipeline.source.probe import probe_source

    cfg = cfg or ProbeConfig()
    rec = probe_source(src.path, src.source_id, cfg)
    rec.dataset, rec.dataset_key, rec.labels = src.dataset, src.dataset_key, src.labels
    if src.box is not None:
        rec.box_x0, rec.box_y0, rec.box_x1, rec.box_y1 = (float(v) for v in src.box)
    if src.start_s is None:
        rec.span_s = rec.duration_s
        return rec
    rec.start_s, rec.end_s = float(src.start_s), float(src.end_s)
    rec.span_s = rec.end_s - rec.start_s
    if rec.status == STATUS_DROPPED or rec.duration_s is None:
        return rec
    if rec.start_s >= rec.duration_s:
        rec.status, rec.reason, rec.span_s = STATUS_DROPPED, "range_outside_file", 0.0
        return rec
    rec.span_s = min(rec.end_s, rec.duration_s) - rec.start_s
    if rec.span_s < cfg.min_duration_s:
        rec.status, rec.reason = STATUS_DROPPED, "too_short_source"
    elif rec.end_s > rec.duration_s + RANGE_END_TOL_S:
        rec.reason = "range_past_end"
    return rec


def source_measurements(source: SourceRecord) -> dict:
    """Columns every clip of ``source`` carries, so clips.parquet can be filtered by dataset and
    the face stage can use the dataset's box (both null for a plain input)."""
    out: dict = {}
    if source.dataset is not None:
        out["dataset"] = source.dataset
    if source.box_x0 is not None:
        out["dataset_box"] = [source.box_x0, source.box_y0, source.box_x1, source.box_y1]
    return out
