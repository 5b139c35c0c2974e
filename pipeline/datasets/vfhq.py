"""VFHQ (Xie et al., CVPRW 2022; liangbinxie.github.io/projects/vfhq): its ``meta_info`` files.

VFHQ publishes one text file per clip, named ``Clip+{video_id}+P{person}+C{clip}+F{first}-{last}.txt``
(frame numbers of the clip in the original YouTube video), whose lines include::

    Video ID: {video_id}
    H: 1080
    W: 1920
    FPS: 25.0
    ...                                   (per-frame landmark lines)
    CROP: x0 y0 x1 y1                     (the clip's face crop, pixels of the W x H video)

(the layout as public VFHQ download tools parse it, e.g. yunyu/vfhq-downloader's
``parse_meta_info.py``: ``H``/``W``/``FPS`` as the last field of their line, the crop as the last
four fields of the ``CROP`` line; no official meta_info file was read for this adapter). The
range is ``[first / FPS, last / FPS)`` (that downloader trims one frame at each end; we keep the
named frames) and the crop, divided by ``W`` and ``H`` (the original video's size, so the box
holds for a download of any size with its aspect ratio), is the box; a clip without a ``CROP``
line gets the warning ``no_box``.
``--annotations`` is the ``meta_info`` folder (walked recursively) or one such file.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from lipforge.pipeline.datasets.base import DatasetRow

NAME = "vfhq"


def parse_meta(path: Path) -> DatasetRow:
    name = path.stem
    parts = name.split("+")
    where = path.name
    try:
        if len(parts) != 5 or parts[0] != "Clip" or not parts[4].startswith("F"):
            raise ValueError("file name is not Clip+{video_id}+P{n}+C{n}+F{first}-{last}")
        vid = parts[1]
        first, last = (int(v) for v in parts[4][1:].split("-"))
        info: dict[str, str] = {}
        crop = None
        for line in path.read_text(errors="replace").splitlines():
            head = re.split(r"[:\s]", line.strip(), maxsplit=1)[0].upper()
            if head in ("H", "W", "FPS"):
                info[head] = line.strip().split()[-1]
            elif head.startswith("CROP"):
                crop = [float(v) for v in line.strip().split()[-4:]]
        h, w, fps = int(info["H"]), int(info["W"]), float(info["FPS"])
        if fps <= 0 or w <= 0 or h <= 0:
            raise ValueError(f"bad H/W/FPS {h}/{w}/{fps}")
    except (ValueError, KeyError, IndexError, OSError) as e:
        return DatasetRow(NAME, name, (parts[1] if len(parts) > 1 else name,), problem="unparsed_entry",
                          detail=str(e), where=where)
    row = DatasetRow(NAME, name, (vid,), first / fps, last / fps, where=where)
    if crop and len(crop) == 4:  # pixels of the W x H video: normalized by it, whatever size was downloaded
        row.box = (crop[0] / w, crop[1] / h, crop[2] / w, crop[3] / h)
    else:
        row.warn("no_box", "no CROP line of four numbers")
    return row


def read(annotations: str | Path) -> Iterator[DatasetRow]:
    path = Path(annotations)
    if path.is_file():
        yield parse_meta(path)
        return
    if not path.is_dir():
        raise FileNotFoundError(f"--annotations {path}: no such file or folder (VFHQ meta_info)")
    files = sorted(path.rglob("Clip+*.txt"))
    if not files:
        raise FileNotFoundError(f"--annotations {path}: no Clip+*.txt meta file in this folder")
    for f in files:
        yield parse_meta(f)
