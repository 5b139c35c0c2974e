"""Schemas of the Parquet manifests, with the meaning of every column.

Records are views, not copies: a clip is (source id, start, end, face track) plus its scores.
Pixels never go into Parquet; shards carry the bytes.

Three tables, written under ``<output>/manifests/``:

* ``sources.parquet``: one row per input file (probe results, status, reason);
* ``clips.parquet``: one row per candidate clip, kept or dropped, with every measurement of
  every stage (NaN / null where a stage did not run because an earlier one dropped the clip);
* ``shards.parquet``: one row per shard sample (shard url, key, byte offset), so any clip id
  can be located in the shards.

A stage adds measurement columns by registering them in :data:`MEASUREMENTS` (name, arrow
type, meaning); unregistered measurements are refused by the writer, so every column has a
documented meaning.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = 1

STATUS_KEPT = "kept"
STATUS_DROPPED = "dropped"
STATUS_OK = "ok"  # a source that was processed (its clips may still all be dropped)


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str


SOURCE_COLUMNS: tuple[Column, ...] = (
    Column("schema_version", pa.int32(), "Manifest schema version (manifests.SCHEMA_VERSION)."),
    Column("source_id", pa.string(), "Deterministic id of the input file (stem + hash of its relative path; a range of the file adds _{start_ms:08d}_{end_ms:08d})."),
    Column("path", pa.string(), "Path or URL of the input file as given; never modified or deleted."),
    Column("size_bytes", pa.int64(), "File size in bytes at probe time."),
    Column("status", pa.string(), "'ok' when the source was decoded, 'dropped' otherwise."),
    Column("reason", pa.string(), "Reason code when dropped (decode_error, empty_file, no_video_stream, no_audio_stream, truncated, ...); null when ok."),
    Column("duration_s", pa.float64(), "Container duration in seconds (probe)."),
    Column("width", pa.int32(), "Video width in pixels (probe)."),
    Column("height", pa.int32(), "Video height in pixels (probe)."),
    Column("src_fps", pa.float64(), "Average frame rate of the source video stream before normalization."),
    Column("video_codec", pa.string(), "Codec name of the video stream."),
    Column("audio_codec", pa.string(), "Codec name of the audio stream."),
    Column("audio_sample_rate", pa.int32(), "Source audio sample rate before resampling to 16 kHz."),
    Column("audio_channels", pa.int32(), "Source audio channel count before down-mixing to mono."),
    Column("n_frames", pa.int64(), "Frames decoded after normalization to 25 fps."),
    Column("n_scenes", pa.int32(), "Scenes found by the scene split."),
    Column("n_candidates", pa.int32(), "Candidate clips the segmenter emitted for this source."),
    # --- source datasets (issue 16): a source may be a time range of its file, from a dataset
    Column("dataset", pa.string(), "Dataset the input row came from (hdtf, celebv_hq, celebv_text, ava_speech, vfhq, multitalk, or the list's own name); null for a plain input."),
    Column("dataset_key", pa.string(), "The dataset's own id of the row (clip id, HDTF 'RD_Radio11_0', AVA 'video@start', VFHQ clip name); null for a plain input."),
    Column("start_s", pa.float64(), "Start of the range of the file this source covers, seconds from its first video frame; null: the whole file."),
    Column("end_s", pa.float64(), "End (exclusive) of the range as listed, seconds from the first video frame; null: the whole file."),
    Column("span_s", pa.float64(), "Seconds of video this source covers: the range clipped to the file (0 when outside it, the listed range when the file cannot be read), or duration_s for a whole file; the hours in of summary.json."),
    Column("labels", pa.string(), "Labels the dataset gives the row, as listed (AVA-Speech speech label, CelebV-HQ emotion(s), MultiTalk language)."),
    Column("box_x0", pa.float64(), "Dataset face box, left edge, normalized to the frame width (0..1); null when none is given."),
    Column("box_y0", pa.float64(), "Dataset face box, top edge, normalized to the frame height (0..1)."),
    Column("box_x1", pa.float64(), "Dataset face box, right edge, normalized to the frame width (0..1)."),
    Column("box_y1", pa.float64(), "Dataset face box, bottom edge, normalized to the frame height (0..1)."),
)

# Core clip columns; measurement columns are appended from MEASUREMENTS.
_CLIP_CORE: tuple[Column, ...] = (
    Column("schema_version", pa.int32(), "Manifest schema version."),
    Column("clip_id", pa.string(), "Deterministic id {source_id}-{start_ms:08d}-{track:02d}; equals the shard sample __key__."),
    Column("source_id", pa.string(), "Source this clip is a view of."),
    Column("parent_id", pa.string(), "Candidate clip this one was split from (itself when not split)."),
    Column("track", pa.int32(), "Face track index within the candidate (0 for the largest-face track)."),
    Column("start_s", pa.float64(), "Start time in the normalized (25 fps) source, seconds (for a source that is a range of its file: in the file's timeline)."),
    Column("end_s", pa.float64(), "End time (exclusive), seconds."),
    Column("start_frame", pa.int64(), "First frame index at 25 fps (inclusive)."),
    Column("end_frame", pa.int64(), "Last frame index at 25 fps (exclusive)."),
    Column("duration_s", pa.float64(), "end_s - start_s."),
    Column("scene_index", pa.int32(), "Index of the scene (PySceneDetect) the clip lies in; a source curated in "
           "parts (segment.part_s) numbers the scenes of part k from k * 1000."),
    Column("status", pa.string(), "'kept' (a shard sample exists) or 'dropped'."),
    Column("reason", pa.string(), "Reason code of the first stage that dropped the clip; null when kept."),
    Column("dropped_by", pa.string(), "Name of the stage that dropped the clip; null when kept."),
    Column("shard", pa.string(), "Shard file (relative to the output) holding the sample; null when dropped."),
)

MEASUREMENTS: dict[str, Column] = {}


def register_measurement(name: str, type: pa.DataType, doc: str) -> None:
    """Declare a measurement column a stage writes (idempotent for an identical declaration)."""
    old = MEASUREMENTS.get(name)
    if old is not None and (old.type != type):
        raise ValueError(f"measurement {name!r} already registered with type {old.type}, not {type}")
    if any(c.name == name for c in _CLIP_CORE):
        raise ValueError(f"measurement {name!r} clashes with a core clip column")
    MEASUREMENTS[name] = Column(name, type, doc)


def _register_defaults() -> None:
    f = pa.float64()
    r = register_measurement
    # segmentation / normalization
    r("width", pa.int32(), "Width of the normalized frames (source pixels).")
    r("height", pa.int32(), "Height of the normalized frames (source pixels).")
    r("work_scale", f, "Scale from source pixels to the working frames the stages saw (<= 1).")
    r("audio_shift_s", f, "Shift applied to the audio in the shard to bring the sync offset to 0 (seconds; positive = audio moved earlier).")
    # faces (issue 3)
    r("face_max_px", f, "Largest face box height (forehead to chin convention) over the clip, source pixels.")
    r("face_median_px", f, "Median face box height over the clip, source pixels.")
    r("face_detected_ratio", f, "Share of frames with a detected (not filled) face.")
    r("face_filled_frames", pa.int32(), "Frames whose face box was interpolated over a gap.")
    r("face_max_jump", f, "Largest frame-to-frame box displacement relative to box size.")
    r("landmark_backend", pa.string(), "Backend that produced the 68-point landmarks.")
    r("face_backend", pa.string(), "Face detector backend.")
    # quality / AV (issue 4)
    r("iqa_measure", pa.string(), "Which image-quality measure decided (hyperiqa, or the no-download fallback).")
    r("iqa_score", f, "Clip quality score: mean of the nine KeySync evaluations.")
    r("iqa_scores", pa.list_(pa.float32()), "All nine quality evaluations (first/middle/last frame x 3 crops).")
    r("speech_ratio", f, "Share of the clip's audio that silero-vad marks as speech.")
    r("asd_score", f, "Active speaker clip score (mean of per-frame scores, on the scale named by asd_scale).")
    r("asd_scale", pa.string(), "Scale of asd_score: 'prob' (sigmoid/softmax probability) or 'raw'.")
    r("sync_backend", pa.string(), "Sync measure that measured sync_offset / sync_conf: lowerlip (weight-free), syncnet or expert.")
    r("sync_offset", pa.int32(), "AV offset in frames (positive: audio lags video).")
    r("sync_conf", f, "Sync confidence (SyncNet: median minus minimum of the mean distances).")
    r("sync_min_dist", f, "Minimum mean embedding distance over the searched offsets (LSE-D).")


_register_defaults()

# --- source datasets (issue 16)
register_measurement("dataset", pa.string(), "Dataset of the clip's source (sources.parquet dataset), so clips can be selected by dataset; null for a plain input.")
register_measurement("dataset_box", pa.list_(pa.float64()), "The source's dataset face box (x0, y0, x1, y1), normalized to the frame; null when none is given.")
register_measurement("dataset_box_overlap", pa.float64(), "Share of the track's median face box inside the dataset box (1 = inside); null without a dataset box.")


# ---- provenance (issue 13): which measure decided each stage's verdict, on every clip row.
# Null when the stage did not judge the clip (disabled, or an earlier stage dropped it).
PROVENANCE_STAGES: tuple[str, ...] = ("speech", "faces", "landmarks", "quality", "asd", "sync")


def _register_provenance() -> None:
    s = pa.string()
    for st in PROVENANCE_STAGES:
        register_measurement(f"prov_{st}_measure", s,
                             f"Measure that decided the {st} stage's verdict on this clip (backend name; "
                             "'... (weight-free stand-in)' for a fallback, 'skipped' when the check could not run).")
        register_measurement(f"prov_{st}_weights", s,
                             f"Weights file(s) the {st} stage loaded, 'name@sha256:<12 hex>'; null for a weight-free measure.")
        register_measurement(f"prov_{st}_rule", s,
                             f"Rule the {st} stage applied, with its thresholds (e.g. 'speech_ratio >= 0.3').")
    register_measurement("sheet_face_boxes", pa.list_(pa.float32()),
                         "Face boxes (x0 y0 x1 y1, source px) at the 4 frames the report's contact sheet shows "
                         "(centres of 4 equal parts of the clip); null without a face track.")


_register_provenance()
# Manifest-only columns: kept out of the shard samples' json (lipforge.pipeline.store.shards.item_metadata).
PROVENANCE_COLUMNS: frozenset[str] = frozenset(
    [f"prov_{st}_{k}" for st in PROVENANCE_STAGES for k in ("measure", "weights", "rule")] + ["sheet_face_boxes"])


def clip_columns() -> tuple[Column, ...]:
    return _CLIP_CORE + tuple(MEASUREMENTS[k] for k in sorted(MEASUREMENTS))


CLIP_COLUMNS = _CLIP_CORE  # the core; clip_columns() adds measurements

SHARD_COLUMNS: tuple[Column, ...] = (
    Column("schema_version", pa.int32(), "Manifest schema version."),
    Column("shard", pa.string(), "Shard file relative to the output directory."),
    Column("key", pa.string(), "Sample __key__ (equals clip_id)."),
    Column("offset", pa.int64(), "Byte offset of the sample's first member in the tar."),
    Column("size", pa.int64(), "Bytes of the sample's members (headers included)."),
    Column("n_frames", pa.int32(), "Frames in the sample's video."),
)


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.type) for c in columns])


@dataclass
class SourceRecord:
    source_id: str
    path: str
    status: str = STATUS_OK
    reason: str | None = None
    size_bytes: int | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    src_fps: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    n_frames: int | None = None
    n_scenes: int | None = None
    n_candidates: int | None = None
    # source datasets (issue 16): the range, where the row comes from, the dataset's face box
    dataset: str | None = None
    dataset_key: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    span_s: float | None = None
    labels: str | None = None
    box_x0: float | None = None
    box_y0: float | None = None
    box_x1: float | None = None
    box_y1: float | None = None
    schema_version: int = SCHEMA_VERSION

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ClipRecord:
    clip_id: str
    source_id: str
    parent_id: str
    start_frame: int
    end_frame: int
    fps: float = 25.0
    track: int = 0
    scene_index: int = 0
    status: str = STATUS_KEPT
    reason: str | None = None
    dropped_by: str | None = None
    shard: str | None = None
    measurements: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_row(self) -> dict[str, Any]:
        unknown = set(self.measurements) - set(MEASUREMENTS)
        if unknown:
            raise KeyError(f"clip {self.clip_id}: unregistered measurement columns {sorted(unknown)}; "
                           "declare them with lipforge.manifests.schema.register_measurement")
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("measurements", "fps")}
        row["start_s"] = self.start_frame / self.fps
        row["end_s"] = self.end_frame / self.fps
        row["duration_s"] = (self.end_frame - self.start_frame) / self.fps
        for name in MEASUREMENTS:
            row[name] = self.measurements.get(name)
        return row


@dataclass
class ShardRecord:
    shard: str
    key: str
    offset: int
    size: int
    n_frames: int
    schema_version: int = SCHEMA_VERSION


def columns_markdown() -> str:
    """The column documentation as a Markdown table (used to generate docs/manifests.md)."""
    out = []
    for title, cols in (("sources.parquet", SOURCE_COLUMNS), ("clips.parquet", clip_columns()),
                        ("shards.parquet", SHARD_COLUMNS)):
        out.append(f"## {title}\n\n| column | type | meaning |\n|---|---|---|")
        out += [f"| `{c.name}` | {c.type} | {c.doc} |" for c in cols]
        out.append("")
    return "\n".join(out)
