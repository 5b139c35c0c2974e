"""Every published byte is checked against the digest recorded when it was computed: bit rot in
a work tar or in a published shard (size and mtime kept, as bit rot leaves them) is never
published, and ``--verify`` / ``--repair`` find and undo it, ending byte-identical to a clean run."""
from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lipforge.manifests.container import scan_tar
from lipforge.testing.corpus import curate, fresh, make_media, path_list, published, write_config


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


def flip_byte(path: Path, offset: int) -> None:
    """One flipped bit pattern at ``offset``, the file's size and mtime kept."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def flip_in_sample(tar: Path) -> str:
    """Flip a byte inside the first sample's first member; returns that sample's key."""
    ref = next(scan_tar(tar))
    flip_byte(tar, ref.members[0][1] + ref.members[0][2] // 2)
    return ref.key


def last_work_tar(out: Path) -> Path:
    return sorted((out / "work" / "groups").rglob("*.tar"))[-1]


def test_damaged_work_tar_is_recomputed_not_published(media, tmp_path, capsys):
    """The reproduction of the issue: a flipped byte in a work tar, then a second batch makes the
    publish copy that tar into a new shard: it is recomputed instead, and the corpus equals a clean
    run's, byte for byte; --verify finds nothing left to repair."""
    cfg = write_config(tmp_path / "run.yaml", max_samples=100, boundaries="fill")  # one shard: rewritten by batch 2
    out = tmp_path / "out"
    lists = tmp_path / "lists"
    assert curate(out, "--input", str(path_list(lists, [media["a"], media["b"]])), cfg=cfg) == 0
    flip_in_sample(last_work_tar(out))
    capsys.readouterr()
    assert curate(out, "--input", str(path_list(lists, [media["c"]])), cfg=cfg) == 0
    err = capsys.readouterr().err
    assert "do not match the sha256 recorded" in err and "recomputing them" in err
    assert published(out) == fresh(tmp_path, [media["a"], media["b"], media["c"]], cfg)
    assert curate(out, "--verify") == 0


