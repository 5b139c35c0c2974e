"""A long source is curated as consecutive parts that different workers decode at the same time.

Sources are the runners' unit of work, so one long recording would otherwise run on one worker
while the others idle. A source whose span (its range, or the whole file) is longer than
``1.5 * SegmentConfig.part_s`` is cut into ``n = round(span / part_s)`` parts: part ``k`` covers
``[start + k * part_s, start + (k + 1) * part_s)`` and the last one runs to the source's end
(between 0.5 and 1.5 ``part_s`` long). Each part is decoded from the keyframe before it (the
range machinery of :mod:`~lipforge.pipeline.source.ranges`), segmented like a file that holds
only that part, and its candidates are committed on their own; the source is done when every
part's record is in the store, merged by :func:`merge_parts` into the one source record.

What a part boundary changes against an undivided run: the scene is closed there (``part_s`` is a
whole number of ``max_clip_s``, so a long scene that starts at a part's start is cut on the same
``max_clip_s`` grid; only the pieces of a scene that straddles a boundary differ), scenes are
numbered per part from ``k * SCENES_PER_PART`` (``scene_index`` stays unique within the source),
and a decode error in one part ends that part only. The parts are a function of the file's
announced duration (:func:`announced_span_s`, no frame decoded) and the config, so the local and
the Ray runner cut the same parts and every rerun does too.

>>> part_bounds(None, None, 95.0, 30.0)
[(None, 30.0), (30.0, 60.0), (60.0, None)]
>>> part_bounds(None, None, 40.0, 30.0)
[(None, None)]
"""
from __future__ import annotations

import dataclasses

from lipforge.manifests.schema import STATUS_DROPPED, STATUS_OK, SourceRecord
from lipforge.pipeline.source.inputs import SourceInput

SCENES_PER_PART = 1000  # scene_index of part k starts here times k (a part of at most 600 s holds at most 1000 scenes of 15 frames)


def part_bounds(start_s: float | None, end_s: float | None, span_s: float | None,
                part_s: float) -> list[tuple[float | None, float | None]]:
    """``(start, end)`` of each part of a source spanning ``span_s`` seconds from ``start_s``
    (None: the file's start) to ``end_s`` (None: the file's end); one part ``(start_s, end_s)``
    when it is not longer than 1.5 ``part_s``, when ``part_s`` is 0 or the span is unknown."""
    if not part_s or span_s is None or span_s <= 1.5 * part_s:
        return [(start_s, end_s)]
    n = int(span_s / part_s + 0.5)
    base = start_s or 0.0
    cuts = [round(base + k * part_s, 6) for k in range(1, n)]
    return list(zip([start_s] + cuts, cuts + [end_s]))


def announced_span_s(src: SourceInput) -> float | None:
    """Seconds the source spans by the file's header (its range clipped to the file); None when
    the file does not open (the source is then one part, and the probe gives its verdict)."""
    import av

    from lipforge.pipeline.source.files import source_file_problem
    from lipforge.pipeline.source.probe import real_video_streams, video_duration_s

    if source_file_problem(src.path) is not None:  # never open a FIFO or a device: the probe says what it is
        return None
    try:
        with av.open(src.path, mode="r") as c:
            vids = real_video_streams(c)
            dur = video_duration_s(c, vids[0]) if vids else None
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        return None
    if dur is None or src.start_s is None:
        return dur
    return max(0.0, min(src.end_s, dur) - src.start_s)


@dataclasses.dataclass(frozen=True)
class SourcePart:
    """Part ``index`` of ``n`` of a source: what a runner hands to one worker."""

    source: SourceInput
    index: int = 0
    n: int = 1
    start_s: float | None = None  # the part's range (None: the source's own start / end)
    end_s: float | None = None

    @property
    def key(self) -> str:
        return f"{self.source.source_id}#{self.index}"

    def to_json(self) -> str:
        import json

        return json.dumps({"source": self.source.to_json(), "index": self.index, "n": self.n,
                           "start_s": self.start_s, "end_s": self.end_s})

    @classmethod
    def from_json(cls, text: str) -> "SourcePart":
        import json

        d = json.loads(text)
        return cls(SourceInput.from_json(d["source"]), d["index"], d["n"], d["start_s"], d["end_s"])


def source_parts(src: SourceInput, part_s: float) -> list[SourcePart]:
    """The parts of ``src`` (one when it is short, see :func:`part_bounds`)."""
    span = announced_span_s(src) if part_s else None
    bounds = part_bounds(src.start_s, src.end_s, span, part_s)
    return [SourcePart(src, k, len(bounds), a, b) for k, (a, b) in enumerate(bounds)]


def pending_parts(src: SourceInput, part_s: float, store) -> list[SourcePart]:
    """The parts of ``src`` a run still has to curate (a part whose record is stored is done;
    ``store``: a :class:`~lipforge.pipeline.store.work.WorkStore`)."""
    parts = source_parts(src, part_s)
    if len(parts) == 1:
        return parts
    return [p for p in parts if not store.part_done(src.source_id, p.index, p.n)]


def plan_parts(sources: list[SourceInput], part_s: float, store) -> list[SourcePart]:
    """:func:`pending_parts` of every source; the file headers are read on a few threads (about
    10 ms a file, mostly waiting on storage)."""
    from concurrent.futures import ThreadPoolExecutor

    if not part_s or len(sources) < 2:
        return [p for s in sources for p in pending_parts(s, part_s, store)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return [p for ps in pool.map(lambda s: pending_parts(s, part_s, store), sources) for p in ps]


def parts_changed(record: SourceRecord, old_part_s: float, new_part_s: float) -> bool:
    """True when a stored source would be cut into other parts under ``new_part_s`` than it was
    under ``old_part_s`` (a short source, or one the probe dropped, is the same either way)."""
    if old_part_s == new_part_s or record.status == STATUS_DROPPED:
        return False
    span = record.span_s if record.span_s is not None else record.duration_s
    return (part_bounds(record.start_s, record.end_s, span, old_part_s)
            != part_bounds(record.start_s, record.end_s, span, new_part_s))


def segment_view(record: SourceRecord, part: SourcePart) -> SourceRecord:
    """The record the segmenter reads for ``part``: the source's, with the part's range."""
    return dataclasses.replace(record, start_s=part.start_s, end_s=part.end_s)


def merge_parts(parts: list[tuple[SourceRecord, list[str]]]) -> tuple[SourceRecord, list[str]]:
    """One source record (and its candidate ids, in time order) from its parts' records.

    Every part probes the same file, so the probe's fields are the first part's. Counts add up;
    scenes count once per boundary less (a boundary is not a cut). A decode error in some parts
    marks the source ``partial_decode``; in every part, ``decode_error`` as an undivided source.
    """
    first, _ = parts[0]
    rec = dataclasses.replace(first)
    if all(r.status == STATUS_DROPPED for r, _ in parts):
        return rec, []  # the probe's verdict (the same in every part), or no part decoded
    rec.n_frames = sum(r.n_frames or 0 for r, _ in parts)
    rec.n_scenes = max(1, sum(r.n_scenes or 0 for r, _ in parts) - (len(parts) - 1))
    cands = [c for _, cs in parts for c in cs]
    rec.n_candidates = len(cands)
    broken = any(r.reason in ("partial_decode", "decode_error") for r, _ in parts)
    rec.status = STATUS_OK
    rec.reason = "partial_decode" if broken else first.reason
    return rec, cands
