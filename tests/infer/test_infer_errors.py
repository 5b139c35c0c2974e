"""Every user error of ``lipforge infer`` / ``lipforge eval``: one line naming the file and the reason, exit 2."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CROP = 32


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, infer_media):
    from lipforge.pipeline.media import encode_video

    d = tmp_path_factory.mktemp("bad")
    corrupt = d / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    truncated = d / "truncated.mp4"
    truncated.write_bytes(Path(infer_media["src"].path).read_bytes()[:2000])
    noface = d / "noface.mp4"
    encode_video(np.random.default_rng(0).integers(0, 255, (10, 64, 64, 3), np.uint8), path=noface)
    return {"corrupt": corrupt, "truncated": truncated, "noface": noface, "audio_only": infer_media["long"].path}


def _infer(argv, capsys):
    from lipforge.cli import main  # the command users run: it turns user errors into one line

    code = main(["infer", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.mark.parametrize("case, reason", [("audio_only", "no video stream"), ("corrupt", "cannot read video"),
                                          ("truncated", "truncated.mp4"), ("noface", "no face")])
def test_bad_video_is_one_line_exit_2(case, reason, bad_inputs, tiny_checkpoint, infer_media, tmp_path, capsys):
    code, err = _infer(["--video", str(bad_inputs[case]), "--audio", str(infer_media["short"].path), "--out",
                        str(tmp_path / "o.mp4"), "--checkpoint", str(tiny_checkpoint), "--device", "cpu",
                        "--steps", "1", "--crop-size", str(CROP)], capsys)
    errors = [line for line in err if line.startswith("lipforge infer:") and "model on" not in line]
    assert code == 2 and len(errors) == 1, err
    assert str(bad_inputs[case].name) in errors[0] and reason in errors[0], errors
    assert not any("Traceback" in line for line in err)
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))  # nothing left behind


def test_missing_checkpoint_and_bad_audio(tiny_checkpoint, infer_media, bad_inputs, tmp_path, capsys):
    base = ["--video", str(infer_media["src"].path), "--out", str(tmp_path / "o.mp4"), "--device", "cpu"]
    code, err = _infer(base + ["--audio", str(infer_media["short"].path), "--checkpoint", str(tmp_path / "nope")],
                       capsys)
    assert code == 2 and len(err) == 1 and "nope" in err[0], err
    code, err = _infer(base + ["--audio", str(bad_inputs["noface"]), "--checkpoint", str(tiny_checkpoint)], capsys)
    errors = [line for line in err if "model on" not in line]
    assert code == 2 and len(errors) == 1 and "noface.mp4" in errors[0] and "audio" in errors[0], err
    code, err = _infer(base + ["--audio", str(tmp_path / "missing.wav"), "--checkpoint", str(tiny_checkpoint)], capsys)
    assert code == 2 and "missing.wav" in err[-1] and len(err) == 1, err


def test_eval_errors_one_line(infer_media, bad_inputs, tmp_path, capsys):
    from lipforge.cli import main
    from lipforge.pipeline.media import encode_video

    small = tmp_path / "small.mp4"
    encode_video(np.zeros((5, 64, 64, 3), np.uint8), path=small)
    for argv, needle in ((["--generated", str(small), "--reference", str(infer_media["src"].path)], "differs"),
                         (["--generated", str(bad_inputs["corrupt"])], "corrupt.mp4"),
                         (["--generated", str(tmp_path / "none.mp4")], "none.mp4"),
                         (["--generated", str(small), "--fid-inception", str(tmp_path / "w.pth")], "w.pth")):
        code = main(["eval", *argv, "--out-dir", str(tmp_path / "rep"), "--no-sync"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and needle in err[0] and err[0].startswith("lipforge eval:"), err


def test_batch_error_rows_are_one_line(tiny_checkpoint, infer_media, bad_inputs, tmp_path):
    from lipforge.infer.batch import BatchConfig, run_jobs

    rows = [{"video": str(bad_inputs[k]), "audio": str(infer_media["short"].path), "output": f"out/{k}.mp4"}
            for k in ("corrupt", "noface", "audio_only")]
    pd.DataFrame(rows).to_csv(tmp_path / "jobs.csv", index=False)
    cfg = BatchConfig(checkpoint=str(tiny_checkpoint), work_dir=str(tmp_path / "work"), runner="local",
                      num_inference_steps=1, crop_size=CROP, device="cpu")
    res = run_jobs(tmp_path / "jobs.csv", cfg, log=lambda s: None)
    assert [r["status"] for r in res] == ["error"] * 3
    for r, k in zip(res, ("corrupt", "noface", "audio_only")):
        assert "\n" not in r["error"] and r["error"].startswith("prepare: ") and Path(bad_inputs[k]).name in r["error"]


def test_bad_input_fails_before_the_model_loads(bad_inputs, tiny_checkpoint, infer_media, tmp_path, capsys,
                                               monkeypatch):
    from lipforge.infer.pipeline import LipSyncPipeline

    def never(*a, **kw):
        raise AssertionError("the model was loaded before the inputs were probed")

    monkeypatch.setattr(LipSyncPipeline, "from_pretrained", never)
    for video, audio, needle in ((bad_inputs["corrupt"], infer_media["short"].path, "corrupt.mp4"),
                                 (infer_media["src"].path, bad_inputs["noface"], "no audio stream")):
        code, err = _infer(["--video", str(video), "--audio", str(audio), "--out", str(tmp_path / "o.mp4"),
                            "--checkpoint", str(tiny_checkpoint), "--device", "cpu"], capsys)
        assert code == 2 and len(err) == 1 and needle in err[0], err


def test_missing_unet_weights_name_the_safetensors_file(tiny_checkpoint, infer_media, tmp_path, capsys):
    import shutil

    ck = tmp_path / "ck"
    shutil.copytree(tiny_checkpoint, ck)
    (ck / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    code, err = _infer(["--video", str(infer_media["src"].path), "--audio", str(infer_media["short"].path),
                        "--out", str(tmp_path / "o.mp4"), "--checkpoint", str(ck), "--device", "cpu"], capsys)
    assert code == 2 and len(err) == 1, err
    assert str(ck / "unet" / "diffusion_pytorch_model.safetensors") in err[0] and ".bin" not in err[0], err


def test_output_equal_to_input_is_refused(tiny_checkpoint, infer_media, tmp_path, capsys):
    import shutil

    src = tmp_path / "talk.mp4"
    shutil.copy(infer_media["src"].path, src)
    before = src.read_bytes()
    code, err = _infer(["--video", str(src), "--audio", str(infer_media["short"].path), "--out",
                        str(tmp_path / "." / "talk.mp4"), "--checkpoint", str(tiny_checkpoint), "--device", "cpu"],
                       capsys)
    assert code == 2 and len(err) == 1 and "is the --video input" in err[0], err
    assert src.read_bytes() == before
