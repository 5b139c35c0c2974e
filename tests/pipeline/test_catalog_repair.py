"""A corpus wedged by a row recorded before inputs were bounded (``end_s=1e300``: an id of 300
digits that names no file) stops a run with one line naming it, and ``--remove`` or
``--prune-missing`` repairs it; such a row is refused before anything is recorded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lipforge.manifests.ids import source_id_for_path
from lipforge.testing.corpus import curate, fresh, make_media, path_list, published, write_config


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


def wedge(out: Path, video: Path) -> str:
    """Add the entry an unbounded list row left in ``work/corpus.json``; returns its id."""
    sid = f"{source_id_for_path(str(video))}_00000000_{int(round(1e300 * 1000)):08d}"
    cat = out / "work" / "corpus.json"
    body = json.loads(cat.read_text())
    body["sources"][sid] = {"path": str(video), "content": None, "fingerprints": {},
                            "spec": {"start_s": 0.0, "end_s": 1e300}}
    cat.write_text(json.dumps(body))
    return sid


def test_an_unbounded_row_is_refused_before_anything_is_recorded(media, tmp_path, capsys):
    out = tmp_path / "out"
    lst = tmp_path / "l.csv"
    lst.write_text(f"path,start_s,end_s\n{media['a']},0,1e300\n")
    assert curate(out, "--input", str(lst), cfg=write_config(tmp_path / "run.yaml")) == 2
    err = capsys.readouterr().err
    assert "l.csv row 2" in err and "end_s (1e+300)" in err and len(err.strip().splitlines()) == 1
    assert not (out / "work").exists()


@pytest.mark.parametrize("how", ["remove", "prune"])
def test_a_wedged_corpus_is_repaired_by_remove_or_prune_missing(media, tmp_path, capsys, how):
    cfg = write_config(tmp_path / "run.yaml")
    out = tmp_path / "out"
    files = [media["a"], media["b"]]
    assert curate(out, "--input", str(path_list(tmp_path / "lists", files)), cfg=cfg) == 0
    sid = wedge(out, media["a"])
    capsys.readouterr()
    assert curate(out, cfg=cfg) == 2  # one line naming it, not "File name too long"
    err = capsys.readouterr().err
    assert "cannot be processed" in err and "--prune-missing" in err and len(err.strip().splitlines()) == 1
    assert curate(out, *(["--remove", sid] if how == "remove" else ["--prune-missing"]), cfg=cfg) == 0
    assert sid not in json.loads((out / "work" / "corpus.json").read_text())["sources"]
    assert published(out) == fresh(tmp_path, files, cfg)
