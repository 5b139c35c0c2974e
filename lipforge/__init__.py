"""lipforge: lip-sync corpora, training and inference. The CLI and test factories live here."""
__version__ = "0.1.0"
