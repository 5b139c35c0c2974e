"""The one check every model file goes through: found, or a message naming the file, where it
was expected and where users usually get it. Nothing is ever downloaded.

>>> require_model_file("yolo.pt", "/models", "stages.faces", "a YOLO face .pt")  # doctest: +SKIP
PosixPath('/models/yolo.pt')
"""
from __future__ import annotations

from pathlib import Path


def require_model_file(path: str | Path | None, models_dir: str | None, what: str, where_to_get: str) -> Path:
    """Absolute path of a model file; a missing one raises FileNotFoundError at construction.

    A relative ``path`` is looked up under ``models_dir`` (the run config's models_dir) when
    given, else under the current directory.
    """
    if path is None or str(path) == "":
        raise ValueError(f"{what}: no weights path configured; {where_to_get}")
    p = Path(path).expanduser()
    if not p.is_absolute() and models_dir:
        p = Path(models_dir).expanduser() / p
    if not p.is_file():
        raise FileNotFoundError(f"{what}: weights file {str(path)!r} not found (expected at {p.resolve()}); "
                                f"{where_to_get}")
    return p.resolve()
