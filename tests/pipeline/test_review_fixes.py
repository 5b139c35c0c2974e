"""Regressions found in review: input ids that break shard keys, candidate hours of split clips,
audio buffering when a resumed run jumps ahead."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from lipforge.env import apply_offline_env

apply_offline_env()

from lipforge.pipeline.run.curate import list_inputs  # noqa: E402
from lipforge.pipeline.report.corpus_stats import candidate_seconds  # noqa: E402
from lipforge.pipeline.run.finalize import build_summary  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "source"))
from _source_media import counter_frames, tone, write  # noqa: E402


def test_list_file_source_id_with_dot_is_refused(tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text("path,source_id\n/data/a.mp4,talk.001\n")
    with pytest.raises(ValueError, match=r"talk\.001"):
        list_inputs(str(csv))
    csv.write_text("path,source_id\n/data/a.mp4,talk_001\n")
    assert [s.source_id for s in list_inputs(str(csv))] == ["talk_001"]


def _row(cid, parent, s, e, status="kept", reason=None):
    return {"clip_id": cid, "parent_id": parent, "start_s": s / 25, "end_s": e / 25, "duration_s": (e - s) / 25,
            "status": status, "reason": reason, "dropped_by": None if status == "kept" else "faces"}


def test_candidate_hours_count_split_candidates_whole():
    # candidate A (0-250) split by the face stage at a gap: the piece keeping A's id is only 100
    # frames; candidate B (250-500) was split with its first piece not starting at 0 frames.
    rows = [_row("A", "A", 0, 100), _row("A2", "A", 100, 120, "dropped", "face_missing"), _row("A3", "A", 120, 250),
            _row("B1", "B", 250, 260, "dropped", "face_missing"), _row("B2", "B", 260, 500)]
    assert candidate_seconds(rows) == pytest.approx(20.0)
    summary = build_summary([], rows, {}, [])
    assert summary["clips"]["hours_candidates"] == pytest.approx(20.0 / 3600, abs=1e-6)
    assert summary["clips"]["candidates"] == 2


def test_audio_stream_jump_ahead_does_not_buffer_the_gap(tmp_path):
    from lipforge.pipeline.source.normalize import AudioStream

    secs = 12.0
    path = write(tmp_path / "long.mp4", counter_frames(int(secs * 25)), audio=tone(secs))
    a = AudioStream(path, 0.0)
    tail = a.read(int(10.0 * 16000), int(11.0 * 16000))  # what a resumed run does after skipping 10 s
    assert len(tail) == 16000 and np.abs(tail).max() > 0.1
    assert a.peak_buffered < 3 * 16000  # about the requested second, not the 10 s skipped


def test_stage_that_loses_a_candidate_fails_loudly():
    from lipforge.pipeline.stages.base import ClipItem, Stage

    class Forgetful(Stage):
        name = "forgetful"

        def process(self, items):
            return items[1:]

    items = [ClipItem(f"s-{i:08d}-00", "s", f"s-{i:08d}-00", 0, 50) for i in range(2)]
    with pytest.raises(RuntimeError, match="forgetful.*s-00000000-00"):
        Forgetful()(items)
