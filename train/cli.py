"""``lipforge train --config train.yaml [--set field=value ...] [--resume [if-any|CHECKPOINT_DIR]] [--overwrite]
[--allow-config-change] [--report_to tensorboard|wandb|none]``,
``lipforge train --config train.yaml --export DIR`` and ``lipforge train --config X --dry-run``.

The caller (lipforge/cli.py) applies the offline environment first. Under torchrun the same command
runs one process per rank (RANK / WORLD_SIZE from torchrun); with ``--address local|auto|ray://HOST:10001
--num-workers N [--gpus-per-worker 1]`` Ray places the ranks (lipforge.train.ray_launch). A user error
(bad config value, missing file, used output directory, missing checkpoint, changed config on
resume, too many unreadable samples) is one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import logging
import tarfile

from lipforge.errors import UserError
from lipforge.train import ray_launch


def _more_user_errors() -> tuple[type[BaseException], ...]:
    """User mistakes that arrive as types lipforge.cli does not treat as user errors by itself."""
    import yaml

    return (ImportError, tarfile.TarError, yaml.YAMLError)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lipforge train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="train.yaml (a saved TrainConfig)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (dotted path, YAML value), validated like the file: "
                        "--set optim.lr=3e-5 --set data.batch_size=2 --set optim.ema=off (repeatable)")
    p.add_argument("--resume", nargs="?", const="yes", default=None, metavar="if-any|CHECKPOINT_DIR",
                   help="continue from the latest committed checkpoint (none: an error); "
                        "'--resume if-any' starts fresh when there is none; '--resume DIR' continues that checkpoint")
    p.add_argument("--report_to", "--report-to", default="tensorboard", choices=("tensorboard", "wandb", "none"),
                   help="where rank 0 sends scalars and samples: tensorboard (output_dir/tb), wandb (offline "
                        "mode, output_dir/wandb; upload later with wandb sync) or none (the log only)")
    p.add_argument("--overwrite", action="store_true",
                   help="a fresh run in a used output_dir: delete its checkpoints/, tb/, samples/, config.yaml first")
    p.add_argument("--allow-config-change", action="store_true",
                   help="with --resume: continue although the config differs from the checkpoint's (new values apply)")
    p.add_argument("--dry-run", action="store_true",
                   help="build the model on the meta device, print parameter counts and a memory estimate, exit")
    p.add_argument("--export", metavar="DIR", help="write the latest checkpoint's EMA model in save_pretrained form")
    p.add_argument("--checkpoint", help="with --export: this checkpoint directory instead of the latest")
    p.add_argument("--no-ema", action="store_true", help="with --export: the raw weights instead of the EMA")
    ray_launch.add_arguments(p)
    args = p.parse_args(argv)
    ray_launch.check_arguments(p, args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.overwrite and args.resume == "yes":
        p.error("--overwrite starts a new run; it cannot be combined with --resume (only with --resume if-any)")
    try:
        return _run(args)
    except _more_user_errors() as e:  # lipforge.cli prints a UserError as one line, exit code 2
        raise UserError(" ".join(str(e).split()) or type(e).__name__) from e


def _run(args: argparse.Namespace) -> int:
    from lipforge.train.config import TrainConfig

    cfg = TrainConfig.from_yaml(args.config, overrides=args.overrides)
    if args.dry_run:
        from lipforge.train.dry_run import dry_run

        print(dry_run(cfg))
        return 0
    if args.export:
        from lipforge.train.export import export

        print(export(cfg, args.export, args.checkpoint, use_ema=not args.no_ema))
        return 0
    resume = {"yes": True, "if-any": "if-any", None: False}.get(args.resume, args.resume)  # or a checkpoint dir
    if args.address:
        return ray_launch.run_from_cli(cfg, args, resume)
    from lipforge.train.loop import train

    hist = train(cfg, resume=resume, overwrite=args.overwrite, allow_config_change=args.allow_config_change,
                 report_to=args.report_to)
    if hist:
        print(f"step {hist[-1]['step']} loss {hist[-1]['loss']:.4f}")
    return 0
