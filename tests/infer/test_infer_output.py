"""A faithful output: the source's fps, the driving audio's own rate and channels, the source's colour tags."""
from __future__ import annotations

import numpy as np
import pytest

CROP = 32


def _streams(path):
    import av

    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        n = sum(1 for _ in c.decode(video=0))
        return float(v.average_rate), n, a.rate, a.channels, v.codec_context.color_range, v.codec_context.colorspace


@pytest.fixture(scope="module")
def media30(tmp_path_factory):
    from lipforge.testing import make_talking_head

    d = tmp_path_factory.mktemp("media30")
    src = make_talking_head(d / "src30.mp4", seconds=1.2, size=(160, 160), face_px=110, out_fps=30)
    drv = make_talking_head(d / "drv.mp4", seconds=1.0, size=(64, 64), face_px=40, seed=3, out_sample_rate=44100,
                            out_channels=2)
    return src.path, drv.path


def test_source_fps_and_driving_audio_kept(tiny_pipeline, media30, tmp_path):
    from lipforge.infer.source import probe

    src, drv = media30
    out = tiny_pipeline(src, drv, tmp_path / "o.mp4", num_inference_steps=1, crop_size=CROP, progress=False)
    fps, n, rate, ch, rng, cs = _streams(out)
    assert fps == 30.0 and n in (30, 31)  # 1.0 s of driving audio (+ AAC padding) at the source's 30 fps
    assert (rate, ch) == (44100, 2)  # not 16 kHz mono
    info = probe(src)
    assert rng == (2 if info.full_range else 1) and cs == {"ITU709": 1, "ITU601": 5}[info.matrix]
    out25 = tiny_pipeline(src, drv, tmp_path / "o25.mp4", num_inference_steps=1, crop_size=CROP, progress=False,
                          fps=25)
    assert _streams(out25)[0] == 25.0 and _streams(out25)[1] in (25, 26)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # scratch folders removed


def test_colour_round_trip_through_the_writer(tmp_path):
    """Decode -> write -> decode keeps the untouched pixels as close as a plain re-encode would."""
    from lipforge.infer.source import iter_native, probe
    from lipforge.infer.writer import OutputVideo
    from lipforge.testing import make_talking_head

    src = make_talking_head(tmp_path / "s.mp4", seconds=0.4, size=(160, 160), face_px=110).path
    info = probe(src)
    frames = list(iter_native(info))
    with OutputVideo(tmp_path / "o.mp4", info, info.fps) as w:
        for f in frames:
            w.write(f)
    back = list(iter_native(probe(tmp_path / "o.mp4")))
    d = np.stack(back).astype(np.int16) - np.stack(frames).astype(np.int16)
    assert abs(d.mean()) < 0.3 and np.abs(d).mean() < 2.0, (d.mean(), np.abs(d).mean())


def test_a_job_never_decodes_the_whole_video(tiny_pipeline, infer_media, tmp_path, monkeypatch):
    """The streamed path is the one that runs: the whole-video decoder is not called, and the
    crops / generated crops live in files (removed with the job's scratch folder)."""
    import lipforge.pipeline.media as media

    def whole(*a, **kw):
        raise AssertionError("decode_video (whole video in RAM) was called by inference")

    monkeypatch.setattr(media, "decode_video", whole)
    out = tiny_pipeline(infer_media["src"].path, infer_media["long"].path, tmp_path / "o.mp4", num_inference_steps=1,
                        crop_size=CROP, progress=False)
    assert out.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_whisper_runs_once_per_job_on_its_audio(tiny_pipeline, infer_media, monkeypatch):
    from lipforge.infer.prepare import prepare_job

    prep = prepare_job(infer_media["src"].path, infer_media["long"].path, CROP)  # 50 frames: 4 segments
    m = tiny_pipeline.model
    calls: list[int] = []
    original = m.audio_features

    def counted(audio):
        calls.append(int(np.asarray(audio).shape[-1]))
        return original(audio)

    monkeypatch.setattr(m, "audio_features", counted)
    tiny_pipeline.generate(prep, num_inference_steps=1, progress=False)
    assert calls == [len(prep.audio)] and len(prep.audio) == 50 * 640  # once, the job's length, not 30 s


def _centre_only_51(path, seconds=1.0, sr=48000):
    from lipforge.testing.media import write_multichannel_wav

    t = np.arange(int(seconds * sr)) / sr
    a = np.zeros((6, len(t)), np.float32)
    a[2] = 0.5 * np.sin(2 * np.pi * 440 * t)  # dialogue on the centre channel only (FL FR FC LFE BL BR)
    return write_multichannel_wav(path, a, sr, "5.1")


def _rms_per_channel(path):
    from lipforge.infer.writer import read_audio_native

    d = read_audio_native(path)
    return d.rate, d.layout, np.sqrt((d.samples.astype(np.float64) ** 2).mean(0))


def test_51_driving_audio_keeps_its_centre_channel(tiny_pipeline, infer_media, tmp_path):
    """A 5.1 track whose dialogue is on the centre channel comes out 5.1 at 48 kHz with the
    dialogue heard on the centre (it used to keep FL+FR only: silence)."""
    drv = _centre_only_51(tmp_path / "drv51.wav")
    out = tiny_pipeline(infer_media["src"].path, drv, tmp_path / "o.mp4", num_inference_steps=1, crop_size=CROP,
                        progress=False)
    rate, layout, rms = _rms_per_channel(out)
    assert (rate, layout, len(rms)) == (48000, "5.1", 6)
    assert rms[2] > 0.3 and np.all(np.delete(rms, 2) < 0.01), rms  # 0.354 in, on FC only


@pytest.mark.parametrize("mix,n", [("stereo", 2), ("mono", 1)])
def test_explicit_downmix_carries_the_centre(mix, n, tmp_path):
    from lipforge.infer.source import probe
    from lipforge.infer.writer import OutputVideo, read_audio_native
    from lipforge.testing import make_talking_head

    drv = _centre_only_51(tmp_path / "drv51.wav", seconds=0.5)
    info = probe(make_talking_head(tmp_path / "s.mp4", seconds=0.2, size=(64, 64), face_px=40).path)
    with OutputVideo(tmp_path / "o.mp4", info, info.fps, read_audio_native(drv, mix)) as w:
        for _ in range(5):
            w.write(np.zeros((64, 64, 3), np.uint8))
    rate, layout, rms = _rms_per_channel(tmp_path / "o.mp4")
    assert (rate, len(rms)) == (48000, n)
    assert np.all(rms > 0.2), rms  # ffmpeg's matrix: centre at -3 dB in each side (0.25), mono 0.35


def test_unknown_mix_is_refused(tmp_path):
    from lipforge.infer.writer import read_audio_native

    with pytest.raises(ValueError, match="audio mix"):
        read_audio_native(_centre_only_51(tmp_path / "a.wav", seconds=0.1), "5.1")
