"""Similarity alignment: exact round trips of points and pixels, exact recovery of a known pose."""
from __future__ import annotations

import numpy as np
import pytest


def _upright_face(size: int = 128, margin: float = 0.25, seed: int = 0) -> np.ndarray:
    """68 crop-pixel landmarks whose five anchors sit exactly on the template (other points random)."""
    from lipforge.pipeline.faces.align import template

    rng = np.random.default_rng(seed)
    lm = rng.uniform(0.2 * size, 0.8 * size, (68, 2))
    t = template(size, margin)
    for idx, p in ((range(36, 42), t[0]), (range(42, 48), t[1])):
        pts = rng.normal(0, 3, (6, 2))
        lm[list(idx)] = pts - pts.mean(0) + p  # the eye's centre is the anchor
    lm[30], lm[48], lm[54] = t[2], t[3], t[4]
    return lm


def _pose(theta: float, scale: float, shift) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[scale * c, -scale * s, shift[0]], [scale * s, scale * c, shift[1]]])


@pytest.mark.parametrize("theta,scale", [(0.0, 1.0), (0.35, 2.3), (-1.2, 0.7), (np.pi, 4.0)])
def test_known_pose_is_recovered_exactly(theta, scale):
    from lipforge.pipeline.faces.align import align_matrices, apply_affine, invert_affine

    crop_lm = _upright_face()
    pose = _pose(theta, scale, (300.0, 180.0))  # crop -> frame: the face as filmed, tilted and scaled
    frame_lm = apply_affine(pose, crop_lm)
    m = align_matrices(frame_lm[None], 128)[0]  # frame -> crop
    np.testing.assert_allclose(m, invert_affine(pose), atol=1e-9)
    np.testing.assert_allclose(apply_affine(m, frame_lm), crop_lm, atol=1e-9)  # the face comes out upright


def test_point_round_trip_is_exact():
    from lipforge.pipeline.faces.align import apply_affine, invert_affine

    rng = np.random.default_rng(1)
    m = _pose(0.7, 1.9, (-40.0, 12.5))
    p = rng.uniform(-500, 500, (100, 2))
    np.testing.assert_allclose(apply_affine(invert_affine(m), apply_affine(m, p)), p, atol=1e-9)
    np.testing.assert_allclose(invert_affine(invert_affine(m)), m, atol=1e-12)


def test_pixel_round_trip_is_exact_on_a_grid_pose():
    """A quarter turn with an integer shift maps pixel centres onto pixel centres: crop then paste
    back gives the frame's own pixels everywhere the crop covers."""
    from lipforge.pipeline.faces.align import warp_from_crop, warp_to_crop

    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (96, 120, 3), np.uint8)
    m = _pose(np.pi / 2, 1.0, (80.0, -10.0))  # frame -> crop
    crop = warp_to_crop(frame, m, 48)
    back, inside = warp_from_crop(crop, m, 96, 120)
    covered = inside > 0
    assert covered.sum() == 48 * 48
    np.testing.assert_array_equal(back[covered], frame[covered])


def test_align_is_a_recipe_option():
    from lipforge.infer.recipe import Recipe
    from lipforge.pipeline.faces.recipe import CropRecipe

    assert CropRecipe().align == "box" and CropRecipe(align="similarity").align == "similarity"
    with pytest.raises(ValueError, match="align"):
        CropRecipe(align="affine3")
    r = Recipe(mask_type="mask_adaptive", num_frames=16, resolution=32, audio_context_k=2,
               audio_features_per_frame=2, crop={"align": "similarity"})
    assert Recipe.from_dict(r.to_dict()) == r and r.crop_config().align == "similarity"
    old = r.to_dict()
    del old["crop"]["align"]  # a recipe saved before the option: its crops were box crops
    assert Recipe.from_dict(old).crop_config().align == "box"
    assert r.face_tag() != Recipe.from_dict(old).face_tag()  # another crop is another cached track


def test_crop_stage_aligns_when_the_recipe_says_so():
    """Curation's crop stage honours ``align``: the shard's crops, crop landmarks and masks come from
    the similarity, and ``crop_affine.npy`` (source px -> crop px) inverts it."""
    from lipforge.manifests.layout import SAMPLE_LAYOUT
    from lipforge.pipeline.faces.align import apply_affine, invert_affine, warp_to_crop
    from lipforge.pipeline.stages.base import ClipItem
    from lipforge.pipeline.stages.crop import CropStage

    size, ws = 256, 0.5
    upright = _upright_face(size)
    pose = _pose(0.4, 1.6, (420.0, 300.0))  # crop px -> source px
    lm = np.stack([apply_affine(pose, upright)] * 3)  # (T, 68, 2) source px
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (3, 360, 480, 3), np.uint8)  # working frames (source x 0.5)
    faces = np.stack([np.r_[lm[0].min(0), lm[0].max(0)]] * 3).astype(np.float32)
    item = ClipItem("c", "s", "c", 0, 3, work_scale=ws, frames=frames,
                    arrays={"face_boxes.npy": faces, "landmarks.npy": lm.astype(np.float32)})
    out = CropStage(CropStage.Config(crop_size=size, align="similarity")).process([item])[0]
    m = out.arrays["crop_affine.npy"]
    assert "crop_affine.npy" in SAMPLE_LAYOUT and m.shape == (3, 2, 3)
    np.testing.assert_allclose(m[0], invert_affine(pose), atol=1e-4)
    np.testing.assert_allclose(out.arrays["landmarks_crop.npy"][0].astype(np.float64), upright, atol=0.15)  # f16
    from lipforge.pipeline.faces.align import align_matrices

    work = align_matrices(lm.astype(np.float32).astype(np.float64), size)[1]  # what the stage fitted
    work[:, :2] /= ws
    np.testing.assert_array_equal(out.frames[1], warp_to_crop(frames[1], work, size))
    box = CropStage(CropStage.Config(crop_size=size)).process([ClipItem(
        "c", "s", "c", 0, 3, work_scale=ws, frames=frames,
        arrays={"face_boxes.npy": faces, "landmarks.npy": lm.astype(np.float32)})])[0]
    assert "crop_affine.npy" not in box.arrays  # the default recipe: box crops as before
