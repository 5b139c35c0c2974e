"""Probe: every broken-input kind gets its own reason code; the file is never changed."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.pipeline.stages.config import ProbeConfig  # noqa: E402
from lipforge.pipeline.source import probe_source  # noqa: E402

from _source_media import counter_frames, tone, write  # noqa: E402


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _faststart(src: Path, dst: Path) -> None:
    """Remux with the index (moov) first, as streaming-friendly mp4s are."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w", format="mp4", options={"movflags": "faststart"}) as o:
        m = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.dts is None:
                continue
            p.stream = m[p.stream.index]
            o.mux(p)


def _audio_only_m4a(path: Path) -> None:
    import av

    a = tone(3.0)
    with av.open(str(path), "w", format="mp4") as o:
        s = o.add_stream("aac", rate=16000)
        s.layout = "mono"
        for k in range(0, len(a), 1024):
            f = av.AudioFrame.from_ndarray(a[None, k:k + 1024], format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, k
            for p in s.encode(f):
                o.mux(p)
        for p in s.encode():
            o.mux(p)


def _half(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    import soundfile as sf

    d = tmp_path_factory.mktemp("probe")
    ok = Path(write(d / "ok.mp4", counter_frames(100), audio=tone(4.0)))
    _faststart(ok, d / "ok_faststart.mp4")
    files = {"ok": ok, "ok_faststart": d / "ok_faststart.mp4"}
    files["empty_file"] = d / "empty.mp4"
    files["empty_file"].write_bytes(b"")
    files["random_bytes"] = d / "random.mp4"
    files["random_bytes"].write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    files["text"] = d / "notes.mp4"
    files["text"].write_text("this is not a video\n" * 200)
    files["truncated_moov_last"] = d / "half.mp4"
    _half(ok, files["truncated_moov_last"])
    files["truncated_faststart"] = d / "half_fs.mp4"
    _half(files["ok_faststart"], files["truncated_faststart"])
    ftyp = ok.read_bytes()[:32]
    n = int.from_bytes(ftyp[:4], "big")
    files["ftyp_no_moov"] = d / "broken_index.mp4"  # a well-formed box list without any media
    files["ftyp_no_moov"].write_bytes(ftyp[:n] + (1008).to_bytes(4, "big") + b"free" + bytes(1000))
    files["video_only"] = Path(write(d / "silent.mp4", counter_frames(50)))
    files["audio_only_wav"] = d / "speech.wav"
    sf.write(str(files["audio_only_wav"]), tone(2.0), 16000)
    files["audio_only_m4a"] = d / "speech.m4a"
    _audio_only_m4a(files["audio_only_m4a"])
    files["too_short"] = Path(write(d / "blink.mp4", counter_frames(5), audio=tone(0.2)))
    return files


EXPECTED = {
    "ok": None, "ok_faststart": None, "empty_file": "empty_file", "random_bytes": "decode_error",
    "text": "decode_error", "ftyp_no_moov": "decode_error", "truncated_moov_last": "truncated", "truncated_faststart": "truncated",
    "video_only": "no_audio_stream", "audio_only_wav": "no_video_stream", "audio_only_m4a": "no_video_stream",
    "too_short": "too_short_source",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_input_kind_gets_its_reason_and_is_left_unchanged(inputs, kind):
    path = inputs[kind]
    before = _sha(path)
    rec = probe_source(str(path), "sid", ProbeConfig(min_duration_s=0.5))
    assert rec.reason == EXPECTED[kind], (kind, rec)
    assert rec.status == ("ok" if EXPECTED[kind] is None else "dropped")
    assert path.exists() and _sha(path) == before  # never modified or deleted
    assert rec.size_bytes == path.stat().st_size


def test_ok_source_probe_fields(inputs):
    rec = probe_source(str(inputs["ok"]), "sid", ProbeConfig())
    assert (rec.width, rec.height, rec.src_fps) == (64, 48, 25.0)
    assert (rec.video_codec, rec.audio_codec, rec.audio_sample_rate, rec.audio_channels) == ("h264", "aac", 16000, 1)
    assert rec.duration_s == pytest.approx(4.0, abs=0.05)


def test_missing_file_is_not_found(tmp_path):
    rec = probe_source(str(tmp_path / "nope.mp4"), "sid", ProbeConfig())
    assert (rec.status, rec.reason, rec.size_bytes) == ("dropped", "not_found", None)


def test_segmenter_raises_media_decode_error_on_garbage(inputs):
    from lipforge.manifests.schema import SourceRecord
    from lipforge.pipeline.media import MediaDecodeError
    from lipforge.pipeline.stages.segment import Segmenter

    for kind in ("random_bytes", "text", "truncated_moov_last"):
        with pytest.raises(MediaDecodeError):
            list(Segmenter().run(str(inputs[kind]), SourceRecord("sid", str(inputs[kind]))))
