"""The embedded end-to-end demo: nothing but registry packages and espeak-ng needed.

1. makes a small synthetic corpus (talking heads from a real face photo with espeak-ng speech,
   one needing normalization, one without speech, one corrupt file);
2. curates it on a local Ray started in-process;
3. trains a tiny model for a few steps on the shards, and
4. lip-syncs a video to new audio with it; then prints where everything is.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def make_sample_inputs(d: Path, seconds: float = 6.0) -> None:
    import numpy as np

    from lipforge.testing import make_talking_head

    d.mkdir(parents=True, exist_ok=True)
    if not (d / "speaker_a.mp4").exists():
        make_talking_head(d / "speaker_a.mp4", seconds=seconds, seed=0)
    if not (d / "speaker_b_30fps_44k.mp4").exists():
        make_talking_head(d / "speaker_b_30fps_44k.mp4", seconds=seconds - 1, seed=1, out_fps=30,
                          out_sample_rate=44100, out_channels=2)
    if not (d / "silent.mp4").exists():
        make_talking_head(d / "silent.mp4", seconds=4.0, audio=np.zeros(4 * 16000, np.float32))
    if not (d / "corrupt.mp4").exists():
        (d / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4096))


def default_workdir() -> Path:
    """Outside any checkout, so a demo never dirties the repository it runs from."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lipforge" / "demo"


def main(argv: list[str] | None = None) -> int:
    from lipforge.env import apply_offline_env

    apply_offline_env()
    p = argparse.ArgumentParser(prog="lipforge demo")
    p.add_argument("--workdir", default=str(default_workdir()),
                   help="where inputs and outputs go (default: outside the checkout, %(default)s)")
    p.add_argument("--runner", choices=("ray", "local"), default="ray")
    p.add_argument("--skip-train", action="store_true")
    args = p.parse_args(argv)
    work = Path(args.workdir).resolve()
    t0 = time.time()
    print(f"[demo] writing everything under {work}", flush=True)
    print(f"[demo] 1/4 synthetic inputs -> {work / 'inputs'}", flush=True)
    make_sample_inputs(work / "inputs")

    print("[demo] 2/4 curate on a local Ray (in-process)", flush=True)
    from lipforge.pipeline.cli import curate

    corpus = work / "corpus"
    summary = curate(work / "inputs", corpus, runner=args.runner, num_cpus=min(os.cpu_count() or 2, 4))
    c = summary["clips"]
    print(f"[demo] curated: {c['kept']}/{c['rows']} clips kept; dropped: {c['dropped'] or {}}", flush=True)
    outputs = {"shards": corpus / "shards", "manifests": corpus / "manifests", "report": corpus / "report.html"}
    if not args.skip_train:
        from lipforge.demo_train import train_and_infer

        outputs.update(train_and_infer(work, corpus))
    print(f"[demo] done in {time.time() - t0:.0f} s")
    for k, v in outputs.items():
        print(f"  {k:10s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
