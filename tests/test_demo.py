"""The README's main job, end to end: synthetic inputs -> curate on a local Ray -> tiny train ->
lip-sync. Slow (about a minute) but it is the command a new user runs first."""
import subprocess
import sys

import pyarrow.parquet as pq
import pytest


@pytest.mark.slow
@pytest.mark.ray
def test_demo_runs_the_whole_arc(tmp_path):
    work = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "lipforge.cli", "demo", "--workdir", str(work)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "lipsync_video" in r.stdout
    sources = {x["source_id"].rsplit("_", 1)[0]: x for x in pq.read_table(work / "corpus/manifests/sources.parquet").to_pylist()}
    assert sources["corrupt"]["reason"] == "decode_error"
    clips = {x["source_id"].rsplit("_", 1)[0]: x for x in pq.read_table(work / "corpus/manifests/clips.parquet").to_pylist()}
    assert clips["silent"]["reason"] == "no_speech"
    assert clips["speaker_a"]["status"] == "kept" and clips["speaker_b_30fps_44k"]["status"] == "kept"
    import av

    with av.open(str(work / "lipsync.mp4")) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.width, v.height) == (384, 384) and float(v.average_rate) == 25.0
        assert float(c.duration) / 1e6 == pytest.approx(3.0, abs=0.1)  # the new speech is 3 s
        assert a.sample_rate == 16000
