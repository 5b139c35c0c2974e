"""HDTF (Zhang et al., CVPR 2021; github.com/MRzzm/HDTF, folder ``HDTF_dataset``).

The dataset ships, per subset (``RD``, ``WDA``, ``WRA``), text files of space-separated fields:

* ``{subset}_annotion_time.txt`` (sic): ``Name.mp4 mm:ss-mm:ss mm:ss-mm:ss ...``, the talking
  ranges of one downloaded video; HDTF calls range ``k`` of ``Name.mp4`` the clip ``Name_k``;
* ``{subset}_crop_wh.txt``: ``Name_k.mp4 x w y h``, the face window of clip ``k`` in pixels of
  the downloaded video (its README: "video name+clip index | min_width | width | min_height |
  height"; HDTF's download script crops ``w x h`` at ``(x, y)``).

``--annotations`` is one ``*_annotion_time.txt`` or the folder holding them; a
``*_crop_wh.txt`` beside it gives the boxes (normalized with the video's size). The video of
``Name.mp4`` is looked up as ``Name.*`` or ``{subset}_Name.*`` (what the download script of the
HDTF repository writes).

>>> rows = list(read("HDTF_dataset"))                                  # doctest: +SKIP
>>> rows[0].key, rows[0].start_s, rows[0].end_s                        # doctest: +SKIP
('RD_Radio11_0', 30.0, 60.0)
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lipforge.pipeline.datasets.base import DatasetRow, parse_clock

NAME = "hdtf"
SUFFIX = "_annotion_time.txt"


def _subset_files(annotations: Path) -> list[Path]:
    if annotations.is_dir():
        found = sorted(annotations.glob(f"*{SUFFIX}"))
        if not found:
            raise FileNotFoundError(f"--annotations {annotations}: no *{SUFFIX} file in this folder")
        return found
    if not annotations.is_file():
        raise FileNotFoundError(f"--annotations {annotations}: no such file or folder")
    return [annotations]


def _crops(path: Path) -> dict[str, tuple[float, float, float, float]]:
    """``Name_k`` -> (x0, y0, x1, y1) pixels, from a ``*_crop_wh.txt`` (empty when absent)."""
    out = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        try:
            x, w, y, h = (float(v) for v in parts[1:])
        except ValueError:
            continue
        out[Path(parts[0]).stem] = (x, y, x + w, y + h)
    return out


def read(annotations: str | Path) -> Iterator[DatasetRow]:
    for f in _subset_files(Path(annotations)):
        subset = f.name[: -len(SUFFIX)] if f.name.endswith(SUFFIX) else f.stem
        crops = _crops(f.with_name(f"{subset}_crop_wh.txt"))
        for n, line in enumerate(f.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            stem = Path(parts[0]).stem
            named = stem if stem.startswith(f"{subset}_") else f"{subset}_{stem}"  # the subset prefix once
            videos = tuple(dict.fromkeys((stem, named)))
            for k, rng in enumerate(parts[1:]):
                key, where = f"{named}_{k}", f"{f.name}:{n}"
                try:
                    a, b = rng.split("-")
                    start, end = parse_clock(a), parse_clock(b)
                except ValueError:
                    yield DatasetRow(NAME, key, videos, problem="unparsed_entry", detail=rng, where=where)
                    continue
                yield DatasetRow(NAME, key, videos, start, end, box_px=crops.get(f"{stem}_{k}"), where=where)
