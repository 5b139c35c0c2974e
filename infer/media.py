"""Media decoding for inference and training, re-exported from pipeline.media so every side
encodes and decodes the same way (train may import infer, never pipeline)."""
from pipeline.media import MediaDecodeError, decode_audio, decode_video, decode_wav, encode_video, encode_wav

__all__ = ["MediaDecodeError", "decode_audio", "decode_video", "decode_wav", "encode_video", "encode_wav"]
