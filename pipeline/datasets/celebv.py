"""CelebV-HQ (Zhu et al., ECCV 2022) and CelebV-Text (Yu et al., CVPR 2023): their info JSON.

CelebV-Text's ``celebvtext_info.json``, as downloaded, maps each clip to its entry at the top
level (its download script iterates the file itself; a public sample reads)::

    {"oC9r-CTbToE_0_0.mp4": {"meta_video_names": "oC9r-CTbToE_0", "ytb_id": "oC9r-CTbToE",
                             "duration": {"start_sec": 58.07, "end_sec": 76.27},
                             "bbox": {"top": 0.0, "bottom": 0.9369, "left": 0.2, "right": 0.775},
                             "version": "v0.11"}, ...}

CelebV-HQ's ``celebvhq_info.json`` (and CelebV-Text's README) wrap the entries in ``clips``::

    {"meta_info": {...},                       # attribute names
     "clips": {"M2Ohb0FAaJU_1": {"ytb_id": "M2Ohb0FAaJU",
                                 "duration": {"start_sec": 81.62, "end_sec": 86.17},
                                 "bbox": {"top": 0.0, "bottom": 0.8815, "left": 0.1964, "right": 0.6922},
                                 "attributes": {"emotion": {"sep_flag": false, "labels": "neutral"}, ...},
                                 "version": "v0.1"}, ...}}

Both forms are read. The entry's key is the dataset key, ``ytb_id`` names the downloaded video
(their download scripts write ``{ytb_id}.mp4``), the duration is seconds in that video. Boxes
are normalized (0..1) in both real files (the download scripts scale them by the video's size);
the CelebV-Text README shows one in pixels (``"bottom": 937``), so a box with a value above 2 is
taken as pixels of the downloaded video. An entry without a box gets the warning ``no_box``.
The CelebV-Text README's second example spells the times ``start_frame`` / ``end_frame`` while
calling them "start and end times" (and its script reads only ``start_sec``): both spellings
are read as seconds. CelebV-HQ's emotion label(s) become the row's labels.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from lipforge.pipeline.datasets.base import DatasetRow


_NOT_CLIPS = ("meta_info", "mete_info")  # CelebV-HQ's attribute names (its README spells it "mete_info")


def _load(annotations: Path) -> tuple[dict, str]:
    """The clip id -> entry mapping, and how a row names where it is (``clips[...]`` or ``[...]``)."""
    if not annotations.is_file():
        raise FileNotFoundError(f"--annotations {annotations}: no such file (the dataset's info .json)")
    try:
        data = json.loads(annotations.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"--annotations {annotations}: not a JSON file ({e})") from None
    if isinstance(data, dict) and isinstance(data.get("clips"), dict):
        return data["clips"], "clips"
    if isinstance(data, dict):
        entries = {k: v for k, v in data.items() if k not in _NOT_CLIPS}
        if any(isinstance(v, dict) and "duration" in v for v in entries.values()):
            return entries, ""
    raise ValueError(f"--annotations {annotations}: expected a JSON object of clip id -> entry (with 'ytb_id' "
                     f"and 'duration'), or of the form {{'clips': {{...}}}}")


def _emotion(clip: dict) -> str | None:
    emo = (clip.get("attributes") or {}).get("emotion") or {}
    labels = emo.get("labels")
    if isinstance(labels, str):
        return labels
    if isinstance(labels, list):
        names = [x.get("emotion") for x in labels if isinstance(x, dict) and x.get("emotion")]
        return ",".join(dict.fromkeys(names)) or None
    return None


def clip_row(dataset: str, key: str, clip: dict, where: str, video_key: str = "ytb_id",
             labels: str | None = None, subdir: str | None = None) -> DatasetRow:
    """One clip entry (CelebV-HQ, CelebV-Text and MultiTalk share this layout)."""
    try:
        vid = str(clip[video_key])
        dur = clip["duration"]
        start = float(dur["start_sec"] if "start_sec" in dur else dur["start_frame"])
        end = float(dur["end_sec"] if "end_sec" in dur else dur["end_frame"])
    except (KeyError, TypeError, ValueError) as e:
        return DatasetRow(dataset, key, (str(clip.get(video_key, "")),), problem="unparsed_entry",
                          detail=f"missing or bad {e}", where=where)
    row = DatasetRow(dataset, key, (vid,), start, end, labels=labels, subdir=subdir, where=where)
    b = clip.get("bbox")
    if b is None:
        row.warn("no_box", "the entry has no bbox")
        return row
    try:
        t, bo, le, ri = (float(b[k]) for k in ("top", "bottom", "left", "right"))
    except (KeyError, TypeError, ValueError):
        row.warn("bad_box", f"bbox {json.dumps(b)[:120]}")
        return row
    if max(t, bo, le, ri) <= 2.0:  # normalized (fit to the frame, with a warning if it overshoots, later)
        row.box = (le, t, ri, bo)
    else:
        row.box_px = (le, t, ri, bo)
    return row


def _read(dataset: str, annotations: str | Path) -> Iterator[DatasetRow]:
    path = Path(annotations)
    clips, wrapper = _load(path)
    for key, clip in clips.items():
        where = f"{path.name}:{wrapper}[{key!r}]"
        if not isinstance(clip, dict):
            yield DatasetRow(dataset, str(key), ("",), problem="unparsed_entry", detail="not an object", where=where)
            continue
        yield clip_row(dataset, str(key), clip, where, labels=_emotion(clip))


def read_hq(annotations: str | Path) -> Iterator[DatasetRow]:
    return _read("celebv_hq", annotations)


def read_text(annotations: str | Path) -> Iterator[DatasetRow]:
    return _read("celebv_text", annotations)
