"""Evaluation metrics: LipLeak / LipLeak-lite by hand, MAR geometry, SSIM/PSNR, LPIPS/FID from local files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lipforge.infer.eval.metrics import frechet_distance, lip_leak, lip_leak_lite, mouth_aspect_ratio, psnr, ssim


def test_lipleak_matches_hand_computation():
    silent = np.array([0.10, 0.12, 0.08, 0.30, 0.10, 0.26])
    speech = np.array([0.05, 0.45, 0.10, 0.60, 0.20, 0.50])
    # population std, as numpy's default and KeySync's definition
    mean_s = sum(silent) / 6
    std_s = (sum((x - mean_s) ** 2 for x in silent) / 6) ** 0.5
    mean_p = sum(speech) / 6
    std_p = (sum((x - mean_p) ** 2 for x in speech) / 6) ** 0.5
    assert lip_leak(silent, speech) == pytest.approx(std_s / (std_p + 1e-5), rel=1e-12)
    assert lip_leak_lite(silent) == pytest.approx(2 / 6)  # 0.30 and 0.26 exceed 0.25
    assert lip_leak(np.full(5, 0.2), speech) == 0.0  # a still mouth leaks nothing
    assert lip_leak(speech, np.full(5, 0.2)) == pytest.approx(np.std(speech) / 1e-5)  # eps guards the division
    with pytest.raises(ValueError, match="non-empty"):
        lip_leak(np.array([]), speech)


def test_mouth_aspect_ratio_geometry():
    lm = np.zeros((2, 68, 2))
    lm[:, 60], lm[:, 64] = (0, 0), (10, 0)  # mouth corners, width 10
    for top, bot, x in ((61, 67, 3), (62, 66, 5), (63, 65, 7)):
        lm[:, top] = (x, -1)
        lm[0, bot] = (x, 1)  # opening 2
        lm[1, bot] = (x, -1)  # closed
    mar = mouth_aspect_ratio(lm)
    np.testing.assert_allclose(mar, [2 * 3 / (3 * 10), 0.0])
    with pytest.raises(ValueError, match="68, 2"):
        mouth_aspect_ratio(np.zeros((3, 5, 2)))


def test_ssim_psnr():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    assert psnr(a, a) == 100.0 and ssim(a, a) == pytest.approx(1.0)
    b = np.clip(a.astype(int) + 5, 0, 255).astype(np.uint8)
    mse = np.mean((a.astype(float) - b) ** 2)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / mse))
    assert ssim(a, rng.integers(0, 255, a.shape, dtype=np.uint8)) < 0.2
    np.testing.assert_allclose(frechet_distance(np.zeros(3), np.eye(3), np.ones(3), np.eye(3)), 3.0, atol=1e-6)


def test_lpips_loads_local_weights(tmp_path):
    import torch
    import torchvision

    from lipforge.infer.eval.networks import LPIPSMetric

    with pytest.raises(FileNotFoundError, match="alexnet"):
        LPIPSMetric(tmp_path / "missing.pth")
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), tmp_path / "alex.pth")
    m = LPIPSMetric(tmp_path / "alex.pth")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    assert m(a, a) == pytest.approx(0.0, abs=1e-6)
    assert m(a, 255 - a) > 0


def test_fid_inception_is_the_standard_architecture_from_a_local_file(tmp_path):
    """pytorch-fid's network (1008 classes, TF pools) loads strictly; torchvision's ImageNet one does not."""
    import torch
    import torchvision

    from lipforge.infer.eval.fid_inception import FIDInception, build_fid_inception

    with pytest.raises(FileNotFoundError, match="pt_inception-2015-12-05"):
        FIDInception(tmp_path / "missing.pth")
    net = build_fid_inception()
    assert net.fc.out_features == 1008 and type(net.Mixed_7c).__name__ == "FIDInceptionE2"
    torch.manual_seed(0)
    torch.save(net.state_dict(), tmp_path / "fid.pth")
    f = FIDInception(tmp_path / "fid.pth")(np.random.default_rng(0).integers(0, 255, (2, 40, 40, 3), np.uint8))
    assert f.shape == (2, 2048) and np.isfinite(f).all()
    torch.save(torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(),
               tmp_path / "imagenet.pth")
    with pytest.raises(ValueError, match="not the FID Inception state dict"):
        FIDInception(tmp_path / "imagenet.pth")(np.zeros((1, 40, 40, 3), np.uint8))


def test_frechet_refuses_rank_deficient_covariance():
    from lipforge.infer.eval.networks import FIDUnavailable, fid

    cheap = lambda x: x.reshape(len(x), -1, 3).mean(1).astype(np.float64)  # noqa: E731  (3-d features)
    rng = np.random.default_rng(0)
    b = rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    assert fid(b, b, cheap) == pytest.approx(0.0, abs=1e-6)
    assert fid(b, np.clip(b.astype(int) + 40, 0, 255).astype(np.uint8), cheap) > 100
    with pytest.raises(FIDUnavailable, match="more than 3 frames per set"):
        fid(b[:3], b[:3], cheap)  # 3 frames of 3-d features: singular covariance, no number


def test_fvd_i3d_from_a_local_state_dict(tmp_path):
    import torch

    from lipforge.infer.eval.fvd import I3DFeatures, build_i3d, fvd
    from lipforge.infer.eval.networks import FIDUnavailable

    with pytest.raises(FileNotFoundError, match="rgb_imagenet.pt"):
        I3DFeatures(tmp_path / "missing.pt")
    torch.manual_seed(0)
    torch.save(build_i3d().state_dict(), tmp_path / "i3d.pt")
    feats = I3DFeatures(tmp_path / "i3d.pt")
    v = np.random.default_rng(0).integers(0, 255, (20, 32, 32, 3), np.uint8)
    f = feats(v)
    assert f.shape == (1, 400) and np.isfinite(f).all()  # one whole 16-frame clip
    with pytest.raises(FIDUnavailable, match="FVD needs more than 400"):
        fvd([v], [v], feats)


def test_eval_aligns_streams_and_maps_looped_frames(tmp_path):
    """A 5-frame container offset (audio stream starting 0.2 s late) is found, and a looped output is
    compared with the reference frames it was made from."""
    import av

    from lipforge.infer.eval.evaluate import frame_mapping, load_aligned, measure_sync
    from lipforge.testing import make_talking_head

    v = make_talking_head(tmp_path / "sync.mp4", seconds=3.0, size=(160, 160), face_px=110)
    shifted = tmp_path / "late_audio.mp4"
    with av.open(str(v.path)) as src, av.open(str(shifted), "w") as dst:
        vi, ai = src.streams.video[0], src.streams.audio[0]
        vo, ao = dst.add_stream_from_template(vi), dst.add_stream_from_template(ai)
        late = int(round(0.2 / ai.time_base))
        for pkt in src.demux(vi, ai):
            if pkt.dts is None:
                continue
            if pkt.stream is ai:
                pkt.pts += late
                pkt.dts += late
                pkt.stream = ao
            else:
                pkt.stream = vo
            dst.mux(pkt)
    frames, audio, off = load_aligned(shifted)
    assert off == pytest.approx(0.2, abs=0.07)  # remuxed without the edit list: the 1024-sample priming shows
    r = measure_sync(frames, audio)
    assert r["backend"].startswith("offline") and abs(r["offset"] - 5) <= 1, r
    f0, a0, off0 = load_aligned(v.path)
    assert abs(off0) < 0.03 and abs(measure_sync(f0, a0)["offset"]) <= 1
    kind, pos = frame_mapping(30, 50)
    assert kind == "loop" and pos[29] < 29.5 and pos[40] == pytest.approx(58 - 40)  # back along the loop
    assert frame_mapping(30, 20)[0] == "truncate"


def test_eval_report_writes_json_and_html(tmp_path):
    from lipforge.infer.eval.report import write_report

    result = {"config": {}, "summary": {"n_videos": 1, "psnr": 30.0, "lipleak": 0.2, "lipleak_lite": 0.1},
              "videos": [{"path": "/x/out.mp4", "n_frames": 3, "psnr": 30.0, "mar": [0.1, 0.3, 0.2]}],
              "lipleak": {"mar_silent": [0.1, 0.1], "mar_speech": [0.1, 0.5], "lipleak": 0.2, "lipleak_lite": 0.1}}
    js, html = write_report(result, tmp_path / "rep")
    assert json.loads(js.read_text())["summary"]["psnr"] == 30.0
    text = html.read_text()
    assert "out.mp4" in text and text.count("data:image/png;base64") == 2 and "LipLeak" in text


def test_sync_measure_finds_known_delay(tmp_path):
    """Curation's weight-free sync check through the eval path on a talking head with audio 3 frames late."""
    from lipforge.infer.eval.evaluate import measure_sync
    from lipforge.infer.prepare import load_audio, load_source
    from lipforge.testing import make_talking_head

    v = make_talking_head(tmp_path / "d.mp4", seconds=3.0, size=(160, 160), face_px=110, delay_frames=3)
    r = measure_sync(load_source(v.path), load_audio(v.path))
    assert r["backend"].startswith("offline")
    assert abs(r["offset"] - 3) <= 1 and r["conf"] > 0


