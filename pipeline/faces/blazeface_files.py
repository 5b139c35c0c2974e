"""BlazeFace's model files: where set-up puts them, how they are checked, how set-up gets them.

Google's BlazeFace detectors (Apache-2.0) ship inside mediapipe's 0.10.x wheels under
``mediapipe/modules/face_detection/``. Those wheels cannot be installed beside lipforge (they
need protobuf < 5), and the current mediapipe (which runs the files) bundles no models, so
set-up downloads one pinned 0.10.x wheel with ``pip download --no-deps`` (a registry package,
never a model hub), checks its sha256, extracts the two files, checks theirs, and places them in
:data:`DEFAULT_DIR`. Nothing is fetched at run time: a missing or altered file fails when the
faces stage is constructed, naming the path and the set-up command.

    python -m lipforge.pipeline.faces.blazeface_files [DIR]    # what scripts/setup.sh runs

>>> missing_files("/nonexistent")  # doctest: +SKIP
['face_detection_full_range_sparse.tflite', 'face_detection_short_range.tflite']
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DEFAULT_DIR = "~/.cache/lipforge/models/blazeface"
FULL_RANGE = "face_detection_full_range_sparse.tflite"
SHORT_RANGE = "face_detection_short_range.tflite"
# sha256 of each file as extracted from the pinned wheel (676,746 and 229,714 bytes)
SHA256 = {
    FULL_RANGE: "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    SHORT_RANGE: "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
}
# The one wheel set-up downloads (any platform's wheel holds the same files; this one is pinned)
WHEEL = "mediapipe==0.10.21"
WHEEL_FILE = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
WHEEL_MEMBER = "mediapipe/modules/face_detection/"
SETUP_HINT = (f"scripts/setup.sh puts them in {DEFAULT_DIR} (it runs `python -m lipforge.pipeline.faces.blazeface_files "
              f"[DIR]`, which extracts them from the pinned {WHEEL} wheel); set stages.faces.blazeface_dir for another folder")


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def missing_files(model_dir: str | Path) -> list[str]:
    """Names of the model files absent from ``model_dir`` (checksums are not read here)."""
    d = Path(model_dir).expanduser()
    return [n for n in SHA256 if not (d / n).is_file()]


def require_files(model_dir: str | Path, what: str = "stages.faces (blazeface)") -> dict[str, Path]:
    """Paths of both files, each checked against its pinned sha256; raises FileNotFoundError
    naming the expected path (or ValueError for a file whose bytes differ)."""
    from lipforge.pipeline.models import require_model_file

    d = Path(model_dir).expanduser()
    out = {}
    for name, digest in SHA256.items():
        p = require_model_file(d / name, None, what, SETUP_HINT)
        if sha256(p) != digest:
            raise ValueError(f"{what}: {p} is not the pinned BlazeFace file (sha256 differs); {SETUP_HINT}")
        out[name] = p
    return out


def install(model_dir: str | Path = DEFAULT_DIR, python: str = sys.executable) -> Path:
    """Download the pinned wheel, check it, extract the two files into ``model_dir``; idempotent
    (files already there with the right checksums are kept and nothing is downloaded)."""
    d = Path(model_dir).expanduser()
    if all((d / n).is_file() and sha256(d / n) == h for n, h in SHA256.items()):
        return d
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lipforge-blazeface-") as tmp:
        subprocess.run([python, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", WHEEL, "-d", tmp],
                       check=True, stdout=sys.stderr)
        wheel = Path(tmp) / WHEEL_FILE
        if not wheel.is_file() or sha256(wheel) != WHEEL_SHA256:
            raise RuntimeError(f"blazeface set-up: {WHEEL_FILE} missing or its sha256 is not {WHEEL_SHA256}")
        with zipfile.ZipFile(wheel) as z:
            for name, digest in SHA256.items():
                data = z.read(WHEEL_MEMBER + name)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise RuntimeError(f"blazeface set-up: {name} in {WHEEL_FILE} has an unexpected sha256")
                part = d / (name + ".part")
                part.write_bytes(data)
                os.replace(part, d / name)  # never a half-written model file under its own name
    return d


if __name__ == "__main__":
    print(install(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DIR))
