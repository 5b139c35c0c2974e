"""MultiTalk (Sung-Bin et al., Interspeech 2024; github.com/postech-ami/MultiTalk).

``MultiTalk_Dataset/annotations/{language}.json`` maps a clip id to its segment::

    {"legJntdzhMs_0": {"youtube_id": "legJntdzhMs",
                       "duration": {"start_sec": 639.56, "end_sec": 643.36},
                       "bbox": {"top": 0, "bottom": 0.775, "left": 0, "right": 0.4354},
                       "language": "japanese", "transcript": "..."}, ...}

(no ``clips`` wrapper; the box is normalized like CelebV-HQ's, from whose tools MultiTalk's
download script derives). The language becomes the row's labels; the video is looked up as
``{youtube_id}.*``, preferring a folder named after the language (the download script writes
``raw_video/{language}/{youtube_id}.mp4``). ``--annotations`` is one json or the folder of them.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from lipforge.pipeline.datasets.base import DatasetRow
from lipforge.pipeline.datasets.celebv import clip_row

NAME = "multitalk"


def read(annotations: str | Path) -> Iterator[DatasetRow]:
    path = Path(annotations)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise FileNotFoundError(f"--annotations {path}: no .json annotation file in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"--annotations {path}: no such file or folder")
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"--annotations {f}: not a JSON file ({e})") from None
        if not isinstance(data, dict):
            raise ValueError(f"--annotations {f}: expected a JSON object of clip id -> segment")
        for key, clip in data.items():
            where = f"{f.name}:{key!r}"
            if not isinstance(clip, dict):
                yield DatasetRow(NAME, str(key), ("",), problem="unparsed_entry", detail="not an object", where=where)
                continue
            lang = clip.get("language") or f.stem
            yield clip_row(NAME, str(key), clip, where, video_key="youtube_id", labels=str(lang), subdir=str(lang))
