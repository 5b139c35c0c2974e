"""lipforge rescore-sync: the sync stage alone, on a corpus's published samples, into a view."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """tiny_corpus (8 kept clips of 12 frames, one dropped) with full clips.parquet rows."""
    from lipforge.manifests import corpus as layout
    from lipforge.manifests.schema import SOURCE_COLUMNS, arrow_schema, clip_columns
    from lipforge.testing.train_data import tiny_corpus

    root = tiny_corpus(tmp_path_factory.mktemp("rescore") / "corpus", crop={"crop_size": 32})
    p = layout.manifest_path(root, "clips")
    rows = pq.read_table(p).to_pylist()
    for r in rows:
        r.update(source_id=r["clip_id"].split("-")[0], duration_s=12 / 25, start_frame=0, end_frame=12,
                 reason=None if r["status"] == "kept" else "no_speech",
                 dropped_by=None if r["status"] == "kept" else "speech", sync_backend="lowerlip", sync_offset=0,
                 sync_min_dist=0.5, audio_shift_s=0.0)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(clip_columns())), p)
    srcs = [{"source_id": s, "status": "ok"} for s in sorted({r["source_id"] for r in rows})]
    pq.write_table(pa.Table.from_pylist(srcs, schema=arrow_schema(SOURCE_COLUMNS)), layout.manifest_path(root, "sources"))
    return root


def test_rescore_with_an_expert_recomputes_sync_only(tmp_path, corpus, capsys):
    from lipforge.cli import main
    from lipforge.manifests.corpus import manifest_path
    from lipforge.pipeline.av.sync_expert import ExpertArch
    from lipforge.pipeline.av.sync_train import TrainSyncConfig, train_sync

    torch.set_num_threads(1)
    cfg = TrainSyncConfig(corpus=str(corpus), steps=3, batch_size=8, min_shift=2, vshift=4,
                          arch=ExpertArch(size=32, width=8, dim=16))
    train_sync(cfg, tmp_path / "e", log_every=1000)
    w = str(tmp_path / "e" / "expert.pt")
    before = pq.read_table(manifest_path(corpus, "clips")).to_pylist()
    rc = main(["rescore-sync", "--corpus", str(corpus), "--output", str(tmp_path / "v"), "--backend", "expert",
               "--expert-weights", w, "--min-conf", "-1", "--max-offset", "15"])
    assert rc == 0 and "kept 8 -> 8 clips" in capsys.readouterr().out
    after = pq.read_table(manifest_path(tmp_path / "v", "clips")).to_pylist()
    for b, a in zip(before, after):
        assert a["clip_id"] == b["clip_id"] and a["iqa_score"] == b["iqa_score"]  # other stages untouched
        if b["status"] == "kept":
            assert a["sync_backend"] == "expert" and a["prov_sync_measure"].startswith("expert (trained on")
            assert np.isfinite(a["sync_conf"]) and a["audio_shift_s"] == 0.0  # the samples are not rewritten
        else:
            assert a["sync_backend"] == "lowerlip" and a["status"] == "dropped"
    s = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert s["rescore_sync"]["dropped"] == {} and s["after"]["kept"] == 8
    # a threshold nothing reaches: every kept clip is dropped by sync and leaves the view's shards
    rc = main(["rescore-sync", "--corpus", str(corpus), "--output", str(tmp_path / "v2"), "--backend", "expert",
               "--expert-weights", w, "--min-conf", "100"])
    after = pq.read_table(manifest_path(tmp_path / "v2", "clips")).to_pylist()
    assert rc == 0 and all(r["status"] == "dropped" for r in after)
    assert {r["dropped_by"] for r in after if r["reason"] == "av_unsynced"} == {"sync"}
    assert pq.read_table(manifest_path(tmp_path / "v2", "shards")).num_rows == 0
    # misuse: a used output directory, a missing weights file
    assert main(["rescore-sync", "--corpus", str(corpus), "--output", str(tmp_path / "v"), "--expert-weights", w]) == 2
    assert main(["rescore-sync", "--corpus", str(corpus), "--output", str(tmp_path / "v3"),
                 "--expert-weights", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err and not (tmp_path / "v3").exists()


def test_rescore_offline_and_refilter_still_agree(tmp_path, corpus):
    """refilter shares the view writer: its output is unchanged by the split."""
    pytest.importorskip("duckdb")
    from lipforge.manifests.corpus import manifest_path
    from lipforge.pipeline.run.sync_rescore import rescore_sync
    from lipforge.pipeline.run.refilter import refilter

    s = refilter(corpus, "sync_conf >= 4", tmp_path / "r")
    assert s["before"]["kept"] == 8 and s["after"]["kept"] == 4 and s["refilter"]["where"] == "sync_conf >= 4"
    s = rescore_sync(corpus, {"backend": "offline"}, tmp_path / "o")
    rows = pq.read_table(manifest_path(tmp_path / "o", "clips")).to_pylist()
    assert s["after"]["kept"] == 8 and all(r["sync_backend"] == "lowerlip" for r in rows if r["status"] == "kept")
    assert s["rescore_sync"]["would_shift"] == 0  # a weight-free measure never shifts