def test_lmd_zero_for_itself_positive_for_other_mouths(infer_media):
    from lipforge.infer.eval.evaluate import mouth_landmark_distance
    from lipforge.infer.prepare import load_source

    fr = load_source(infer_media["src"].path)[:20]
    assert mouth_landmark_distance(fr, fr) == pytest.approx(0.0, abs=1e-9)
    assert mouth_landmark_distance(fr[::-1].copy(), fr) > 0.5  # the same face, the mouth at other times


def test_frame_metrics_use_the_video_start_time(tmp_path, infer_media):
    """A generated stream starting 0.2 s late is compared with the reference frames of its clock."""
    import av

    from lipforge.infer.eval.evaluate import EvalConfig, evaluate
    from lipforge.infer.prepare import load_source
    from lipforge.pipeline.media import encode_video

    ref = infer_media["src"].path
    frames = load_source(ref)
    encode_video(frames[5:], path=tmp_path / "g.mp4")  # content from reference frame 5 on ...
    late = tmp_path / "late.mp4"
    with av.open(str(tmp_path / "g.mp4")) as src, av.open(str(late), "w") as dst:
        vi = src.streams.video[0]
        vo = dst.add_stream_from_template(vi)
        shift = int(round(0.2 / vi.time_base))
        for pkt in src.demux(vi):
            if pkt.dts is None:
                continue
            pkt.pts += shift  # ... shown from 0.2 s on: where the reference shows frame 5
            pkt.dts += shift
            pkt.stream = vo
            dst.mux(pkt)
    cfg = EvalConfig(sync=False, lmd=False)
    aligned = evaluate([late], [ref], config=cfg)["videos"][0]["psnr"]
    unaligned = evaluate([tmp_path / "g.mp4"], [ref], config=cfg)["videos"][0]["psnr"]
    assert aligned > unaligned + 3, (aligned, unaligned)


