"""Segments as inputs: a range of a file is decoded from the keyframe before it, yields exactly
the frames a whole-file decode shows there, and nothing outside it is judged."""
from __future__ import annotations


import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.manifests.ids import clip_id, source_id_for_range  # noqa: E402
from lipforge.manifests.schema import STATUS_DROPPED, SourceRecord  # noqa: E402
from lipforge.pipeline.stages.config import ProbeConfig, SegmentConfig  # noqa: E402
from lipforge.pipeline.stages.segment import Segmenter  # noqa: E402
from lipforge.pipeline.source.inputs import SourceInput  # noqa: E402
from lipforge.pipeline.source.normalize import AudioStream, FrameStream  # noqa: E402
from lipforge.pipeline.source.ranges import probe_input  # noqa: E402

from _source_media import counter_frames, read_counter, tone  # noqa: E402

from lipforge.testing.media import write_gop  # noqa: E402


def chirp(seconds: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.4 * np.sin(2 * np.pi * (200 + 150 * t) * t)).astype(np.float32)


@pytest.fixture(scope="module")
def gop25(tmp_path_factory):
    """4.8 s at 25 fps (frame k shows k), a keyframe every second, a chirp as audio."""
    return write_gop(tmp_path_factory.mktemp("ranges") / "gop25.mp4", counter_frames(120), 25, chirp(4.8))


@pytest.fixture(scope="module")
def gop30(tmp_path_factory):
    """4 s at 30 fps: the range must be normalized to 25 fps exactly as the whole file is."""
    return write_gop(tmp_path_factory.mktemp("ranges") / "gop30.mp4", counter_frames(120), 30, tone(4.0), gop=30)


def _decode(path, **kw):
    fs = FrameStream(path, 25, 640, **kw)
    got = list(fs)
    return fs, [i for i, _ in got], np.stack([f for _, f in got])


@pytest.mark.parametrize("fixture,start,end", [("gop25", 2.0, 3.6), ("gop25", 2.5, 4.8), ("gop30", 1.02, 3.0)])
def test_range_yields_the_whole_decodes_frames_and_decodes_less(request, fixture, start, end):
    path = request.getfixturevalue(fixture)
    whole, idx_w, frames_w = _decode(path)
    part, idx_p, frames_p = _decode(path, start_s=start, end_s=end)
    first, stop = int(np.ceil(start * 25 - 1e-6)), int(np.ceil(end * 25 - 1e-6))
    assert idx_p == list(range(first, stop)) and part.n_frames == stop - first
    np.testing.assert_array_equal(frames_p, frames_w[first:stop])  # same decoder, same pixels
    assert part.seeked and part.t0 == pytest.approx(whole.t0)
    # decoding started at the keyframe before the range and stopped at its end
    assert part.n_source_frames < whole.n_source_frames - first / 2
    assert read_counter(frames_p).tolist() == read_counter(frames_w[first:stop]).tolist()


def test_range_audio_matches_the_whole_decode(gop25):
    spf = 640
    whole = AudioStream(gop25, 0.0).read(60 * spf, 100 * spf)
    part = AudioStream(gop25, 0.0, start_s=60 / 25)
    got = part.read(60 * spf, 100 * spf)
    assert got.shape == whole.shape
    assert float(np.abs(got - whole).max()) < 2e-3  # AAC decoded after a seek: tolerance, not bits
    assert part.peak_buffered < 3 * 16000  # nothing before the seek point was buffered


def test_segmenter_cuts_only_inside_the_range_with_file_times(gop25):
    cfg = SegmentConfig(min_clip_s=0.5, max_clip_s=10.0, scene_detector="none", work_max_side=64)
    rec = SourceRecord("g_r", gop25, start_s=1.0, end_s=3.0, dataset="hdtf", box_x0=0.1, box_y0=0.2,
                       box_x1=0.6, box_y1=0.9)
    seg = Segmenter(cfg)
    items = list(seg.run(gop25, rec))
    assert seg.n_frames == 50
    assert [(it.start_frame, it.end_frame) for it in items] == [(25, 75)]
    it = items[0]
    assert it.clip_id == clip_id("g_r", 1.0) and it.clip_id.endswith("-00001000-00")
    assert read_counter(it.frames).tolist() == list(range(25, 75))  # frames outside never reach a stage
    assert it.audio.shape == (50 * 640,)
    assert it.measurements["dataset"] == "hdtf" and it.measurements["dataset_box"] == [0.1, 0.2, 0.6, 0.9]


