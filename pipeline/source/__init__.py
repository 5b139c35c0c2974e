"""Source-level measures: list, probe and cut an input file (ranges, parts), below the stages.

``probe_source`` gives a per-file verdict (never raises for media problems); the decode into
candidate clips is the segment stage (:mod:`lipforge.pipeline.stages.segment`). Heavy imports (av,
cv2, scenedetect) happen inside functions, and the names load lazily, so the pure ``scenes``
module (shared with inference) imports nothing else.
"""
from importlib import import_module

_NAMES = {"probe_source": "probe"}
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
