import numpy as np
import pyarrow.parquet as pq

from lipforge.manifests.layout import decode_sample
from lipforge.pipeline.media import decode_video, decode_wav
from lipforge.manifests.container import read_tar_samples, write_tar
from lipforge.pipeline.store.shards import ShardPlan, bounded_batches, sample_from_item
from lipforge.pipeline.stages.base import ClipItem
from lipforge.pipeline.store.work import WorkStore


def _item(cid="src-00000000-00", t=10, kept=True):
    rng = np.random.default_rng(0)
    it = ClipItem(cid, "src", cid, 0, t, frames=rng.integers(0, 255, (t, 32, 48, 3), dtype=np.uint8),
                  audio=(rng.standard_normal(t * 640) * 0.1).astype(np.float32))
    it.arrays["detected.npy"] = np.ones(t, np.uint8)
    it.measurements["speech_ratio"] = 0.5
    if not kept:
        it.drop("no_speech", by="speech")
    return it


def test_sample_round_trip_through_tar(tmp_path):
    it = _item()
    recs = write_tar(tmp_path / "a.tar", [sample_from_item(it)])
    assert recs[0].key == it.clip_id and recs[0].n_frames == 10
    (raw,) = list(read_tar_samples(tmp_path / "a.tar"))
    s = decode_sample(raw)
    assert decode_video(s["mp4"]).shape == (10, 32, 48, 3)
    audio, sr = decode_wav(s["wav"])
    assert sr == 16000 and len(audio) == 6400
    np.testing.assert_allclose(audio, it.audio, atol=1e-4)
    assert s["json"]["measurements"]["speech_ratio"] == 0.5


def test_tar_bytes_are_deterministic(tmp_path):
    s = sample_from_item(_item())
    write_tar(tmp_path / "a.tar", [s])
    write_tar(tmp_path / "b.tar", [s])
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_bounded_batches_fill_and_content_boundaries():
    keys = [f"src-{i:08d}-00" for i in range(200)]
    fill = ShardPlan(max_samples=2, max_bytes=1 << 30, boundaries="fill")
    assert [len(b) for b in bounded_batches(keys[:5], lambda k: 1, fill, str)] == [2, 2, 1]
    by_bytes = ShardPlan(max_samples=100, max_bytes=100, boundaries="fill")
    assert [len(b) for b in bounded_batches(keys[:5], lambda k: 40, by_bytes, str)] == [2, 2, 1]
    content = ShardPlan(max_samples=16, max_bytes=1 << 30)
    batches = list(bounded_batches(keys, lambda k: 1, content, str))
    assert [k for b in batches for k in b] == keys
    assert all(len(b) <= 16 for b in batches) and len(batches) > 200 // 16
    for b in batches[:-1]:  # each ends at the bound or on a key that hashes onto a boundary
        assert len(b) == 16 or content.cut_after(b[-1], len(b))
    # the cuts depend on the keys, not on where packing started: drop the first shard's keys and
    # every later boundary stays where it was
    again = list(bounded_batches(keys[len(batches[0]):], lambda k: 1, content, str))
    assert again == batches[1:]


def test_store_group_commit_and_source_completion(tmp_path):
    from lipforge.manifests.schema import SourceRecord

    st = WorkStore(tmp_path)
    st.write_source(SourceRecord("src", "/x.mp4"), ["src-00000000-00", "src-00002000-00"])
    st.write_group("src-00000000-00", "src", [_item(), _item("src-00001000-00", kept=False)], crf=23)
    assert st.done_candidates("src") == {"src-00000000-00"}
    assert not st.try_complete_source("src")
    rows = pq.read_table(st.group_dir("src") / "src-00000000-00.parquet").to_pylist()
    assert [r["status"] for r in rows] == ["kept", "dropped"] and rows[1]["reason"] == "no_speech"
    st.write_group("src-00002000-00", "src", [_item("src-00002000-00", kept=False)], crf=23)
    assert st.try_complete_source("src") and st.source_done("src")


def test_shard_clips_get_a_keyframe_every_video_keyint_frames(tmp_path):
    """The writer's keyframe interval (ShardConfig.video_keyint) is in the mp4 and in the json,
    where the trainer's loader reads it to seek; 0 writes one GOP, as shards before it."""
    import io

    import av
    import pytest

    from lipforge.pipeline.stages.config import RunConfig, ShardConfig
    from lipforge.pipeline.media import SHARD_KEYINT

    def keyframes(mp4: bytes) -> list[int]:
        with av.open(io.BytesIO(mp4)) as c:
            vs = c.streams.video[0]
            return sorted(round(p.pts * vs.time_base * 25) for p in c.demux(vs) if p.is_keyframe and p.pts is not None)

    assert ShardConfig().video_keyint == SHARD_KEYINT == 16
    it = _item(t=40)
    st = WorkStore(tmp_path)
    st.write_group("src-00000000-00", "src", [it], crf=18, keyint=16)
    (raw,) = list(read_tar_samples(st.group_dir("src") / "src-00000000-00.tar"))
    s = decode_sample(raw)
    assert keyframes(s["mp4"]) == [0, 16, 32] and s["json"]["video_keyint"] == 16
    assert decode_video(s["mp4"]).shape == (40, 32, 48, 3)
    one = decode_sample(sample_from_item(it, keyint=0))
    assert keyframes(one["mp4"]) == [0] and "video_keyint" not in one["json"]
    assert RunConfig.from_dict({"shards": {"video_keyint": 25}}).shards.video_keyint == 25
    with pytest.raises(ValueError, match="ShardConfig.video_keyint .* got -1"):
        ShardConfig(video_keyint=-1)