def test_verify_repair_undo_a_shard_published_from_damaged_bytes(media, tmp_path, capsys):
    """The state earlier versions left: a work tar and the shard published from it both hold the
    flipped byte, and the shard is named after the hash of those bytes (so it looks intact).
    --verify names it, --repair rewrites it from recomputed bytes, a second --verify is clean."""
    import hashlib

    from lipforge.manifests.corpus import current_generation
    from lipforge.pipeline.store.shards import shard_file_name

    cfg = write_config(tmp_path / "run.yaml", max_samples=100, boundaries="fill")
    out = tmp_path / "out"
    files = [media["a"], media["b"]]
    assert curate(out, "--input", str(path_list(tmp_path / "lists", files)), cfg=cfg) == 0
    good = published(out)
    key = flip_in_sample(last_work_tar(out))
    [shard] = sorted((out / "shards").glob("*.tar"))
    ref = next(r for r in scan_tar(shard) if r.key == key)
    flip_byte(shard, ref.members[0][1] + ref.members[0][2] // 2)
    first_key = shard.name[len("shard-"):-len(".tar")].rsplit("-", 1)[0]
    renamed = shard.with_name(shard_file_name(first_key, hashlib.sha256(shard.read_bytes()).hexdigest()))
    shard.rename(renamed)
    gen = current_generation(out)
    for name, col in (("shards", "shard"), ("clips", "shard")):
        t = pq.read_table(gen / f"{name}.parquet")
        vals = [v.replace(shard.name, renamed.name) if v else v for v in t[col].to_pylist()]
        pq.write_table(t.set_column(t.schema.get_field_index(col), col, pa.array(vals, pa.string())),
                       gen / f"{name}.parquet")
    capsys.readouterr()
    assert curate(out, "--verify") == 1
    report = capsys.readouterr().out
    assert f"sample {key} does not hold the bytes computed for it" in report and str(renamed) in report
    assert curate(out, "--verify", "--repair") == 0
    assert curate(out, "--verify") == 0
    assert published(out) == good


def test_flipped_byte_in_a_published_shard_is_repaired(media, tmp_path, capsys):
    cfg = write_config(tmp_path / "run.yaml", max_samples=2, boundaries="fill")
    out = tmp_path / "out"
    assert curate(out, "--input", str(path_list(tmp_path / "lists", [media["a"], media["b"]])), cfg=cfg) == 0
    good = published(out)
    shard = sorted((out / "shards").glob("*.tar"))[0]
    key = flip_in_sample(shard)
    assert curate(out, "--input", str(path_list(tmp_path / "lists", [media["a"]])), cfg=cfg) == 0
    assert published(out)["shard_bytes"] != good["shard_bytes"]  # a normal run reads no shard bytes
    capsys.readouterr()
    assert curate(out, "--verify") == 1
    report = capsys.readouterr().out
    assert str(shard) in report and (f"sample {key}" in report or "digest" in report)
    assert curate(out, "--verify", "--repair") == 0
    assert curate(out, "--verify") == 0
    assert published(out) == good


def test_released_candidate_in_a_damaged_shard_is_recomputed(media, tmp_path):
    """keep_work_samples off: the shard is a released clip's only copy; its damage is found by
    --verify and repaired by recomputing the clip from its source."""
    cfg = write_config(tmp_path / "run.yaml", max_samples=2, boundaries="fill", keep_work_samples=False)
    out = tmp_path / "out"
    files = [media["a"], media["b"]]
    assert curate(out, "--input", str(path_list(tmp_path / "lists", files)), cfg=cfg) == 0
    assert not list((out / "work" / "groups").rglob("*.tar"))
    good = published(out)
    flip_in_sample(sorted((out / "shards").glob("*.tar"))[-1])
    assert curate(out, "--verify") == 1
    assert curate(out, "--verify", "--repair") == 0
    assert curate(out, "--verify") == 0
    assert published(out) == good


def test_damaged_candidate_of_a_missing_file_stops_with_one_line(media, tmp_path, capsys):
    """Damage found at copy time needs the source to recompute: with its file gone the run stops
    with one line (nothing published from the damaged bytes) and finishes once the file is back."""
    import shutil

    d = tmp_path / "in"
    d.mkdir()
    a, b = (Path(shutil.copy2(media[k], d / f"{k}.mp4")) for k in "ab")
    cfg = write_config(tmp_path / "run.yaml", max_samples=100, boundaries="fill")
    out = tmp_path / "out"
    lists = tmp_path / "lists"
    assert curate(out, "--input", str(path_list(lists, [a, b])), cfg=cfg) == 0
    flip_in_sample(last_work_tar(out))  # b's last candidate
    b.rename(tmp_path / "away.mp4")
    capsys.readouterr()
    assert curate(out, "--input", str(path_list(lists, [media["c"]])), cfg=cfg) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith(("\r", "curate/"))]
    assert "source files are missing" in err[-1] and str(b) in err[-1]
    (tmp_path / "away.mp4").rename(b)
    assert curate(out, cfg=cfg) == 0
    assert published(out) == fresh(tmp_path, [a, b, media["c"]], cfg)


def test_republished_view_never_copies_damaged_bytes(media, tmp_path):
    """``refilter --republish`` copies published samples into a view's shards: each one is checked
    against the digest recorded when it was computed, or (no work store beside the shards) through
    its shard's own name; damage stops the view with one line naming the repair."""
    import shutil

    pytest.importorskip("duckdb", reason="refilter --where needs duckdb")
    from lipforge.errors import UserError
    from lipforge.pipeline.run.refilter import refilter

    cfg = write_config(tmp_path / "run.yaml", max_samples=2, boundaries="fill")
    out = tmp_path / "out"
    assert curate(out, "--input", str(path_list(tmp_path / "lists", [media["a"], media["b"]])), cfg=cfg) == 0
    refilter(out, "duration_s > 0", tmp_path / "clean", republish=True)  # intact: the copy goes through
    key = flip_in_sample(sorted((out / "shards").glob("*.tar"))[0])
    for corpus in (out, shutil.copytree(out, tmp_path / "no_work", ignore=shutil.ignore_patterns("work"))):
        with pytest.raises(UserError, match=f"do not hold the bytes computed.*{key}.*--verify --repair"):
            refilter(corpus, "duration_s > 0", tmp_path / f"view_{corpus.name}", republish=True)
