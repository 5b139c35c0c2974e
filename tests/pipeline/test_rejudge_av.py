"""Thresholds of the asd and sync stages are re-judged from stored scores without decoding; a
loosened one recomputes exactly the candidates it lets back, a changed measurement parameter
every candidate that reaches it. Every time the published corpus equals a fresh run's, byte for
byte. The stages run random-init SyncNet v2 / Light-ASD files (lipforge.testing.av_models):
meaningless scores, so every threshold is taken from the scores the first run measured."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lipforge.testing.corpus import curate_checked, path_list, stage_config


@pytest.fixture(scope="module")
def av_inputs(tmp_path_factory) -> tuple[list[Path], dict[str, Path]]:
    from lipforge.testing.av_models import av_heads

    return av_heads(tmp_path_factory.mktemp("av-in"))


def store_summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())["store"]


def parents(rows: list[dict], pred) -> set[str]:
    return {r["parent_id"] for r in rows if pred(r)}


@pytest.mark.slow
def test_asd_and_sync_thresholds_rejudge_without_decoding(av_inputs, tmp_path, monkeypatch):
    files, w = av_inputs
    lst = path_list(tmp_path / "lists", files)
    out = tmp_path / "out"
    asd = {"weights": str(w["light_asd"]), "threshold": -1e6}
    sync = {"backend": "syncnet", "syncnet_weights": str(w["syncnet"]), "min_conf": 0.0, "vshift": 4, "max_offset": 4}

    def run(name: str, asd_: dict, sync_: dict, decode: bool = True, want: dict | str | None = "fresh") -> dict:
        """curate into ``out``; the corpus must equal ``want``: a fresh run's, a given one, or anything (None)."""
        cfg = stage_config(tmp_path / f"{name}.yaml", {"speech": {"min_speech_ratio": 0.0}, "asd": asd_, "sync": sync_},
                           segment={"max_clip_s": 1.0, "min_clip_s": 1.0})
        return curate_checked(out, lst, files, cfg, tmp_path, monkeypatch, name, decode, want)

    base = run("base", asd, sync, want=None)  # a fresh run itself
    rows = base["clips"]
    n = len(parents(rows, lambda r: True))
    assert n >= 4 and all(r["status"] == "kept" for r in rows)

    # 1. a tightened SyncNet confidence: clips under it become av_unsynced rows, like a fresh run's
    confs = sorted(r["sync_conf"] for r in rows)
    sync_t = {**sync, "min_conf": (confs[0] + confs[-1]) / 2}
    got = run("sync-conf", asd, sync_t, decode=False)
    assert (store_summary(out)["candidates_rejudged"], store_summary(out)["candidates_recomputed"]) == (n, 0)
    unsynced = [r for r in got["clips"] if r["reason"] == "av_unsynced"]
    assert unsynced and len(unsynced) < len(rows)
    # a fresh run stops at the failing check: the measures stay, the shift of a kept clip does not
    assert all(r["sync_conf"] is not None and r["audio_shift_s"] is None and r["shard"] is None for r in unsynced)
    assert all(r["prov_sync_rule"].startswith(f"sync_conf >= {sync_t['min_conf']}") for r in got["clips"])

    # 2. a tightened max |offset| and a tightened ASD score at once, still without decoding
    offs = sorted(abs(r["sync_offset"]) for r in rows)
    assert offs[-1] >= 1
    scores = sorted(r["asd_score"] for r in rows)
    asd_t = {**asd, "threshold": (scores[0] + scores[-1]) / 2}
    sync_tt = {**sync_t, "max_offset": offs[-1] - 1}
    got = run("asd-and-offset", asd_t, sync_tt, decode=False)
    assert store_summary(out)["candidates_recomputed"] == 0
    by = {r["clip_id"]: r for r in got["clips"]}
    not_speaking = [r for r in by.values() if r["reason"] == "not_speaking"]
    assert not_speaking and any(r["reason"] == "av_offset_too_large" for r in by.values())
    # an ASD drop never reaches sync in a fresh run: its sync columns are null
    assert all(r["sync_conf"] is None and r["prov_sync_rule"] is None for r in not_speaking)
    assert {r["reason"] for r in unsynced if by[r["clip_id"]]["dropped_by"] == "sync"} <= {"av_unsynced"}

    # 3. back to the first thresholds: exactly the candidates asd or sync had dropped are recomputed
    dropped = parents(got["clips"], lambda r: r["dropped_by"] in ("asd", "sync"))
    run("loosened", asd, sync, want=base)  # the first run was a fresh run with this config
    s = store_summary(out)
    assert (s["candidates_recomputed"], s["candidates_rejudged"]) == (len(dropped), n - len(dropped)), s

    # 4. changed measurement parameters recompute every candidate that reaches them
    run("asd-window", {**asd, "window_s": [1]}, sync)
    assert (store_summary(out)["candidates_recomputed"], store_summary(out)["candidates_rejudged"]) == (n, 0)
    run("sync-vshift", {**asd, "window_s": [1]}, {**sync, "vshift": 3, "max_offset": 3})
    assert (store_summary(out)["candidates_recomputed"], store_summary(out)["candidates_rejudged"]) == (n, 0)
