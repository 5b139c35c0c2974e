"""``shards.keep_work_samples: false``: published clips keep no second copy in work/, and the
corpus still grows, re-judges, verifies and equals a fresh run."""
from __future__ import annotations

from pathlib import Path

import pytest

from lipforge.pipeline.run.runners.local import LocalRunner
from lipforge.testing.corpus import curate, fresh, make_media, path_list, published, write_config


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


def test_released_candidates_republish_rejudge_and_verify(media, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    lists = tmp_path / "lists"
    cfg = write_config(tmp_path / "run.yaml", speech={"min_speech_ratio": 0.3}, keep_work_samples=False)
    assert curate(out, "--input", str(path_list(lists, [media["a"], media["c"]])), cfg=cfg) == 0
    groups = out / "work" / "groups"
    assert not list(groups.rglob("*.tar")) and list(groups.rglob("*.released.json"))
    assert published(out) == fresh(tmp_path, [media["a"], media["c"]], cfg)

    # b's clips land between a's and c's: shards move, release records follow them
    assert curate(out, "--input", str(path_list(lists, [media["b"]])), cfg=cfg) == 0
    assert published(out) == fresh(tmp_path, [media["a"], media["b"], media["c"]], cfg)
    assert curate(out, "--input", str(path_list(lists, [media["b"]])), cfg=cfg) == 0  # nothing to do
    assert curate(out, "--verify") == 0

    tight = write_config(tmp_path / "tight.yaml", speech={"min_speech_ratio": 0.99}, keep_work_samples=False)
    with monkeypatch.context() as m:
        m.setattr(LocalRunner, "run", lambda *a, **k: pytest.fail("re-judging decoded a source"))
        assert curate(out, cfg=tight) == 0
    assert published(out) == fresh(tmp_path, [media["a"], media["b"], media["c"]], tight)
    assert not list(groups.rglob("*.tar"))
    capsys.readouterr()
    assert curate(out, "--verify") == 0


def test_repair_recomputes_released_clips_of_a_damaged_shard(media, tmp_path, capsys):
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "run.yaml", keep_work_samples=False)
    files = [media["a"], media["b"]]
    assert curate(out, "--input", str(path_list(tmp_path / "lists", files)), cfg=cfg) == 0
    good = published(out)
    shard = sorted((out / "shards").glob("*.tar"))[0]
    blob = bytearray(shard.read_bytes())
    blob[700] ^= 0xFF  # the only copy of a released clip
    shard.write_bytes(bytes(blob))
    assert curate(out, "--verify") == 1
    assert curate(out, "--verify", "--repair") == 0
    assert published(out) == good == fresh(tmp_path, files, cfg)
    assert curate(out, "--verify") == 0
