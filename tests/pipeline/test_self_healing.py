"""A damaged work store heals on the next run, and ``--verify`` / ``--repair`` find and fix
damage to the work store and to the published shards."""
from __future__ import annotations

from pathlib import Path

import pytest

from lipforge.pipeline.store.work import WorkStore
from lipforge.testing.corpus import curate, fresh, make_media, path_list, published, write_config


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


def candidates(out: Path) -> list[Path]:
    return sorted((out / "work" / "groups").rglob("*.parquet"))


def test_power_loss_leftovers_are_recomputed_not_fatal(media, tmp_path):
    files = [media["a"], media["b"]]
    cfg = write_config(tmp_path / "run.yaml")
    out = tmp_path / "out"
    lst = path_list(tmp_path / "lists", files)
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    cands = candidates(out)
    cands[0].write_bytes(b"")  # a zero-byte commit file
    tar = cands[-1].with_suffix(".tar")
    tar.write_bytes(tar.read_bytes()[: tar.stat().st_size // 2])  # a half tar
    (out / "work" / "sources" / "junk.done").write_bytes(b"")  # not in the corpus: ignored
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    assert published(out) == fresh(tmp_path, files, cfg)
    import json

    assert json.loads((out / "summary.json").read_text())["store"]["candidates_damaged"] == 2


def test_a_half_done_source_with_a_damaged_candidate_heals(media, tmp_path):
    files = [media["a"]]
    cfg = write_config(tmp_path / "run.yaml")
    out = tmp_path / "out"
    lst = path_list(tmp_path / "lists", files)
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    sid = next(iter((out / "work" / "groups").iterdir())).name
    (out / "work" / "sources" / f"{sid}.done").unlink()  # as if killed before the source completed
    candidates(out)[1].write_bytes(b"PAR1 torn")
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    assert published(out) == fresh(tmp_path, files, cfg)
    assert WorkStore(out).source_done(sid)


def test_verify_reports_and_repair_fixes(media, tmp_path, capsys):
    files = [media["a"], media["b"]]
    cfg = write_config(tmp_path / "run.yaml")
    out = tmp_path / "out"
    assert curate(out, "--input", str(path_list(tmp_path / "lists", files)), cfg=cfg) == 0
    good = published(out)
    assert curate(out, "--verify") == 0
    assert "intact" in capsys.readouterr().out
    tar = candidates(out)[0].with_suffix(".tar")
    data = bytearray(tar.read_bytes())
    data[-2000:] = b"\0" * 2000  # same size, lost tail: only a full read sees it
    tar.write_bytes(bytes(data))
    shard = sorted((out / "shards").glob("*.tar"))[-1]
    blob = bytearray(shard.read_bytes())
    blob[600] ^= 0xFF  # bit rot inside a published sample
    shard.write_bytes(bytes(blob))
    assert curate(out, "--verify") == 1
    report = capsys.readouterr().out
    assert str(shard) in report and "digest" in report
    assert curate(out, "--verify", "--repair") == 0
    assert curate(out, "--verify") == 0
    assert published(out) == good
