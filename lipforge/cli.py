"""The ``lipforge`` command: curate, train, infer, eval and the embedded demo.

The offline environment (no Ray usage stats, no hub look-ups) is applied before anything heavy
is imported.
"""
from __future__ import annotations

import argparse
import sys

from lipforge.env import apply_offline_env


def _curate(args: argparse.Namespace) -> int:
    from pipeline.config import RunConfig
    from pipeline.curate import list_inputs
    from pipeline.finalize import finalize

    try:  # configuration problems (bad values, missing model files) end here with their message
        cfg = RunConfig.load(args.config)
        if args.models_dir:
            import dataclasses

            cfg = dataclasses.replace(cfg, models_dir=args.models_dir)
        sources = list_inputs(args.input)
        if args.runner == "local":
            from pipeline.runners.local import LocalRunner

            runner = LocalRunner(cfg)
        else:
            from pipeline.runners.ray_runner import RayRunner

            runner = RayRunner(cfg, address=args.address, num_cpus=args.num_cpus)
    except (FileNotFoundError, ValueError) as e:
        print(f"lipforge curate: {e}", file=sys.stderr)
        return 2
    runner.run(sources, args.output)
    summary = finalize(sources, args.output, cfg)
    c = summary["clips"]
    print(f"curated {summary['sources']['in']} sources: {c['kept']}/{c['rows']} clips kept "
          f"({c['hours_kept'] * 3600:.1f} s); dropped: {c['dropped'] or {}}")
    print(f"shards:    {args.output}/shards/")
    print(f"manifests: {args.output}/manifests/ (sources, clips, shards .parquet)")
    print(f"report:    {args.output}/report.html and {args.output}/summary.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lipforge", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("curate", help="raw talking videos -> WebDataset shards + Parquet manifests")
    c.add_argument("--input", required=True, help="directory of videos, or a .txt/.csv/.parquet list of paths")
    c.add_argument("--output", required=True)
    c.add_argument("--config", help="run config YAML (pipeline.config.RunConfig)")
    c.add_argument("--address", default=None,
                   help="Ray cluster to join: 'auto' or 'ray://host:10001'; default: start a local Ray in-process")
    c.add_argument("--runner", choices=("ray", "local"), default="ray",
                   help="'local' runs the same stages in this process without Ray")
    c.add_argument("--num-cpus", type=int, default=None, help="CPUs of the in-process local Ray")
    c.add_argument("--models-dir", default=None, help="directory where relative model paths are looked up")
    c.set_defaults(func=_curate)
    for name, help_ in (("train", "train the lip-sync model"),
                        ("train-cache", "add VAE-latent / Whisper caches to shards"), ("infer", "lip-sync videos to new audio"),
                        ("eval", "evaluation metrics"), ("demo", "the embedded end-to-end demo")):
        s = sub.add_parser(name, help=help_, add_help=False)
        s.add_argument("rest", nargs=argparse.REMAINDER)
        s.set_defaults(func=None, sub=name)
    return p


def main(argv: list[str] | None = None) -> int:
    apply_offline_env()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Subcommands with their own parsers get their arguments untouched.
    if argv and argv[0] in ("demo", "train", "train-cache", "infer", "eval"):
        cmd, rest = argv[0], argv[1:]
        if cmd == "train-cache":
            from train.cache import main as cache_main

            return cache_main(rest)
        if cmd == "demo":
            from lipforge.demo import main as demo_main

            return demo_main(rest)
        if cmd == "train":
            from train.cli import main as train_main

            return train_main(rest)
        if cmd == "infer":
            from infer.cli import main_infer

            return main_infer(rest)
        from infer.cli import main_eval

        return main_eval(rest)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
