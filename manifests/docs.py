"""Generate docs/manifests.md from the schemas and the sample layout: ``python -m lipforge.manifests.docs``.

A test checks the committed file is current, so a new column cannot go undocumented.
"""
from __future__ import annotations

import sys
from pathlib import Path

from lipforge.manifests.layout import SAMPLE_LAYOUT
from lipforge.manifests.schema import columns_markdown


def render() -> str:
    s = ("# Manifests and shard layout\n\nGenerated from manifests/schema.py and manifests/layout.py "
         "(`python -m lipforge.manifests.docs`). Parquet files live in `<output>/manifests/` and read with pandas "
         "or duckdb.\n\n" + columns_markdown() +
         "\n## Shard sample layout\n\nA sample's WebDataset `__key__` equals its `clip_id`; members are "
         "`<key>.<ext>`.\n\n| ext | kind | dtype | shape | required | meaning |\n|---|---|---|---|---|---|\n")
    for f in SAMPLE_LAYOUT.values():
        s += f"| `{f.ext}` | {f.kind} | {f.dtype or ''} | {f.shape or ''} | {f.required} | {f.doc} |\n"
    return s


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "manifests.md"
    out.write_text(render())
    print(out)


if __name__ == "__main__":
    main()