def test_probe_input_judges_the_range_against_the_file(gop25):
    def probe(start, end, **cfg):
        return probe_input(SourceInput(gop25, "g", start_s=start, end_s=end, dataset="d"), ProbeConfig(**cfg))

    ok = probe(1.0, 3.0)
    assert (ok.status, ok.reason, ok.span_s, ok.start_s, ok.end_s, ok.dataset) == ("ok", None, 2.0, 1.0, 3.0, "d")
    past = probe(4.0, 9.0)
    assert (past.status, past.reason) == ("ok", "range_past_end") and past.span_s == pytest.approx(0.8, abs=0.05)
    out = probe(6.0, 7.0)
    assert (out.status, out.reason, out.span_s) == (STATUS_DROPPED, "range_outside_file", 0.0)
    short = probe(1.0, 1.2, min_duration_s=0.5)
    assert (short.status, short.reason) == (STATUS_DROPPED, "too_short_source")
    whole = probe_input(SourceInput(gop25, "g"))
    assert whole.start_s is None and whole.span_s == pytest.approx(whole.duration_s)


def test_range_ids_are_deterministic_and_distinct():
    a = source_id_for_range("/data/x/Radio11.mp4", 30.0, 60.0)
    assert a == source_id_for_range("/other/root/Radio11.mp4", 30.0, 60.0)  # the file name, not its folder
    b = source_id_for_range("/data/x/Radio11.mp4", 90.0, 150.0)
    assert a != b and a.endswith("_00030000_00060000") and a < b  # ranges of one file sort in time order
    assert a.rsplit("_", 2)[0] == b.rsplit("_", 2)[0]


def test_a_seek_that_lands_past_the_range_start_falls_back_to_decoding_from_the_start(gop25, monkeypatch):
    _, _, frames_w = _decode(gop25)

    def broken_seek(self, c, vs):  # a container whose index sends the seek 1.5 s too far
        for frame in c.decode(vs):
            self.t0 = frame.time
            break
        c.seek(int((self.t0 + self.first_index / self.fps + 1.5) / vs.time_base), stream=vs, backward=True)
        self.seeked = True

    monkeypatch.setattr(FrameStream, "_seek_to_range", broken_seek)
    part, idx, frames = _decode(gop25, start_s=2.0, end_s=3.0)
    assert idx == list(range(50, 75)) and part.n_frames == 25 and not part.seeked
    np.testing.assert_array_equal(frames, frames_w[50:75])


def test_range_of_the_real_fixture_equals_the_whole_decode(fixtures_dir):
    """HEVC with B-frames and a single keyframe (the seek lands at the start): still the same pixels."""
    path = fixtures_dir / "real" / "talking_en_1080x1920_25fps.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    whole = FrameStream(str(path), 25, 320)
    frames_w = {i: f for i, f in whole if 150 <= i < 200}
    part = FrameStream(str(path), 25, 320, start_s=6.0, end_s=8.0)
    got = list(part)
    assert [i for i, _ in got] == list(range(150, 200)) and whole.n_frames == 250 and part.n_frames == 50
    np.testing.assert_array_equal(np.stack([f for _, f in got]), np.stack([frames_w[i] for i in range(150, 200)]))


@pytest.mark.parametrize("fixture,kw", [("gop25", {}), ("gop30", {}), ("gop25", {"start_s": 2.0, "end_s": 3.6})])
def test_select_gives_the_frames_iter_shows_and_converts_only_those(request, fixture, kw, monkeypatch):
    """The report's decode: only the wanted frames are converted to RGB, decoding stops after the
    last, and the pixels are those a full iteration shows at the same indices."""
    path = request.getfixturevalue(fixture)
    full, idx_w, frames_w = _decode(path, **kw)
    by_index = dict(zip(idx_w, frames_w))
    want = {idx_w[0] + 3, idx_w[0] + 4, idx_w[len(idx_w) // 2], idx_w[0] + 50 if "start_s" not in kw else idx_w[-2]}
    converted = []
    real = FrameStream._convert
    monkeypatch.setattr(FrameStream, "_convert", lambda self, f: converted.append(1) or real(self, f))
    fs = FrameStream(path, 25, 640, **kw)
    got = list(fs.select(want))
    assert [i for i, _ in got] == sorted(want)
    for i, rgb in got:
        np.testing.assert_array_equal(rgb, by_index[i])
    assert len(converted) <= len(want) + 1  # + the first frame, which sets the sizes
    assert fs.work_scale == full.work_scale and fs.t0 == pytest.approx(full.t0)
    if not kw:  # the last wanted frame is frame 53 of 120: the rest of the file is not decoded
        assert fs.n_source_frames < full.n_source_frames * 0.6
    assert list(FrameStream(path, 25, 640).select(set())) == []
