"""HDTF (Zhang et al., CVPR 2021; github.com/MRzzm/HDTF, folder ``HDTF_dataset``).

The dataset ships, per subset (``RD``, ``WDA``, ``WRA``), text files of space-separated fields:

* ``{subset}_annotion_time.txt`` (sic): ``Name.mp4 mm:ss-mm:ss mm:ss-mm:ss ...``, the talking
  ranges of one downloaded video, in order; HDTF calls range ``k`` of ``Name.mp4`` the clip ``Name_k``;
* ``{subset}_crop_wh.txt``: ``Name_k.mp4 x w y h``, the face window of clip ``k`` (its README:
  "video name+clip index | min_width | width | min_height | height (in our method)"; HDTF's
  download script crops ``w x h`` at ``(x, y)``);
* ``{subset}_resolution.txt``: ``Name.mp4 720``, the height of the download those pixels belong
  to (the README: "resolution (in our method)"; mostly 720 and 1080).

``--annotations`` is one ``*_annotion_time.txt`` or the folder holding them; the crop and
resolution files beside it give the boxes. A crop is pixels of a frame ``resolution`` px high
with the downloaded video's aspect ratio, so the box is the same whatever size was downloaded.
Without a resolution entry (or with ``0``), the crop is taken as pixels of the downloaded file
and the source says so (warning ``box_reference_assumed``); a range without a crop line gets
``no_box``; a crop that does not fit its frame ``box_clamped``. A range that starts before the
previous range of its line ends (``MittRomney.mp4 08:10-08:30 00:33-08:53``) is listed as
``implausible_range``. The video of ``Name.mp4`` is looked up as ``Name.*`` or
``{subset}_Name.*`` (what the download script of the HDTF repository writes).

>>> rows = list(read("HDTF_dataset"))                                  # doctest: +SKIP
>>> rows[0].key, rows[0].start_s, rows[0].end_s, rows[0].box_ref_h     # doctest: +SKIP
('RD_Radio1_0', 20.0, 95.0, 720.0)
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


def _table(path: Path, width: int) -> dict[str, list[str] | str] | None:
    """``stem of the first field`` -> the other fields (or the bad line's text); None when absent."""
    if not path.is_file():
        return None
    out: dict[str, list[str] | str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if parts:
            out[Path(parts[0]).stem] = parts[1:] if len(parts) == width else f"{path.name}:{n} {line.strip()!r}"
    return out


def _crop(crops: dict | None, name: str, clip: str) -> tuple[tuple[float, float, float, float] | None, str | None]:
    """(x0, y0, x1, y1) pixels of clip ``Name_k``, or (None, the warning)."""
    if crops is None:
        return None, f"no_box: no {name} beside the annotations"
    entry = crops.get(clip)
    if entry is None:
        return None, f"no_box: no {clip} line in {name}"
    if isinstance(entry, str):
        return None, f"bad_box: {entry}"
    try:
        x, w, y, h = (float(v) for v in entry)
    except ValueError:
        w = h = 0.0
    if not (w > 0 and h > 0):
        return None, f"bad_box: {clip} {' '.join(entry)} in {name}"
    return (x, y, x + w, y + h), None


def _reference(res: dict | None, name: str, stem: str) -> tuple[float | None, str | None]:
    """The height the crops of ``stem`` are measured at, or (None, the warning)."""
    entry = None if res is None else res.get(stem)
    try:
        height = float(entry[0]) if isinstance(entry, list) else 0.0
    except ValueError:
        height = 0.0
    if height > 0:
        return height, None
    got = " ".join(entry) if isinstance(entry, list) else entry
    why = f"no {name}" if res is None else f"no usable {stem} line in {name} (got {got!r})"
    return None, f"box_reference_assumed: {why}; crop pixels taken as the downloaded file's own"


def read(annotations: str | Path) -> Iterator[DatasetRow]:
    for f in _subset_files(Path(annotations)):
        subset = f.name[: -len(SUFFIX)] if f.name.endswith(SUFFIX) else f.stem
        crop_name, res_name = f"{subset}_crop_wh.txt", f"{subset}_resolution.txt"
        crops, res = _table(f.with_name(crop_name), 5), _table(f.with_name(res_name), 2)
        for n, line in enumerate(f.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            stem = Path(parts[0]).stem
            named = stem if stem.startswith(f"{subset}_") else f"{subset}_{stem}"  # the subset prefix once
            videos = tuple(dict.fromkeys((stem, named)))
            if len(parts) == 1:
                yield DatasetRow(NAME, named, videos, problem="unparsed_entry",
                                 detail=f"{line.strip()!r}: no time range", where=f"{f.name}:{n}")
                continue
            ref_h, ref_warning = _reference(res, res_name, stem)
            reach = 0.0  # the end of the line's previous range
            for k, rng in enumerate(parts[1:]):
                key, where = f"{named}_{k}", f"{f.name}:{n}"
                try:
                    a, b = rng.split("-")
                    start, end = parse_clock(a), parse_clock(b)
                except ValueError:
                    yield DatasetRow(NAME, key, videos, problem="unparsed_entry", detail=rng, where=where)
                    continue
                row = DatasetRow(NAME, key, videos, start, end, box_ref_h=ref_h, where=where)
                if start < reach:
                    row.problem = "implausible_range"
                    row.detail = f"{rng} starts before the previous range of its line ends ({reach:g} s): a typo?"
                reach = max(reach, end)
                row.box_px, warning = _crop(crops, crop_name, f"{stem}_{k}")
                if warning:
                    row.warnings.append(warning)
                elif ref_warning:
                    row.warnings.append(ref_warning)
                yield row
