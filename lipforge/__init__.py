"""lipforge: lip-sync corpora, training and inference.

The installed package holds everything: ``lipforge.manifests`` (the contract),
``lipforge.pipeline`` (curation), ``lipforge.infer`` (model, scheduler, sampling pipeline),
``lipforge.train``; this top level holds the command line, the demo and the test factories.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lipforge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
