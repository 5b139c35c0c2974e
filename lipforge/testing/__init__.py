"""Factories for tests, benchmarks and the demo: synthetic talking heads and dummy clips."""
from lipforge.testing.synth import SynthVideo, make_talking_head, speech_wav, tts

__all__ = ["SynthVideo", "make_talking_head", "speech_wav", "tts"]
