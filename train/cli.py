"""``lipforge train --config train.yaml [--resume]`` and ``lipforge train --config train.yaml --export DIR``.

The caller (lipforge/cli.py) applies the offline environment first. Under torchrun the same command runs one process per rank (RANK / WORLD_SIZE from torchrun).
"""
from __future__ import annotations

import argparse
import logging


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lipforge train", description=__doc__)
    p.add_argument("--config", required=True, help="train.yaml (a saved TrainConfig)")
    p.add_argument("--resume", action="store_true", help="continue from the latest committed checkpoint")
    p.add_argument("--export", metavar="DIR", help="write the latest checkpoint's EMA model in save_pretrained form")
    p.add_argument("--checkpoint", help="with --export: this checkpoint directory instead of the latest")
    p.add_argument("--no-ema", action="store_true", help="with --export: the raw weights instead of the EMA")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from lipforge.train.config import TrainConfig

    cfg = TrainConfig.from_yaml(args.config)
    if args.export:
        from lipforge.train.export import export

        print(export(cfg, args.export, args.checkpoint, use_ema=not args.no_ema))
        return 0
    from lipforge.train.loop import train

    hist = train(cfg, resume=args.resume)
    if hist:
        print(f"step {hist[-1]['step']} loss {hist[-1]['loss']:.4f}")
    return 0
