"""The stages: the base class and its stats, the run config, the registry, the verdict rules (rejudge), each stage's provenance, and the stages themselves (segment, speech, faces, ...)."""