def test_streamed_evaluate_gives_the_whole_video_values(tmp_path):
    """Chunked reading (16 frames here: several chunks, a looped reference read back) gives the
    values the whole-video computation gives."""
    from lipforge.infer.eval.evaluate import (
        EvalConfig,
        evaluate,
        frame_mapping,
        load_aligned,
        measure_sync,
        mouth_landmark_distance,
        video_mar,
    )
    from lipforge.infer.source import probe, read_model_frames
    from lipforge.infer.video import sample_frames
    from lipforge.testing import make_talking_head

    ref = make_talking_head(tmp_path / "ref.mp4", seconds=1.0, size=(160, 160), face_px=110).path
    gen = make_talking_head(tmp_path / "gen.mp4", seconds=2.0, size=(160, 160), face_px=110, seed=4).path
    res = evaluate([gen], [ref], config=EvalConfig(chunk=16))["videos"][0]
    fr, audio, _ = load_aligned(gen)
    rf = read_model_frames(probe(ref))
    kind, pos = frame_mapping(len(rf), len(fr))
    want = sample_frames(rf, pos)
    assert kind == "loop" and res["frame_mapping"] == "loop" and res["n_frames"] == len(fr) == 50
    assert res["ssim"] == pytest.approx(ssim(fr, want), rel=1e-9)
    assert res["psnr"] == pytest.approx(psnr(fr, want), rel=1e-9)
    assert res["mar"] == video_mar(fr).round(4).tolist()
    assert res["lmd"] == pytest.approx(mouth_landmark_distance(fr, want), rel=1e-9)
    s = measure_sync(fr, audio)
    assert (res["sync_offset"], res["sync_conf"]) == (s["offset"], pytest.approx(s["conf"], rel=1e-6))
