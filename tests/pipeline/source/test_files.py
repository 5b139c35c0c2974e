"""Only regular files are opened as sources: FIFOs, sockets, devices and directories named like
videos get a reason before any open (a FIFO would block an open for good), on every path that
opens a source: probe, parts, the frame and audio decoders (segmenter and report)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from lipforge.pipeline.media import MediaDecodeError
from lipforge.pipeline.source.files import source_file_problem
from lipforge.pipeline.source.inputs import SourceInput


@pytest.fixture()
def specials(tmp_path) -> dict[str, Path]:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    sock_path = tmp_path / "s.mp4"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    yield {"fifo": fifo, "folder": folder, "socket": sock_path, "device": Path("/dev/null"),
           "link_to_fifo": _link(tmp_path / "link.mp4", fifo)}
    sock.close()


def _link(p: Path, target: Path) -> Path:
    p.symlink_to(target)
    return p


def test_special_files_are_not_a_file(specials, tmp_path):
    for name, p in specials.items():
        assert source_file_problem(p) == "not_a_file", name
    assert source_file_problem(tmp_path / "nothing.mp4") == "not_found"
    assert source_file_problem(tmp_path / ("x" * 300 + ".mp4")) == "not_found"  # a name too long to exist
    real = tmp_path / "real.mp4"
    real.write_bytes(b"x")
    assert source_file_problem(real) is None


def test_unreadable_file_is_permission_denied(tmp_path, monkeypatch):
    p = tmp_path / "secret.mp4"
    p.write_bytes(b"x")
    p.chmod(0)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root reads any file: say no as a user would be told
    assert source_file_problem(p) == "permission_denied"


def test_every_opener_refuses_a_fifo_without_blocking(specials):
    from lipforge.pipeline.stages.config import ProbeConfig
    from lipforge.pipeline.source.normalize import AudioStream, FrameStream
    from lipforge.pipeline.source.parts import announced_span_s
    from lipforge.pipeline.source.probe import probe_source
    from lipforge.pipeline.source.ranges import probe_input

    fifo = str(specials["fifo"])  # an open of it would block this test until pytest's timeout
    assert probe_source(fifo, "pipe", ProbeConfig()).reason == "not_a_file"
    assert probe_input(SourceInput(fifo, "pipe", 0.0, 2.0), ProbeConfig()).reason == "not_a_file"
    assert announced_span_s(SourceInput(fifo, "pipe")) is None
    with pytest.raises(MediaDecodeError, match="not_a_file"):
        next(iter(FrameStream(fifo, 25, 96)))
    with pytest.raises(MediaDecodeError, match="not_a_file"):
        AudioStream(fifo, 0.0).read(0, 640)
