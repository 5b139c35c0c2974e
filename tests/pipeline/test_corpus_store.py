"""The corpus store across runs: batches accumulate, sources leave only when asked, changed
content is curated again, one writer at a time, and user-fixable failures are one line."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lipforge.testing.corpus import curate, fresh, make_media, path_list, published, write_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture()
def files(media, tmp_path) -> dict[str, Path]:
    """Copies this test may change or delete."""
    d = tmp_path / "in"
    d.mkdir()
    return {k: Path(shutil.copy2(v, d / v.name)) for k, v in media.items()}


@pytest.fixture()
def cfg(tmp_path) -> Path:
    return write_config(tmp_path / "run.yaml")


def ids(out: Path) -> list[str]:
    from lipforge.manifests.corpus import manifest_path

    return sorted(r["source_id"].split("_")[0] for r in pq.read_table(manifest_path(out, "sources")).to_pylist())


def test_batches_accumulate_and_sources_leave_only_when_asked(files, cfg, tmp_path, capsys):
    out = tmp_path / "out"
    lists = tmp_path / "lists"
    assert curate(out, "--input", str(path_list(lists, [files["a"]])), cfg=cfg) == 0
    assert curate(out, "--input", str(path_list(lists, [files["b"]])), cfg=cfg) == 0
    assert ids(out) == ["a", "b"]
    assert published(out) == fresh(tmp_path, [files["a"], files["b"]], cfg)
    # a run without --input republishes the corpus as it is (and takes its saved config)
    assert curate(out) == 0 and published(out) == fresh(tmp_path, [files["a"], files["b"]], cfg)

    assert curate(out, "--input", str(path_list(lists, [files["c"]])), cfg=cfg) == 0
    sid_a = next(r["source_id"] for r in published(out)["sources"] if r["source_id"].startswith("a_"))
    assert curate(out, "--remove", sid_a) == 0
    assert ids(out) == ["b", "c"] and published(out) == fresh(tmp_path, [files["b"], files["c"]], cfg)

    files["c"].unlink()  # gone from disk: still published until pruned
    capsys.readouterr()
    assert curate(out) == 0 and ids(out) == ["b", "c"]
    assert "--prune-missing" in capsys.readouterr().err
    assert curate(out, "--prune-missing") == 0
    assert "removed from the corpus: c_" in capsys.readouterr().err
    assert ids(out) == ["b"] and published(out) == fresh(tmp_path, [files["b"]], cfg)
    assert curate(out, "--remove", "nope_12345678") == 2


def test_changed_and_healed_files_are_curated_again(files, media, cfg, tmp_path):
    out = tmp_path / "out"
    lst = path_list(tmp_path / "lists", [files["a"], files["b"]])
    full_b = files["b"].read_bytes()
    files["b"].write_bytes(full_b[: len(full_b) // 2])  # a download still running
    files["a"].unlink()  # not there yet
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    reasons = {r["source_id"][0]: r["reason"] for r in published(out)["sources"]}
    assert reasons == {"a": "not_found", "b": "truncated"}
    shutil.copy2(media["a"], files["a"])
    files["b"].write_bytes(full_b)
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    assert published(out) == fresh(tmp_path, [files["a"], files["b"]], cfg)

    shutil.copy2(media["c"], files["a"])  # replaced by other content (longer: more clips)
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    assert published(out) == fresh(tmp_path, [files["a"], files["b"]], cfg)
    import json

    assert json.loads((out / "summary.json").read_text())["store"]["changed"] == 1
    # a touch (new mtime, same bytes) is not a change
    os.utime(files["b"], ns=(1, 1))
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    assert json.loads((out / "summary.json").read_text())["store"]["changed"] == 0


def test_second_writer_fails_at_once_and_a_crashed_one_does_not_block(files, cfg, tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from lipforge.pipeline.store.lock import OutputLock\n"
                               "OutputLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)",
                               str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert curate(out, "--input", str(files["a"]), cfg=cfg) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"pid {holder.pid}" in err and "another lipforge curate" in err
        assert not (out / "work").exists()
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a crash: the kernel drops its lock
        holder.wait()
    assert curate(out, "--input", str(files["a"]), cfg=cfg) == 0


def test_user_fixable_failures_are_one_line_and_publish_nothing(files, cfg, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    lst = path_list(tmp_path / "lists", [files["a"]])
    assert curate(out, "--input", str(tmp_path / "no-such-mount"), cfg=cfg) == 2
    (tmp_path / "afile").write_text("x")
    assert curate(tmp_path / "afile", "--input", str(lst), cfg=cfg) == 2
    assert curate(out, "--input", str(lst), cfg=cfg) == 0
    before = published(out)

    from lipforge.pipeline.run import lifecycle
    from lipforge.pipeline.store import work as store

    monkeypatch.setattr(lifecycle.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 1000))
    capsys.readouterr()
    lst2 = path_list(tmp_path / "lists", [files["a"], files["b"]])
    assert curate(out, "--input", str(lst2), cfg=cfg) == 2
    assert "not enough free space" in capsys.readouterr().err
    monkeypatch.undo()

    real = store.WorkStore.write_group

    def full_disk(self, cid, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.group_dir("x") / f"{cid}.tar"))

    monkeypatch.setattr(store.WorkStore, "write_group", full_disk)
    assert curate(out, "--input", str(lst2), cfg=cfg) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([ln for ln in err if ln.startswith("lipforge curate:")]) == 1 and "disk full" in err[-1]
    assert published(out) == before  # nothing half-published
    monkeypatch.setattr(store.WorkStore, "write_group", real)
    assert curate(out, "--input", str(lst2), cfg=cfg) == 0
    assert published(out) == fresh(tmp_path, [files["a"], files["b"]], cfg)

    # an input mount gone while the corpus needs its files (here: a changed config)
    moved = tmp_path / "unmounted"
    files["a"].parent.rename(moved)
    capsys.readouterr()
    assert curate(out, cfg=write_config(tmp_path / "run2.yaml", speech={})) == 2
    assert "must be recomputed but their files are missing" in capsys.readouterr().err
    moved.rename(files["a"].parent)
    assert published(out) == fresh(tmp_path, [files["a"], files["b"]], cfg)


def test_an_os_error_raised_on_a_ray_worker_is_found_for_the_message():
    """The driver gets a RayTaskError whose chain may survive only as text."""
    from lipforge.pipeline.run.lifecycle import find_os_error, io_error_message

    class RemoteError(Exception):
        pass

    text = "ray::MapWorker(_WriterFn)\nOSError: [Errno 28] No space left on device: '/out/work/groups/a/x.tar.tmp'\n"
    e = find_os_error(RemoteError(text))
    assert (e.errno, e.filename) == (errno.ENOSPC, "/out/work/groups/a/x.tar.tmp")
    assert io_error_message(e, "/out").startswith("disk full writing /out/work/groups/a/x.tar.tmp")
    chained = RemoteError("wrapped")
    chained.__cause__ = PermissionError(errno.EACCES, "Permission denied", "/out/work")
    assert "cannot write /out/work" in io_error_message(find_os_error(chained), "/out")
    assert find_os_error(RemoteError("no errno here")) is None


def test_lock_record_refuses_a_live_holder_where_flock_is_not_enforced(tmp_path):
    """On a filesystem that grants every flock (some NFS mounts) the record still tells a live
    holder on this host from a dead one."""
    import json
    import socket

    from lipforge.pipeline.store.lock import OutputLock, OutputLocked, _proc_token

    out = tmp_path / "out"
    out.mkdir()
    live = subprocess.Popen(["sleep", "30"])
    try:
        rec = {"pid": live.pid, "host": socket.gethostname(), "started": 0, "command": "lipforge curate",
               "token": _proc_token(live.pid)}
        (out / ".curate.lock").write_text(json.dumps(rec))
        with pytest.raises(OutputLocked, match=f"pid {live.pid}"):
            OutputLock(out).acquire()
    finally:
        live.kill()
        live.wait()
    with OutputLock(out) as lock:  # the holder is gone: its record is stale
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_a_moved_file_keeps_its_clips_and_records_its_new_path(files, cfg, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert curate(out, "--input", str(path_list(tmp_path / "lists", [files["a"]])), cfg=cfg) == 0
    moved = tmp_path / "elsewhere" / "a.mp4"
    moved.parent.mkdir()
    files["a"].rename(moved)
    from lipforge.pipeline.run.runners.local import LocalRunner

    with monkeypatch.context() as m:
        m.setattr(LocalRunner, "run", lambda *a, **k: pytest.fail("a moved file was decoded again"))
        assert curate(out, "--input", str(path_list(tmp_path / "lists", [moved])), cfg=cfg) == 0
    assert published(out) == fresh(tmp_path, [moved], cfg)


def test_a_url_source_is_never_missing_and_still_follows_config_changes(tmp_path):
    from lipforge.pipeline.store.catalog import Catalog, Entry
    from lipforge.pipeline.source.inputs import SourceInput
    from lipforge.pipeline.run.plan import PlanReport, missing_sources, plan_and_apply
    from lipforge.pipeline.store.work import WorkStore
    from lipforge.testing.corpus import commit_source

    out = tmp_path / "out"
    commit_source(out, "a")
    store = WorkStore(out)
    url = "https://media.example/a.mp4"
    cat = Catalog(store, {"a": Entry("a", url, None, {"global": "g0", "stages": []})})
    assert missing_sources(cat) == []
    report = PlanReport()
    plan_and_apply(store, cat, [SourceInput(url, "a")], {"global": "g0", "stages": []}, report)
    assert report.as_dict()["missing"] == 0 and store.source_done("a") and cat.entries["a"].path == url
    report = PlanReport()
    plan_and_apply(store, cat, [], {"global": "g1", "stages": []}, report)  # another segmentation
    assert report.recomputed_candidates == 3 and not store.source_done("a")


def test_an_output_from_before_the_catalog_is_adopted(files, cfg, tmp_path, monkeypatch):
    """No work/corpus.json and a plain manifests/ directory (the layout before this store): its
    sources are the corpus, computed under its saved run_config.yaml; nothing is recomputed."""
    from lipforge.manifests.corpus import current_generation
    from lipforge.pipeline.run.runners.local import LocalRunner

    out = tmp_path / "out"
    both = [files["a"], files["b"]]
    assert curate(out, "--input", str(path_list(tmp_path / "lists", both)), cfg=cfg) == 0
    gen = current_generation(out)
    (out / "manifests").unlink()
    shutil.copytree(gen, out / "manifests")
    shutil.rmtree(out / "generations")
    (out / "work" / "corpus.json").unlink()
    with monkeypatch.context() as m:
        m.setattr(LocalRunner, "run", lambda *a, **k: pytest.fail("an adopted corpus was decoded again"))
        assert curate(out) == 0
    assert ids(out) == ["a", "b"] and (out / "work" / "corpus.json").exists()
    assert published(out) == fresh(tmp_path, both, cfg)
