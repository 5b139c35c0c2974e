"""Factories for corpus-store tests: committed work stores without decoding, tiny real inputs,
in-process ``lipforge curate`` runs, and what a reader of the published corpus sees."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml

FAKE_CLIPS = {"a": 3, "b": 2, "c": 2}


def _fake_clip(sid: str, k: int):
    from lipforge.pipeline.stages.base import ClipItem

    rng = np.random.default_rng([*map(ord, sid), k])
    cid = f"{sid}-{k * 1000:08d}-00"
    it = ClipItem(cid, sid, cid, k * 25, k * 25 + 4, frames=rng.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8),
                  audio=(rng.standard_normal(4 * 640) * 0.1).astype(np.float32))
    it.arrays["detected.npy"] = np.ones(4, np.uint8)
    return it


def commit_source(out: Path, sid: str, n_clips: int | None = None):
    """What a finished curation leaves in the work store for one source (no video decoded)."""
    from lipforge.manifests.schema import SourceRecord
    from lipforge.pipeline.source.inputs import SourceInput
    from lipforge.pipeline.store.work import WorkStore

    st = WorkStore(out)
    n = n_clips if n_clips is not None else FAKE_CLIPS.get(sid, 3)
    cands = [f"{sid}-{k * 1000:08d}-00" for k in range(n)]
    st.write_source(SourceRecord(sid, f"/in/{sid}.mp4", n_candidates=len(cands)), cands)
    for k, cid in enumerate(cands):
        st.write_group(cid, sid, [_fake_clip(sid, k)], crf=23)
    if not st.try_complete_source(sid):
        raise RuntimeError(f"source {sid} did not complete")
    return SourceInput(f"/in/{sid}.mp4", sid)


def fake_config(max_samples: int = 2, boundaries: str = "fill", keep_work_samples: bool = True):
    from lipforge.pipeline.stages.config import RunConfig

    return RunConfig.from_dict({"shards": {"max_samples": max_samples, "boundaries": boundaries,
                                           "keep_work_samples": keep_work_samples}})


def write_config(path: Path, speech: dict | None = None, **shards) -> Path:
    """Every clip stage off except, when given, speech (audio only and cheap)."""
    from lipforge.pipeline.stages.registry import stage_classes

    stages = {n: {"enabled": False} for n in stage_classes()}
    if speech is not None:
        stages["speech"] = {"enabled": True, **speech}
    cfg = {"segment": {"max_clip_s": 3.0, "min_clip_s": 2.0}, "stages": stages}
    if shards:
        cfg["shards"] = shards
    path.write_text(yaml.safe_dump(cfg))
    return path


def make_media(d: Path) -> dict[str, Path]:
    """Three tiny talking heads; ``c`` speaks for 3 s, then is silent for 3 s."""
    from lipforge.testing import make_talking_head, speech_wav

    d.mkdir(parents=True, exist_ok=True)
    make_talking_head(d / "a.mp4", seconds=5.0, size=(64, 64), face_px=40, seed=0)
    make_talking_head(d / "b.mp4", seconds=4.0, size=(64, 64), face_px=40, seed=1)
    quiet = np.concatenate([speech_wav(3.0, 16000, 2), np.zeros(3 * 16000, np.float32)])
    make_talking_head(d / "c.mp4", seconds=6.0, size=(64, 64), face_px=40, seed=2, audio=quiet)
    return {p.stem: p for p in sorted(d.glob("*.mp4"))}


def place(media: dict[str, Path], d: Path, names: str) -> Path:
    """A directory holding copies of the named media files."""
    d.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copy2(media[n], d / f"{n}.mp4")
    return d


def path_list(d: Path, files: list[Path]) -> Path:
    """A .txt input list (ids then depend on the file names only, not on the list's folder)."""
    p = d / f"list-{len(list(d.glob('list-*.txt')))}.txt"
    d.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(f"{f}\n" for f in files))
    return p


def curate(out: Path, *args: str, cfg: Path | None = None, runner: str = "local") -> int:
    """``lipforge curate`` in this process (local runner) or, with ``runner="ray"``, in a child
    process whose output is passed on to this one's: a Ray driver's process ends when its raylet
    or GCS goes away, and a test process must not be that driver."""
    import subprocess
    import sys

    from lipforge.cli import main

    argv = ["curate", "--output", str(out), "--runner", runner, *args]
    if cfg is not None:
        argv += ["--config", str(cfg)]
    if runner != "ray":
        return main(argv)
    r = subprocess.run([sys.executable, "-m", "lipforge.cli", *argv, "--num-cpus", "2"], capture_output=True,
                       text=True, timeout=900)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    return r.returncode


def published(out: Path) -> dict:
    """What a reader sees: the three manifests (as rows) and the shard files (as bytes) they name."""
    from lipforge.manifests.corpus import manifests_dir

    man = manifests_dir(out)  # resolved once: one generation
    got = {n: pq.read_table(man / f"{n}.parquet").to_pylist() for n in ("sources", "clips", "shards")}
    names = sorted({r["shard"] for r in got["shards"]})
    got["shard_bytes"] = {n: (out / n).read_bytes() for n in names}
    return got


def fresh(tmp: Path, files: list[Path], cfg: Path) -> dict:
    """A clean run over ``files`` in a new output."""
    out = tmp / f"fresh-{len(list(tmp.glob('fresh-*')))}"
    assert curate(out, "--input", str(path_list(tmp / "lists", files)), cfg=cfg) == 0
    return published(out)


def stage_config(path: Path, stages: dict[str, dict], segment: dict | None = None) -> Path:
    """A run config with only the given stages enabled (each with its fields), tiny clips."""
    from lipforge.pipeline.stages.registry import stage_classes

    body = {"segment": {"max_clip_s": 3.0, "min_clip_s": 2.0, **(segment or {})},
            "stages": {n: {"enabled": False} for n in stage_classes()}}
    for name, fields in stages.items():
        body["stages"][name] = {"enabled": True, **fields}
    path.write_text(yaml.safe_dump(body))
    return path


def stage_counts(out: Path) -> list[dict]:
    """summary.json's per-stage rows without this run's timings: what describes the corpus."""
    import json

    rows = json.loads((out / "summary.json").read_text())["stages"]
    return [{k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds", "items_per_s")} for r in rows]


def last_fresh(tmp: Path) -> Path:
    """The output of the latest :func:`fresh` run under ``tmp``."""
    return max(tmp.glob("fresh-*"), key=lambda p: int(p.name[len("fresh-"):]))


def curate_checked(out: Path, lst: Path, files: list[Path], cfg: Path, tmp: Path, monkeypatch, name: str,
                   decode: bool = True, want: dict | str | None = "fresh") -> dict:
    """``curate`` the list ``lst`` into ``out`` under ``cfg`` and return the published corpus.

    ``decode=False``: any decoding fails the test (re-judging reads stored rows only). The corpus
    must equal ``want``: a fresh run's with ``cfg`` (``"fresh"``, stage counts too), a given
    corpus, or anything (``None``).
    """
    import pytest

    from lipforge.pipeline.run.runners.local import LocalRunner

    with monkeypatch.context() as m:
        if not decode:
            m.setattr(LocalRunner, "run", lambda *a, **k: pytest.fail(f"{name}: a source was decoded"))
        assert curate(out, "--input", str(lst), cfg=cfg) == 0
    got = published(out)
    if want == "fresh":
        assert got == fresh(tmp, files, cfg), name
        assert stage_counts(out) == stage_counts(last_fresh(tmp)), name  # the corpus, counted once
    elif want is not None:
        assert got == want, name
    return got
