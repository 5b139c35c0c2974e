"""A face hidden inside a shot (a hand for a second) is left untouched, with a cross-fade around it."""
from __future__ import annotations

import numpy as np
import pytest

CROP = 32


@pytest.fixture(scope="module")
def occluded(tmp_path_factory):
    from lipforge.infer.prepare import prepare_job
    from lipforge.testing import make_talking_head

    d = tmp_path_factory.mktemp("occ")
    v = make_talking_head(d / "occ.mp4", seconds=2.0, size=(192, 192), face_px=100, occluder=(15, 40))  # 1 s
    a = make_talking_head(d / "a.wav", seconds=2.0, seed=1, with_video=False)
    return v, prepare_job(v.path, a.path, CROP, work_dir=d / "job"), d


def test_one_second_occluder_is_a_gap_not_a_face(occluded):
    v, prep, _ = occluded
    assert np.all(prep.shots == 0)  # the occluder is no scene cut: the old rule filled it in
    assert np.flatnonzero(~prep.has_face).tolist() == list(range(15, 40))
    w = prep.face_weight
    assert w[:12].min() == 1.0 and w[15:40].max() == 0.0 and w[43:].min() == 1.0
    assert 0 < w[14] < w[13] < w[12] < 1 and 0 < w[40] < w[41] < w[42] < 1  # fades out, then in


def test_occluded_frames_pass_through_untouched(occluded):
    from lipforge.infer.prepare import finish_job
    from lipforge.infer.source import iter_native, probe

    v, prep, d = occluded
    gen = np.zeros((len(prep.positions), CROP, CROP, 3), np.uint8)
    gen[..., 0] = gen[..., 2] = 255  # a magenta "face": any pixel of it pasted shows
    out = finish_job(prep, gen, d / "out.mp4", work_dir=d / "job")
    src = np.stack(list(iter_native(probe(v.path)))).astype(np.int16)
    res = np.stack(list(iter_native(probe(out))))[: len(src)].astype(np.int16)
    x0, y0, x1, y1 = (int(c) for c in v.face_box)
    diff = np.abs(res - src)[:, y0:y1, x0:x1].mean(axis=(1, 2, 3))  # (T,) mean abs change over the face
    assert diff[:10].min() > 20  # the face is repainted where it is seen
    assert diff[16:39].max() < 3  # the occluder is left as it was (a re-encode's difference)
    assert diff[11] > diff[13] > diff[14] > diff[16] and diff[39] < diff[41] < diff[43]  # cross-fades


def test_gap_length_is_configurable():
    from lipforge.infer.faceprep import boxes_by_shot

    raw = np.tile(np.array([[10.0, 10.0, 50.0, 50.0]]), (30, 1))
    raw[10:20] = np.nan  # 10 frames without a detection
    shots = np.zeros(30, np.int64)
    assert np.flatnonzero(~boxes_by_shot(raw, shots)[2]).tolist() == list(range(10, 20))  # default: 5
    assert boxes_by_shot(raw, shots, max_gap=10)[2].all()  # a 10-frame gap filled when allowed
    raw[10:20] = np.nan
    raw[12] = [10.0, 10.0, 50.0, 50.0]  # two short gaps (2 and 7 frames): only the long one passes through
    assert np.flatnonzero(~boxes_by_shot(raw, shots)[2]).tolist() == list(range(13, 20))
    with pytest.raises(ValueError, match="max_face_gap"):
        boxes_by_shot(raw, shots, max_gap=-1)


def test_aligned_recipe_crops_and_pastes_back_with_the_inverse(infer_media, tmp_path):
    """``crop.align = similarity``: each frame gets its own similarity (the synthetic head sways, it
    does not turn), and pasting the crops themselves back reproduces the source (crop, then the
    inverse warp: two bilinear samplings and a re-encode)."""
    from lipforge.infer.prepare import PreparedJob, finish_job, prepare_job
    from lipforge.infer.recipe import Recipe
    from lipforge.infer.source import iter_native, probe

    src = infer_media["src"]
    x0, y0, x1, y1 = (int(c) for c in src.face_box)
    err = {}
    for align in ("box", "similarity"):
        r = Recipe(mask_type="mask_adaptive", num_frames=16, resolution=64, audio_context_k=2,
                   audio_features_per_frame=2, crop={"align": align})
        prep = prepare_job(src.path, infer_media["short"].path, 64, recipe=r, work_dir=tmp_path / align)
        out = finish_job(prep, np.asarray(prep.crops), tmp_path / f"{align}.mp4", work_dir=tmp_path / align)
        a = np.stack(list(iter_native(probe(src.path))))[:len(prep.positions)].astype(np.int16)
        b = np.stack(list(iter_native(probe(out))))[:len(a)].astype(np.int16)
        err[align] = np.abs(a - b)[:, y0:y1, x0:x1].mean()
    m = prep.crop_mats
    assert m is not None and m.shape == (len(prep.positions), 2, 3)
    angle = np.arctan2(m[:, 1, 0], m[:, 0, 0])
    assert np.abs(angle).max() < 0.1 and np.ptp(m[:, 0, 2]) > 0  # upright face; the crop follows the sway
    # the face comes back where it was: a 110 px face through a 64 px crop loses what the box crop
    # loses (measured 7.5 vs 8.4 levels), no more
    assert err["similarity"] < 1.05 * err["box"], err
    prep.save(tmp_path / "p.npz")
    np.testing.assert_array_equal(PreparedJob.load(tmp_path / "p.npz").crop_mats, m)  # travels to the batch stages
