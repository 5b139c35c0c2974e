"""Pure audio-visual and quality measures (no Ray, no I/O beyond loading a model file).

Everything here is a function or a torch module, so inference and the benchmarks can reuse
exactly what curation measured: MFCCs as python_speech_features computes them, the Light-ASD
and SyncNet v2 networks in their published state-dict layouts, the LSE-C / LSE-D offset search,
an offline (weight-free) sync measure, the silero-vad speech ratio and the HyperIQA protocol.
"""
