"""Source-level work: probe an input file, then decode it once into candidate clips.

``probe_source`` gives a per-file verdict (never raises for media problems); ``Segmenter``
streams a probed source into bounded candidate :class:`~lipforge.pipeline.stage.ClipItem` s at 25 fps /
16 kHz mono, split at scene cuts. Heavy imports (av, cv2, scenedetect) happen inside functions.
The names load lazily, so the pure ``scenes`` module (shared with inference) imports nothing else.
"""
from importlib import import_module

_NAMES = {"probe_source": "probe", "Segmenter": "segment", "iter_candidates": "segment",
          "split_remainder": "segment"}
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
