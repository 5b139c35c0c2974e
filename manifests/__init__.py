"""The contract shared by curation, training and inference.

Imports nothing of the project, and neither torch nor ray: schemas of the source, clip and
shard manifests, deterministic ids, and the one shard sample layout that the writer and every
reader use.
"""
from lipforge.manifests.ids import clip_id, source_id_for_path
from lipforge.manifests.layout import SAMPLE_LAYOUT, SampleField, decode_sample, encode_sample
from lipforge.manifests.schema import (
    CLIP_COLUMNS,
    SCHEMA_VERSION,
    SHARD_COLUMNS,
    SOURCE_COLUMNS,
    ClipRecord,
    ShardRecord,
    SourceRecord,
)

__all__ = [
    "CLIP_COLUMNS",
    "SAMPLE_LAYOUT",
    "SCHEMA_VERSION",
    "SHARD_COLUMNS",
    "SOURCE_COLUMNS",
    "ClipRecord",
    "SampleField",
    "ShardRecord",
    "SourceRecord",
    "clip_id",
    "decode_sample",
    "encode_sample",
    "source_id_for_path",
]
