"""The deterministic shard tar writer, re-exported from pipeline.shards so train's cache tool
writes tars exactly as curation does (train may import infer, never pipeline)."""
from pipeline.shards import read_tar_samples, write_tar

__all__ = ["read_tar_samples", "write_tar"]
