"""GPU acceptance check: every GPU path of lipforge once, on one CUDA GPU, in a few minutes.

Run by ``scripts/gpu-check.sh`` (see the README). Nothing is downloaded: the models are random
init (tiny ones, and the full SVD-size preset built from its config), the media synthetic.

Checks (``--only`` picks some):
  train-bf16    tiny model, 4 steps, bf16 autocast, DDP over NCCL (world size 1), host syncs counted
  train-fp16    the same in fp16 with the grad scaler
  resume        2 steps, stop, --resume to 4: the losses of steps 3-4 match the uninterrupted run
  full-preset   configs/train/keysync.yaml (random init, 16 x 320 px, batch 1, gradient
                checkpointing, pixel loss), 2 steps: measured peak memory next to the dry run's figure
  infer         a 3 s synthetic talking head lip-synced on CUDA by a tiny export
  curation      the GPU stages on CUDA: YOLO-format face detector (random-init .pt), HyperIQA
                (random init), Light-ASD and SyncNet (random init) on a synthetic clip
At the end a table of status, seconds and peak memory; the exit code is 1 when a check failed.
On a machine without CUDA it prints that it needs a GPU and exits 0 (a skip, not a failure).
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

CHECKS = ("train-bf16", "train-fp16", "resume", "full-preset", "infer", "curation")
ROOT = Path(__file__).resolve().parent.parent
GB = 1024 ** 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/gpu-check.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=CHECKS, metavar="CHECK", help=f"run only these: {', '.join(CHECKS)}")
    p.add_argument("--work", help="scratch directory (default: a new temporary one, removed at the end)")
    p.add_argument("--list", action="store_true", help="print the checks and exit")
    return p.parse_args(argv)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shards(d: Path, size: int, n_frames: int, n: int = 2) -> list[str]:
    from lipforge.testing.train_data import synthetic_clip, write_shard

    d.mkdir(parents=True, exist_ok=True)
    clips = [synthetic_clip(f"gpu{size}-{i:08d}-00", n_frames=n_frames, size=size, seed=i) for i in range(n)]
    return [str(write_shard(d / "shard-00000.tar", clips))]


def _train_nccl(cfg, **kw) -> list[dict]:
    """lipforge's train() inside a one-rank NCCL process group (DDP's path on one GPU)."""
    import torch
    import torch.distributed as dist

    from lipforge.train.loop import train

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    dist.init_process_group("nccl", rank=0, world_size=1, device_id=torch.device("cuda:0"))
    return train(cfg, rank=0, world_size=1, report_to="none", **kw)  # the loop destroys the group


def check_train(work: Path, precision: str) -> str:
    import torch

    from lipforge.testing.train_data import tiny_train_config

    cfg = tiny_train_config(work / f"run-{precision}", _shards(work / "tiny", 32, 12), max_steps=4, log_every=2,
                            ckpt_every=2, mixed_precision=precision)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            hist = _train_nccl(cfg)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = sum("synchroniz" in str(w.message) for w in seen)
    losses = [h["loss"] for h in hist]
    if len(hist) != 4 or not all(map(lambda v: v == v and abs(v) < 1e6, losses)):
        raise RuntimeError(f"expected 4 finite losses, got {losses}")
    return f"losses {' '.join(f'{v:.4f}' for v in losses)}; {syncs} host syncs in 4 steps (sync debug mode)"


def check_resume(work: Path) -> str:
    from lipforge.testing.train_data import tiny_train_config

    shards = _shards(work / "tiny", 32, 12)
    full = tiny_train_config(work / "resume-full", shards, max_steps=4, ckpt_every=2, mixed_precision="bf16")
    part = tiny_train_config(work / "resume-part", shards, max_steps=4, ckpt_every=2, mixed_precision="bf16")
    a = _train_nccl(full)
    _train_nccl(part, stop_at_step=2)
    b = _train_nccl(part, resume=True)
    la, lb = [h["loss"] for h in a[2:]], [h["loss"] for h in b]
    if [h["step"] for h in b] != [3, 4] or max(abs(x - y) for x, y in zip(la, lb)) > 1e-3 * max(1.0, *map(abs, la)):
        raise RuntimeError(f"resumed steps 3-4 {lb} differ from the uninterrupted run's {la}")
    return f"steps 3-4 uninterrupted {la[0]:.4f} {la[1]:.4f}, resumed {lb[0]:.4f} {lb[1]:.4f}"


def check_full_preset(work: Path) -> str:
    import re

    import torch

    from lipforge.train import checkpoint as ckpt
    from lipforge.train.config import TrainConfig
    from lipforge.train.dry_run import dry_run
    from lipforge.train.loop import train

    cfg = TrainConfig.from_yaml(ROOT / "configs/train/keysync.yaml", overrides=[
        "model.svd_dir=null", "model.whisper_dir=null", "data.corpus=null", "data.where=null",
        f"data.shards=[{_shards(work / 'full', 320, 24)[0]}]", "data.num_workers=0", "max_steps=2", "log_every=1",
        "ckpt_every=1000", "optim.warmup_steps=0", f"output_dir={work / 'run-full'}"])
    est = float(re.search(r"estimated total\s+([\d.]+) GiB", dry_run(cfg)).group(1))
    torch.cuda.reset_peak_memory_stats()
    save = ckpt.CheckpointManager.save
    ckpt.CheckpointManager.save = lambda self, step, state, config_yaml: None  # no 20 GB checkpoint on disk
    try:
        hist = train(cfg, report_to="none")
    finally:
        ckpt.CheckpointManager.save = save
    peak = torch.cuda.max_memory_allocated() / GB
    reserved = torch.cuda.max_memory_reserved() / GB
    step_s = hist[-1]["compute_s"] + hist[-1]["data_s"]
    losses = " ".join(f"{h['loss']:.4f}" for h in hist)
    return (f"peak allocated {peak:.2f} GiB (reserved {reserved:.2f}), dry run {est:.2f} GiB "
            f"({100 * (est - peak) / peak:+.0f} %); step 2 {step_s:.2f} s; losses {losses}")


def check_infer(work: Path) -> str:
    import numpy as np
    import soundfile as sf

    from lipforge.infer.pipeline import LipSyncPipeline
    from lipforge.testing.synth import make_talking_head, speech_wav
    from lipforge.testing.train_data import tiny_model_export

    export = tiny_model_export(work / "export", resolution=64)
    video = make_talking_head(work / "talk.mp4", seconds=3.0, size=(192, 192), face_px=120).path
    wav = work / "speech.wav"
    sf.write(wav, speech_wav(3.0, 16000, seed=2), 16000)
    pipe = LipSyncPipeline.from_pretrained(export, device="cuda")
    out = pipe(video, wav, work / "out.mp4", num_inference_steps=4, progress=False)
    t = pipe.last_timings
    if not Path(out).is_file() or Path(out).stat().st_size == 0:
        raise RuntimeError(f"no output video at {out}")
    return (f"{t.get('n_frames')} frames; sample {t.get('sample', np.nan):.2f} s, vae encode "
            f"{t.get('vae_encode', np.nan):.2f} s, decode {t.get('vae_decode', np.nan):.2f} s")


def check_curation(work: Path) -> str:
    import numpy as np
    import torch

    from lipforge.pipeline.av.iqa import build_hyperiqa, hyperiqa_scores
    from lipforge.pipeline.av.light_asd import load_light_asd
    from lipforge.pipeline.av.mfcc import mfcc
    from lipforge.pipeline.av.syncnet import load_syncnet, syncnet_embeddings
    from lipforge.pipeline.stages.faces import FaceDetectStage
    from lipforge.testing.av_models import tiny_av_weights

    d = work / "models"
    d.mkdir(parents=True, exist_ok=True)
    from ultralytics import YOLO

    YOLO("yolov8n.yaml").save(str(d / "face.pt"))
    parts = []
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (8, 360, 640, 3), dtype=np.uint8)
    st = FaceDetectStage(FaceDetectStage.Config(backend="ultralytics", weights=str(d / "face.pt"), device="cuda",
                                                conf=0.0, detect_every=1, detect_max_side=640))
    st.setup()
    t = time.perf_counter()
    boxes = st.detect(frames, work_scale=1.0)
    parts.append(f"yolo {boxes.shape[0]} frames {time.perf_counter() - t:.2f} s")

    import timm
    from pyiqa.archs import hypernet_arch

    orig = timm.create_model
    hypernet_arch.timm.create_model = lambda *a, **k: orig(*a, **{**k, "pretrained": False})
    try:
        sd = hypernet_arch.HyperNet(pretrained=False).state_dict()
    finally:
        hypernet_arch.timm.create_model = orig
    torch.save({"params": {k: v for k, v in sd.items() if not k.startswith("base_model.")}}, d / "hyperiqa.pth")
    torch.save({k[len("base_model."):]: v for k, v in sd.items() if k.startswith("base_model.")}, d / "resnet50.pth")
    net = build_hyperiqa(str(d / "hyperiqa.pth"), str(d / "resnet50.pth"), "cuda")
    t = time.perf_counter()
    s = hyperiqa_scores(net, rng.integers(0, 255, (9, 224, 224, 3), dtype=np.uint8), "cuda")
    parts.append(f"hyperiqa 9 crops {time.perf_counter() - t:.2f} s")

    w = tiny_av_weights(d)
    from lipforge.pipeline.av.light_asd import asd_scores

    asd = load_light_asd(str(w["light_asd"]), "cuda")
    audio = rng.standard_normal(2 * 16000).astype(np.float32) * 0.1
    feats = mfcc(audio, 16000)
    feats = np.concatenate([feats, feats[-1:]])[:200]
    t = time.perf_counter()
    a = asd_scores(asd, rng.integers(0, 255, (50, 112, 112), dtype=np.uint8), feats, (1, 2), "raw", "cuda")
    parts.append(f"light-asd 50 frames {time.perf_counter() - t:.2f} s")
    sync = load_syncnet(str(w["syncnet"]), "cuda")
    t = time.perf_counter()
    v, e = syncnet_embeddings(sync, rng.integers(0, 255, (50, 224, 224, 3), dtype=np.uint8), mfcc(audio, 16000),
                              device="cuda")
    parts.append(f"syncnet 50 frames {time.perf_counter() - t:.2f} s")
    for name, x in (("hyperiqa", s), ("light-asd", a), ("syncnet", v)):
        if not np.isfinite(np.asarray(x, np.float64)).all():
            raise RuntimeError(f"{name} gave non-finite scores")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print("\n".join(CHECKS))
        return 0
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: needs a CUDA GPU (torch.cuda.is_available() is False here): skipped, nothing run")
        return 0
    from lipforge.env import apply_offline_env

    apply_offline_env()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="lipforge-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    runs = {"train-bf16": lambda: check_train(work, "bf16"), "train-fp16": lambda: check_train(work, "fp16"),
            "resume": lambda: check_resume(work), "full-preset": lambda: check_full_preset(work),
            "infer": lambda: check_infer(work), "curation": lambda: check_curation(work)}
    print(f"gpu-check on {torch.cuda.get_device_name(0)}, torch {torch.__version__}, work dir {work}", flush=True)
    rows = []
    for name in args.only or CHECKS:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        try:
            note, ok = runs[name](), True
        except Exception as e:  # noqa: BLE001 - a failed check is a row of the table, the others still run
            traceback.print_exc()
            note, ok = " ".join(f"{type(e).__name__}: {e}".split())[:300], False
        rows.append((name, "ok" if ok else "FAILED", time.perf_counter() - t, torch.cuda.max_memory_allocated() / GB, note))
        print(f"[{rows[-1][1]}] {name} ({rows[-1][2]:.1f} s): {note}", flush=True)
    print(f"\n{'check':12s} {'status':7s} {'seconds':>8s} {'peak GiB':>9s}  note")
    for name, status, sec, peak, note in rows:
        print(f"{name:12s} {status:7s} {sec:8.1f} {peak:9.2f}  {note}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if any(r[1] != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
