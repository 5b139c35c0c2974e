"""``lipforge rescore-sync``: re-measure sync on a published corpus with another backend, sync only.

Nothing before sync is recomputed: every kept clip's shard sample already holds what the sync
stage reads (the face crop video, ``landmarks_crop.npy``, the aligned 16 kHz audio), so the sync
stage (:class:`lipforge.pipeline.stages.sync.SyncStage`, the same class a curation run builds)
runs on the samples alone and the result is a corpus view (as ``lipforge refilter`` writes one,
:func:`lipforge.pipeline.run.refilter.write_view`): ``clips.parquet`` with the new ``sync_*`` and
``prov_sync_*`` columns of every kept clip, a clip the new rule rejects dropped by ``sync`` with
its reason, and ``shards.parquet`` pointing at the corpus's samples. Audio is never shifted here
(the samples are not rewritten): a clip a gating backend finds off by 1..max_offset frames is
kept with its offset recorded and counted in ``summary.json`` (``would_shift``); a fresh curate
run with that backend shifts them.

    lipforge rescore-sync --corpus corpus/ --backend expert --expert-weights sync_expert/expert.pt --output rescored/
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np


def _item(sample: dict, row: dict):
    from lipforge.pipeline.media import decode_video, decode_wav
    from lipforge.pipeline.stages.base import ClipItem

    frames = decode_video(sample["mp4"])
    audio, sr = decode_wav(sample["wav"])
    it = ClipItem(clip_id=row["clip_id"], source_id=row["source_id"], parent_id=row["clip_id"], start_frame=0,
                  end_frame=len(frames), fps=float(sample["json"].get("fps", 25)), sample_rate=sr, frames=frames,
                  audio=audio, frames_are_crop="landmarks_crop.npy" in sample)
    if "landmarks_crop.npy" in sample:
        it.arrays["landmarks_crop.npy"] = np.asarray(sample["landmarks_crop.npy"], np.float32)
    return it


def rescore_sync(corpus: str | Path, stage_config: dict, output: str | Path, republish: bool = False) -> dict:
    """Write the re-scored view; ``stage_config`` holds SyncStage.Config fields. Returns the summary."""
    import pyarrow.parquet as pq

    from lipforge.manifests.container import read_sample_at
    from lipforge.manifests.corpus import shard_path
    from lipforge.manifests.layout import decode_sample
    from lipforge.manifests.schema import STATUS_KEPT
    from lipforge.pipeline.run.refilter import _check_output, corpus_files, write_view
    from lipforge.pipeline.stages.sync import SyncStage

    t0 = time.perf_counter()
    corpus, output = Path(corpus), Path(output)
    files = corpus_files(corpus)
    _check_output(corpus, output)
    stage = SyncStage(SyncStage.Config(**stage_config))  # a bad field or a missing file fails before any work
    rows = pq.read_table(files["clips"]).to_pylist()
    where = {r["key"]: r for r in pq.read_table(files["shards"]).to_pylist()}
    cols = (*SyncStage.MEASURES, "prov_sync_measure", "prov_sync_weights", "prov_sync_rule")
    reasons, would_shift = Counter(), 0
    for r in rows:
        if r["status"] != STATUS_KEPT:
            continue
        loc = where[r["clip_id"]]
        (it,) = stage([_item(decode_sample(read_sample_at(shard_path(corpus, loc["shard"]), loc["offset"], loc["size"])), r)])
        m = it.measurements
        for c in cols:
            if c != "audio_shift_s":  # the sample's audio is what it was: its recorded shift stays
                r[c] = m.get(c)
        if not it.kept:
            r.update(status=it.status, reason=it.reason, dropped_by=stage.name, shard=None)
            reasons[it.reason] += 1
        elif stage.config.shifts and m["sync_offset"] != 0:
            would_shift += 1
    head = {"corpus": str(corpus.resolve()), "sync": {k: v for k, v in stage_config.items()},
            "measure": stage.provenance().measure, "rule": stage.provenance().rule,
            "dropped": dict(reasons), "would_shift": would_shift, "republished": republish}
    return write_view(corpus, files, output, rows, republish, {"rescore_sync": head}, t0)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="lipforge rescore-sync", description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, help="the --output directory of a finished lipforge curate")
    p.add_argument("--output", required=True, help="a new directory for the re-scored view")
    p.add_argument("--backend", default="expert", choices=["offline", "syncnet", "expert"])
    p.add_argument("--expert-weights", default=None, help="lipforge train-sync's expert.pt (backend expert)")
    p.add_argument("--syncnet-weights", default=None, help="syncnet_v2.model (backend syncnet)")
    p.add_argument("--min-conf", type=float, default=None)
    p.add_argument("--max-offset", type=int, default=6)
    p.add_argument("--offline-gate", action="store_true", help="backend offline: the opt-in gate (clips >= 6 s)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--republish", action="store_true", help="copy the kept samples into OUTPUT/shards")
    a = p.parse_args(argv)
    cfg = {"backend": a.backend, "expert_weights": a.expert_weights, "syncnet_weights": a.syncnet_weights,
           "min_conf": a.min_conf, "max_offset": a.max_offset, "offline_gate": a.offline_gate, "device": a.device}
    s = rescore_sync(a.corpus, {k: v for k, v in cfg.items() if v is not None}, a.output, a.republish)
    h = s["rescore_sync"]
    print(f"rescore-sync ({h['measure']}): kept {s['before']['kept']} -> {s['after']['kept']} clips, dropped "
          f"{h['dropped'] or 'none'}, {h['would_shift']} kept clips off by a shift a fresh run would apply; "
          f"view: {a.output}/manifests/, {a.output}/summary.json")
    return 0
