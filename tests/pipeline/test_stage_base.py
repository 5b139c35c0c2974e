from dataclasses import dataclass

import numpy as np
import pytest

from lipforge.pipeline.stages.base import ClipItem, Stage, StageConfig, StageStats


class HalfDrop(Stage):
    name = "half"

    @dataclass(frozen=True)
    class Config(StageConfig):
        threshold: float = 0.5

    def process(self, items):
        for it in items:
            if it.measurements["score"] < self.config.threshold:
                it.drop("low_score", by=self.name)
        return items


def _item(i, score, frames=50):
    return ClipItem(f"s-{i:08d}-00", "s", f"s-{i:08d}-00", 0, frames, frames=np.zeros((frames, 2, 2, 3), np.uint8),
                    audio=np.zeros(frames * 640, np.float32), measurements={"score": score})


def test_stage_counts_reasons_and_hours_and_stats_add_up():
    st = HalfDrop()
    out = st([_item(0, 0.9), _item(1, 0.1), _item(2, 0.7, frames=100)])
    assert [it.kept for it in sorted(out, key=lambda x: x.clip_id)] == [True, False, True]
    dropped = [it for it in out if not it.kept][0]
    assert dropped.frames is None and dropped.reason == "low_score" and dropped.dropped_by == "half"
    s = st.stats
    assert (s.items_in, s.kept, dict(s.dropped)) == (3, 2, {"low_score": 1})
    assert s.video_seconds == pytest.approx(8.0) and s.kept_seconds == pytest.approx(6.0)
    # a dropped item passes a later call untouched and uncounted
    st([dropped])
    assert st.stats.items_in == 3
    assert 0.0 < s.cpu_seconds  # the process's CPU time while the stage ran, beside the wall time
    total = s + StageStats.from_dict(s.as_dict())
    assert total.items_in == 6 and total.dropped["low_score"] == 2 and total.kept_seconds == pytest.approx(12.0)
    assert total.cpu_seconds == pytest.approx(2 * s.cpu_seconds, abs=1e-3)
    with pytest.raises(ValueError, match="cannot add"):
        s + StageStats("other")


def test_stage_config_validation_names_field():
    with pytest.raises(ValueError, match="batch_size"):
        HalfDrop.Config(batch_size=0)
    with pytest.raises(TypeError):
        HalfDrop(StageConfig())


def test_take_returns_counts_and_resets_in_place():
    st = HalfDrop()
    st([_item(0, 0.9), _item(1, 0.1)])
    ref = st.stats
    got = ref.take()
    assert (got.items_in, got.kept, dict(got.dropped)) == (2, 1, {"low_score": 1})
    assert st.stats is ref and (ref.items_in, ref.kept, ref.seconds, dict(ref.dropped)) == (0, 0, 0.0, {})
