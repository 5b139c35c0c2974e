"""Source-level work: probe an input file, then decode it once into candidate clips.

``probe_source`` gives a per-file verdict (never raises for media problems); ``Segmenter``
streams a probed source into bounded candidate :class:`~lipforge.pipeline.stage.ClipItem` s at 25 fps /
16 kHz mono, split at scene cuts. Heavy imports (av, cv2, scenedetect) happen inside functions.
"""
from lipforge.pipeline.source.probe import probe_source
from lipforge.pipeline.source.segment import Segmenter, iter_candidates, split_remainder

__all__ = ["probe_source", "Segmenter", "iter_candidates", "split_remainder"]
