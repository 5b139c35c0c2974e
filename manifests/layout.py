"""The one shard sample layout: keys, extensions, dtypes and shapes.

The shard writer (pipeline) and every reader (train's loader, infer, benchmarks) encode and
decode samples through :func:`encode_sample` / :func:`decode_sample`, so the two sides cannot
drift. ``T`` is the number of frames of the clip.

>>> import numpy as np
>>> raw = encode_sample("s-00000000-00", {"mp4": b"...", "wav": b"...", "json": {"fps": 25},
...                                       "detected.npy": np.ones(3, np.uint8)})
>>> sorted(raw)
['__key__', 'detected.npy', 'json', 'mp4', 'wav']
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SampleField:
    ext: str
    kind: str  # "bytes" (opaque media), "json", or "npy"
    dtype: str | None = None
    shape: tuple[str | int, ...] | None = None  # symbolic dims: "T" frames
    required: bool = False
    doc: str = ""


SAMPLE_LAYOUT: dict[str, SampleField] = {f.ext: f for f in (
    SampleField("mp4", "bytes", required=True,
                doc="H.264 video at 25 fps: the square face crop (crop_size px) when the face stages "
                    "ran, else the working frames. Frame i is clip frame i. A keyframe (closed GOP) "
                    "every json video_keyint frames, so a reader seeks to any frame; without "
                    "video_keyint (written before it, or video_keyint 0) the clip is one GOP."),
    SampleField("wav", "bytes", required=True,
                doc="16 kHz mono PCM16 WAV aligned to the video (sync shift already applied); "
                    "640 samples per frame."),
    SampleField("json", "json", required=True,
                doc="Metadata: clip_id, source_id, fps, sample_rate, n_frames, start_s, end_s, "
                    "crop_size, work_scale, audio_shift_s, video_keyint (the mp4's keyframe interval) "
                    "and the clip's measurements."),
    SampleField("face_boxes.npy", "npy", "float32", ("T", 4),
                doc="Face box per frame, x0 y0 x1 y1 in source pixels (forehead-to-chin convention)."),
    SampleField("detected.npy", "npy", "uint8", ("T",),
                doc="1 where the face was detected in that frame, 0 where the box was filled."),
    SampleField("crop_boxes.npy", "npy", "float32", ("T", 4),
                doc="Square crop box per frame in source pixels (smoothed); inverts the crop."),
    SampleField("crop_affine.npy", "npy", "float32", ("T", 2, 3),
                doc="Only with the recipe's align: similarity: the 2x3 matrix per frame taking source "
                    "pixels to crop pixels (its inverse pastes the crop back); crop_boxes.npy then "
                    "holds the square boxes the face track smoothed, not the crop."),
    SampleField("landmarks.npy", "npy", "float16", ("T", 68, 2),
                doc="68-point landmarks (x, y) in source pixels."),
    SampleField("landmarks_crop.npy", "npy", "float16", ("T", 68, 2),
                doc="The same landmarks in crop pixels (crop_size square)."),
    SampleField("mask_adaptive.npy", "npy", "float32", ("T", 4),
                doc="SayAnything adaptive mask rectangle x0 y0 x1 y1 in crop pixels (smoothed)."),
    SampleField("mask_keysync.npy", "npy", "float32", ("T", 4),
                doc="KeySync leakage-proof mask rectangle x0 y0 x1 y1 in crop pixels."),
    SampleField("asd_scores.npy", "npy", "float32", ("T",),
                doc="Light-ASD per-frame speaking score (scale named by the asd_scale measurement)."),
    SampleField("latents.npy", "npy", "float16", ("T", 4, "h", "w"),
                doc="Optional cache: VAE latents of the crop video."),
    SampleField("whisper.npy", "npy", "float16", ("A", "C"),
                doc="Optional cache: Whisper encoder features of the clip audio."),
)}

SAMPLE_RATE = 16000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS


class SampleLayoutError(ValueError):
    pass


def _check_array(key: str, f: SampleField, arr: np.ndarray, dims: dict[str, int]) -> None:
    if f.dtype is not None and arr.dtype != np.dtype(f.dtype):
        raise SampleLayoutError(f"sample {key}: field {f.ext} has dtype {arr.dtype}, layout says {f.dtype}")
    if f.shape is None:
        return
    if arr.ndim != len(f.shape):
        raise SampleLayoutError(f"sample {key}: field {f.ext} has shape {arr.shape}, layout says {f.shape}")
    for size, want in zip(arr.shape, f.shape):
        if isinstance(want, int):
            if size != want:
                raise SampleLayoutError(f"sample {key}: field {f.ext} has shape {arr.shape}, layout says {f.shape}")
        elif dims.setdefault(want, size) != size:
            raise SampleLayoutError(
                f"sample {key}: field {f.ext} has {want}={size}, another field has {want}={dims[want]}")


def encode_sample(key: str, fields: dict[str, Any]) -> dict[str, bytes | str]:
    """Validate against the layout and turn values into the bytes a tar member holds."""
    if "." in key:
        raise SampleLayoutError(f"sample key {key!r} contains '.', which WebDataset reads as an extension")
    out: dict[str, bytes | str] = {"__key__": key}
    dims: dict[str, int] = {}
    for ext, value in fields.items():
        f = SAMPLE_LAYOUT.get(ext)
        if f is None:
            raise SampleLayoutError(f"sample {key}: field {ext!r} is not in manifests.SAMPLE_LAYOUT")
        if f.kind == "bytes":
            if not isinstance(value, (bytes, bytearray)):
                raise SampleLayoutError(f"sample {key}: field {ext} must be bytes, got {type(value).__name__}")
            out[ext] = bytes(value)
        elif f.kind == "json":
            out[ext] = json.dumps(value, sort_keys=True, allow_nan=True).encode("utf-8")
        else:
            arr = np.asarray(value)
            _check_array(key, f, arr, dims)
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            out[ext] = buf.getvalue()
    missing = [e for e, f in SAMPLE_LAYOUT.items() if f.required and e not in fields]
    if missing:
        raise SampleLayoutError(f"sample {key}: required fields missing: {missing}")
    return out


def decode_sample(raw: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`encode_sample` (tolerates WebDataset's extra keys like ``__url__``)."""
    out: dict[str, Any] = {}
    for ext, value in raw.items():
        if ext.startswith("__"):
            out[ext] = value
            continue
        f = SAMPLE_LAYOUT.get(ext)
        if f is None:
            raise SampleLayoutError(f"sample {raw.get('__key__')}: unknown field {ext!r}")
        if f.kind == "bytes":
            out[ext] = value
        elif f.kind == "json":
            out[ext] = json.loads(value)
        else:
            out[ext] = np.load(io.BytesIO(value), allow_pickle=False)
    return out
