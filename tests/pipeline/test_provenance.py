"""Provenance: every judged clip row names the measure, weights and rule of each stage; summary.json
lists per stage ran / fallback / skipped with counts; a skipped stage never reads as a pass."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


def _sha12(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def _face_item(n=3, size=160, audio=None):
    from lipforge.testing.synth import render_frames
    from lipforge.pipeline.stages.base import ClipItem

    frames, _ = render_frames(np.linspace(0, 1, n), (size, size), face_px=110)
    a = np.zeros(n * 640, np.float32) if audio is None else audio
    return ClipItem("s-00000000-00", "s", "s-00000000-00", 0, n, frames=frames, audio=a,
                    source_width=size, source_height=size)


def test_weights_id_is_name_and_sha256_prefix(tmp_path):
    from lipforge.pipeline.stages.provenance import weights_id

    p = tmp_path / "w.model"
    p.write_bytes(b"abc")
    assert weights_id(p) == "w.model@sha256:" + hashlib.sha256(b"abc").hexdigest()[:12]
    p.write_bytes(b"abcd")  # a changed file is hashed again
    assert weights_id(p).endswith(hashlib.sha256(b"abcd").hexdigest()[:12])
    assert weights_id(None) is None


def test_rows_stamped_by_the_backends_that_run_here():
    import face_recognition_models as frm
    import silero_vad

    from lipforge.pipeline.stages.faces import FaceDetectStage
    from lipforge.pipeline.stages.landmarks import LandmarksStage
    from lipforge.pipeline.stages.quality import QualityStage
    from lipforge.pipeline.stages.speech import SpeechStage
    from lipforge.pipeline.stages.sync import SyncStage
    from lipforge.pipeline.stages.asd import ActiveSpeakerStage

    items = [_face_item(n=50)]
    faces = FaceDetectStage(FaceDetectStage.Config(min_face_px=50.0, min_clip_s=1.0))
    for st in (faces, LandmarksStage(), QualityStage(), ActiveSpeakerStage(), SyncStage()):
        items = st(items)
    (it,) = items
    m = it.measurements
    assert it.kept, (it.reason, m)
    assert m["prov_faces_measure"] == "blazeface+dlib68"
    assert m["prov_faces_weights"] == ("face_detection_full_range_sparse.tflite@sha256:2c3728e6da56;"
                                       "face_detection_short_range.tflite@sha256:bbff11cebd1e")
    assert m["prov_faces_rule"].startswith("face_max_px > 50.0")
    pred = frm.pose_predictor_model_location()
    assert m["prov_landmarks_weights"] == f"shape_predictor_68_face_landmarks.dat@sha256:{_sha12(pred)}"
    assert m["prov_quality_measure"] == "laplacian (weight-free stand-in)"
    assert m["prov_quality_rule"] == "iqa_score >= 8.0 (Laplacian variance)"
    assert m["prov_asd_measure"] == "skipped" and "not checked" in m["prov_asd_rule"]
    assert m["prov_sync_measure"] == "lowerlip (weight-free stand-in)"
    assert len(m["sheet_face_boxes"]) == 16 and np.isfinite(m["sheet_face_boxes"]).all()

    (sp,) = SpeechStage()([_face_item(n=50)])  # silent audio: dropped, and still stamped
    jit = Path(silero_vad.__file__).parent / "data" / "silero_vad.jit"
    assert sp.reason == "no_speech"
    assert sp.measurements["prov_speech_weights"] == f"silero_vad.jit@sha256:{_sha12(jit)}"
    assert sp.measurements["prov_speech_rule"] == "speech_ratio >= 0.3"


def test_expert_backends_name_their_weights_file(tmp_path):
    """Backends whose real weights are not on this machine: provenance from the configured file."""
    from lipforge.pipeline.stages.quality import QualityStage
    from lipforge.pipeline.stages.sync import SyncStage

    (tmp_path / "koniq.pth").write_bytes(b"head")
    (tmp_path / "r50.pth").write_bytes(b"backbone")
    (tmp_path / "syncnet_v2.model").write_bytes(b"sync")
    q = QualityStage(QualityStage.Config(hyperiqa_weights=str(tmp_path / "koniq.pth"),
                                         backbone_weights=str(tmp_path / "r50.pth"))).provenance()
    assert (q.status, q.measure, q.rule) == ("ran", "hyperiqa", "iqa_score >= 0.4")
    assert q.weights == f"koniq.pth@sha256:{_sha12(tmp_path / 'koniq.pth')}; r50.pth@sha256:{_sha12(tmp_path / 'r50.pth')}"
    s = SyncStage(SyncStage.Config(backend="syncnet", syncnet_weights=str(tmp_path / "syncnet_v2.model"))).provenance()
    assert s.status == "ran" and s.thresholds == {"sync_conf": 3.0, "sync_offset": 6}
    assert s.columns()["prov_sync_weights"] == f"syncnet_v2.model@sha256:{_sha12(tmp_path / 'syncnet_v2.model')}"


def test_light_asd_provenance_hashes_the_real_weights():
    from lipforge.pipeline.stages.asd import ActiveSpeakerStage

    w = FIXTURES / "weights" / "light_asd_finetuning_talkset.model"
    if not w.is_file():
        pytest.skip(f"Light-ASD weights not found at {w}")
    p = ActiveSpeakerStage(ActiveSpeakerStage.Config(weights=str(w))).provenance()
    # the prefix of the sha256 that shared/fixtures/README.md lists for this file
    assert p.weights == "light_asd_finetuning_talkset.model@sha256:efc375833887"
    assert (p.status, p.rule) == ("ran", "asd_score >= 0.75 (raw)")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from lipforge.testing.tiny_corpus import curate_local, run_config, talking_inputs

    base = tmp_path_factory.mktemp("prov")
    inputs = talking_inputs(base / "in", with_silent=False)
    cfg = run_config({"speech": {"min_speech_ratio": 0.0}, "quality": {}, "asd": {}, "sync": {}})
    return base / "out", curate_local(inputs, base / "out", cfg)


def test_summary_lists_each_stage_with_status_and_counts(small_run):
    out, summary = small_run
    prov = summary["provenance"]
    assert prov["lipforge_version"] and prov["date"].endswith("+00:00") and len(prov["config_sha256"]) == 16
    assert prov["input"]["sources"] == 2 and prov["input"]["root"].endswith("in")
    st = {s["stage"]: s for s in prov["stages"]}
    assert st["speech"]["status"] == "ran" and st["speech"]["thresholds"]["min_speech_ratio"] == 0.0
    assert st["faces"]["status"] == "skipped" and st["faces"]["why"] == "disabled in the run config"
    assert st["quality"]["status"] == "fallback" and st["quality"]["measure"] == "laplacian"
    asd = st["asd"]
    assert asd["status"] == "skipped" and "asd.weights" in asd["why"]
    assert asd["items_in"] > 0 and asd["judged"] == 0
    assert st["sync"]["status"] == "fallback" and st["sync"]["dropped"] == {}
    rows = {r["stage"]: r for r in summary["stages"]}
    assert rows["asd"]["status"] == "skipped"  # not a pass: the stats row says it
    clips = pq.read_table(out / "manifests" / "clips.parquet").to_pylist()
    kept = [c for c in clips if c["status"] == "kept"]
    assert kept and all(c["prov_asd_measure"] == "skipped" for c in kept)
    assert all(c["prov_sync_rule"].startswith("recorded only") for c in kept)
    assert all(c["prov_faces_measure"] is None for c in clips)  # the stage never saw them


def test_shard_json_carries_no_provenance(small_run):
    import json
    import tarfile

    out, _ = small_run
    tar = sorted((out / "shards").glob("*.tar"))[0]
    with tarfile.open(tar) as t:
        meta = json.loads(t.extractfile(next(m for m in t if m.name.endswith(".json"))).read())
    assert "speech_ratio" in meta["measurements"]
    assert not [k for k in meta["measurements"] if k.startswith("prov_") or k == "sheet_face_boxes"]


def test_source_sync_offsets_are_per_source_medians_per_measure():
    from lipforge.pipeline.report.provenance import source_sync_offsets

    rows = [{"clip_id": f"a-{i:08d}-00", "source_id": "a", "sync_backend": "lowerlip", "sync_offset": o}
            for i, o in enumerate((1, 2, 9))]
    rows += [{"clip_id": "b-00000000-00", "source_id": "b", "sync_backend": "lowerlip", "sync_offset": -3},
             {"clip_id": "b-00000001-00", "source_id": "b", "sync_backend": None, "sync_offset": None}]
    assert source_sync_offsets(rows) == {"lowerlip": {"a": {"median": 2.0, "clips": 3},
                                                      "b": {"median": -3.0, "clips": 1}}}
