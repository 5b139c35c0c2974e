"""One job end to end on a tiny random model: duration, fps, resolution, untouched pixels, guidance."""
from __future__ import annotations

import numpy as np
import pytest
import torch

CROP = 32


def video_info(path) -> tuple[float, int, int, int, float]:
    """(fps, n_frames, width, height, audio seconds) of an mp4."""
    import av

    from lipforge.pipeline.media import decode_audio

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        fps = float(v.average_rate)
        n = sum(1 for _ in c.decode(video=0))
        w, h = v.codec_context.width, v.codec_context.height
    return fps, n, w, h, len(decode_audio(path)) / 16000.0


@pytest.fixture(scope="module")
def long_job(tiny_pipeline, infer_media, tmp_path_factory):
    """2.0 s of audio over a 1.2 s video: the loop rule, 4 segments of 16 frames, CFG 3.0."""
    out = tmp_path_factory.mktemp("job") / "out.mp4"
    cache = out.parent / "cache"
    tiny_pipeline(infer_media["src"].path, infer_media["long"].path, out, num_inference_steps=2,
                  crop_size=CROP, cache_dir=cache, progress=False)
    return out, cache


def test_output_has_audio_duration_25fps_source_resolution(long_job, infer_media):
    out, _ = long_job
    fps, n, w, h, audio_s = video_info(out)
    assert fps == 25.0
    assert (w, h) == (160, 160)
    assert n == 50  # 2.0 s at 25 fps, longer than the 30-frame source
    assert audio_s == pytest.approx(2.0, abs=0.07)  # AAC pads to whole 1024-sample frames


def test_pixels_outside_composite_region_equal_source(long_job, infer_media):
    from lipforge.infer.prepare import load_source, prepare_job
    from lipforge.infer.video import box_from_crop, composite_mask, sample_frames

    out, cache = long_job
    src = load_source(infer_media["src"].path)
    prep = prepare_job(infer_media["src"].path, infer_media["long"].path, CROP, cache_dir=cache)
    expected = sample_frames(src, prep.positions)  # (50, H, W, 3): the looped source
    got = load_source(out)
    assert got.shape == expected.shape
    # codec tolerance: the same frames through the same encoder, without any paste-back
    from lipforge.pipeline.media import decode_video, encode_video

    baseline = decode_video(encode_video(expected, audio=prep.audio, deterministic=False))  # as infer writes
    import cv2

    outside, inside, base = [], [], []
    for t in range(len(got)):
        gen_box = box_from_crop(prep.crop_boxes[t], prep.mask_rects[t], CROP)
        alpha = composite_mask(160, 160, [prep.boxes[t], gen_box], prep.crop_boxes[t])
        near = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # H.264 bleeds a few px
        diff = np.abs(got[t].astype(int) - expected[t].astype(int)).mean(-1)
        outside.append(diff[~near])
        inside.append(diff[alpha >= 1])
        base.append(np.abs(baseline[t].astype(int) - expected[t].astype(int)).mean(-1)[~near])
    outside, inside, base = np.concatenate(outside), np.concatenate(inside), np.concatenate(base)
    assert outside.mean() < 1.3 * base.mean() + 0.3, (outside.mean(), base.mean())
    p99, b99 = np.percentile(outside, 99), np.percentile(base, 99)
    assert p99 < b99 + 3, (p99, b99)
    assert inside.mean() > 10  # the random model did repaint the face: the check above can fail


def test_short_audio_truncates_video(tiny_pipeline, infer_media, tmp_path):
    out = tiny_pipeline(infer_media["src"].path, infer_media["short"].path, tmp_path / "short.mp4",
                        num_inference_steps=1, crop_size=CROP, progress=False)
    fps, n, w, h, audio_s = video_info(out)
    assert (fps, n, w, h) == (25.0, 15, 160, 160)
    assert audio_s == pytest.approx(0.6, abs=0.07)


def test_check_inputs_name_the_values(tiny_pipeline, infer_media, tmp_path):
    with pytest.raises(FileNotFoundError, match="video='/nope.mp4'"):
        tiny_pipeline("/nope.mp4", infer_media["long"].path, tmp_path / "o.mp4")
    with pytest.raises(ValueError, match="audio_guidance_scale=5.0 and identity_guidance_scale=None"):
        tiny_pipeline(infer_media["src"].path, infer_media["long"].path, tmp_path / "o.mp4", audio_guidance_scale=5.0)
    with pytest.raises(ValueError, match="overlap=16, segment_length=16"):
        tiny_pipeline(infer_media["src"].path, infer_media["long"].path, tmp_path / "o.mp4", overlap=16)


class _BranchModel(torch.nn.Module):
    """F = 1 with audio and reference dropped, 2 with only the audio dropped, 3 with both kept."""

    def forward(self, x_in, c_noise, masked, ref, wins, drop_audio=None, drop_ref=None, id_residuals=None):
        val = 1.0 + (~drop_ref).float() + (~drop_audio).float()  # (B,)
        return torch.ones_like(x_in) * val[:, None, None, None, None]


def test_guidance_combinations():
    from lipforge.infer.pipeline import LipSyncPipeline

    pipe = LipSyncPipeline(_BranchModel(), device="cpu")
    x = torch.zeros(1, 3, 4, 2, 2)
    args = (x, torch.tensor(0.0), x, torch.zeros(1, 3, 2, 8), [torch.zeros(1, 2, 2, 2)])
    assert pipe._guided(*args, 3.0, None, None).unique().item() == 1 + 3.0 * (3 - 1)  # CFG
    assert pipe._guided(*args, 1.0, None, None).unique().item() == 3  # scale 1: conditional only
    # KeySync: z0 + w_id (z_id - z0) + w_aud (z_id&aud - z_id) = 1 + 2 * 1 + 5 * 1
    assert pipe._guided(*args, 3.0, 5.0, 2.0).unique().item() == 1 + 2.0 * 1 + 5.0 * 1


def test_cli_infer_one_job_and_eval(tiny_checkpoint, infer_media, long_job, tmp_path, capsys):
    import json

    from lipforge.infer.cli import main_eval, main_infer

    out = tmp_path / "cli.mp4"
    assert main_infer(["--video", str(infer_media["src"].path), "--audio", str(infer_media["short"].path),
                       "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--steps", "1",
                       "--crop-size", str(CROP), "--device", "cpu"]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--video"):
        main_infer(["--checkpoint", str(tiny_checkpoint), "--video", "v.mp4"])
    gen, _ = long_job
    src = str(infer_media["src"].path)
    assert main_eval(["--generated", str(gen), src, "--reference", src, src, "--silent", src, "--speech", src,
                      "--out-dir", str(tmp_path / "rep")]) == 0
    res = json.loads((tmp_path / "rep" / "eval.json").read_text())
    v, same = res["videos"]
    assert v["n_frames"] == 50 and 0 < v["ssim"] < 1 and 5 < v["psnr"] < 100
    assert "mar_error" in v  # the random model paints no face
    assert same["psnr"] == 100.0 and len(same["mar"]) == 30
    assert res["summary"]["lipleak"] == pytest.approx(1.0, abs=1e-3)  # same video both ways
    assert (tmp_path / "rep" / "eval.html").read_text().count("<img") >= 2
