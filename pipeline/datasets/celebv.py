"""CelebV-HQ (Zhu et al., ECCV 2022) and CelebV-Text (Yu et al., CVPR 2023): their info JSON.

Both repositories (github.com/CelebV-HQ/CelebV-HQ, github.com/celebv-text/CelebV-Text) publish
one JSON file (``celebvhq_info.json``, ``celebvtext_info.json``) of the form::

    {"meta_info": {...},                       # CelebV-HQ only: attribute names
     "clips": {"M2Ohb0FAaJU_1": {"ytb_id": "M2Ohb0FAaJU",
                                 "duration": {"start_sec": 81.62, "end_sec": 86.17},
                                 "bbox": {"top": 0.0, "bottom": 0.8815, "left": 0.1964, "right": 0.6922},
                                 "attributes": {"emotion": {"sep_flag": false, "labels": "neutral"}, ...},
                                 "version": "v0.1"}, ...}}

The clip id is the dataset key, ``ytb_id`` names the downloaded video (their download scripts
write ``{ytb_id}.mp4``), the duration is seconds in that video. CelebV-HQ's box is normalized
(0..1, its README and download script say so); the CelebV-Text README shows boxes in pixels
(``"bottom": 937``) and its download script crops with them unscaled, so a box with a value
above 1 is taken as pixels of the downloaded video and normalized with that video's size. The
CelebV-Text README's second example spells the times ``start_frame`` / ``end_frame`` while
calling them "start and end times" (and its script reads only ``start_sec``): both spellings
are read as seconds. CelebV-HQ's emotion label(s) become the row's labels.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from lipforge.pipeline.datasets.base import DatasetRow, normalized_box


def _load(annotations: Path) -> dict:
    if not annotations.is_file():
        raise FileNotFoundError(f"--annotations {annotations}: no such file (the dataset's info .json)")
    try:
        data = json.loads(annotations.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"--annotations {annotations}: not a JSON file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("clips"), dict):
        raise ValueError(f"--annotations {annotations}: expected a JSON object with a 'clips' mapping")
    return data["clips"]


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
    if isinstance(b, dict) and all(k in b for k in ("top", "bottom", "left", "right")):
        try:
            t, bo, le, ri = (float(b[k]) for k in ("top", "bottom", "left", "right"))
        except (TypeError, ValueError):
            return row
        if max(t, bo, le, ri) <= 1.0:
            row.box = normalized_box(le, t, ri, bo)
        else:
            row.box_px = (le, t, ri, bo)
    return row


def _read(dataset: str, annotations: str | Path) -> Iterator[DatasetRow]:
    path = Path(annotations)
    for key, clip in _load(path).items():
        where = f"{path.name}:clips[{key!r}]"
        if not isinstance(clip, dict):
            yield DatasetRow(dataset, str(key), ("",), problem="unparsed_entry", detail="not an object", where=where)
            continue
        yield clip_row(dataset, str(key), clip, where, labels=_emotion(clip))


def read_hq(annotations: str | Path) -> Iterator[DatasetRow]:
    return _read("celebv_hq", annotations)


def read_text(annotations: str | Path) -> Iterator[DatasetRow]:
    return _read("celebv_text", annotations)
