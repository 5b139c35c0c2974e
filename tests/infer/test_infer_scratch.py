"""Preparation decodes what the output uses; a loop reads back within a disk budget; scratch is
named after the job and removed on SIGTERM and by the next run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CROP = 32
REPO = Path(__file__).resolve().parents[2]


def test_short_output_decodes_only_the_frames_it_uses(infer_media, monkeypatch, tmp_path):
    import lipforge.infer.prepare as prepare
    import lipforge.infer.source as source

    decoded = []
    original = source.iter_native

    def counting(info):
        for rgb in original(info):
            decoded.append(1)
            yield rgb

    monkeypatch.setattr(source, "iter_native", counting)
    monkeypatch.setattr(prepare, "TRACK_BLOCK", 10)  # 10 s blocks in production; 0.4 s for a 1.2 s source
    prep = prepare.prepare_job(infer_media["src"].path, infer_media["short"].path, CROP)  # 0.6 s of 1.2 s
    assert len(prep.positions) == 15 and prep.store.shape[0] == 20  # track up to the block: 20 frames
    assert len(decoded) <= 2 * 21, len(decoded)  # two passes over ~20 frames, not 2 x 30


@pytest.fixture(scope="module")
def gop_video(tmp_path_factory):
    from lipforge.testing.media import write_gop

    d = tmp_path_factory.mktemp("gop")
    frames = [np.full((32, 48, 3), (i * 7) % 256, np.uint8) for i in range(40)]
    for i, f in enumerate(frames):
        f[:, : i + 1] = 255 - f[:, : i + 1]  # each frame tells its index
    return write_gop(d / "g.mp4", frames, 25, np.zeros(16000, np.float32), gop=8)


def _read(bg, need):
    return np.stack([bg[int(i)] for i in need])


def test_loop_reads_back_from_the_source_as_the_spool_does(gop_video, tmp_path):
    from lipforge.infer.backgrounds import Backgrounds
    from lipforge.infer.source import probe
    from lipforge.infer.video import loop_indices

    info = probe(gop_video)
    need = loop_indices(30, 100)  # forward, backward, forward, backward: a loop's order (frames < 30)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    spool = Backgrounds(info, need, tmp_path / "a", mode="spool")
    seek = Backgrounds(info, need, tmp_path / "b", mode="seek")
    seek.window = 5  # several windows per backward pass
    try:
        assert spool.mode == "spool" and len(spool._spool) == 31  # only up to the last frame used (+1)
        a, b = _read(spool, need), _read(seek, need)
        assert np.array_equal(a, b)
        assert seek._spool is None and not list((tmp_path / "b").iterdir())  # nothing on disk
    finally:
        spool.close()
        seek.close()
    assert not list((tmp_path / "a").iterdir())


def test_spool_beyond_the_budget_reads_back_instead(gop_video, tmp_path):
    from lipforge.infer.backgrounds import Backgrounds
    from lipforge.infer.source import probe
    from lipforge.infer.video import loop_indices

    info = probe(gop_video)
    need = loop_indices(30, 60)
    bg = Backgrounds(info, need, tmp_path, spool_budget=1000)  # 31 frames need 142 kB
    assert bg.mode == "seek" and not list(tmp_path.iterdir())
    with pytest.raises(OSError, match="budget"):
        Backgrounds(info, need, tmp_path, spool_budget=1000, mode="spool")


def test_next_run_removes_a_killed_runs_scratch(tmp_path):
    from lipforge.infer.scratch import job_scratch, partial_path, scratch_path

    out = tmp_path / "o.mp4"
    scratch_path(out).mkdir()
    (scratch_path(out) / "source.u8").write_bytes(b"x" * 100)  # what a SIGKILL left
    partial_path(out).write_bytes(b"half a video")
    with job_scratch(out) as d:
        assert d == scratch_path(out) and not list(d.iterdir()) and not partial_path(out).exists()
    assert not list(tmp_path.iterdir())


def test_sigterm_removes_scratch_and_partial_output(tmp_path):
    code = ("import sys, time, pathlib; from lipforge.infer.scratch import job_scratch, partial_path\n"
            "out = pathlib.Path(sys.argv[1])\n"
            "with job_scratch(out) as d:\n"
            "    (d / 'crops.u8').write_bytes(b'x' * 1000); partial_path(out).write_bytes(b'half')\n"
            "    print('ready', flush=True); time.sleep(60)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "o.mp4")], stdout=subprocess.PIPE, text=True,
                         env=env)
    try:
        assert p.stdout.readline().strip() == "ready"
        assert len(list(tmp_path.iterdir())) == 2
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()
    assert not list(tmp_path.iterdir())  # neither the scratch folder nor the partial file is left
