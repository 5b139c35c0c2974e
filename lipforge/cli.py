"""The ``lipforge`` command: a dispatcher over each part's own CLI module.

``lipforge [--debug] [--version] <command> ...``: the offline environment (no Ray usage stats, no
hub look-ups) is applied before anything heavy is imported; a user error from any command
(missing file, bad config key or value) is one line on stderr with exit code 2, and ``--debug``
shows its traceback instead.
"""
from __future__ import annotations

import importlib
import sys

from lipforge.env import apply_offline_env
from lipforge.errors import USER_ERRORS

# command -> ("module:function taking argv", help)
COMMANDS: dict[str, tuple[str, str]] = {
    "curate": ("lipforge.pipeline.cli:main", "raw talking videos -> WebDataset shards + Parquet manifests"),
    "sources": ("lipforge.pipeline.cli:sources_main", "a dataset's annotation files -> a curate input list of ranges"),
    "refilter": ("lipforge.pipeline.run.refilter:main", "a corpus view with tighter thresholds, from the stored scores"),
    "train-sync": ("lipforge.pipeline.av.sync_train:main", "train a sync expert on a curated corpus (sync.backend: expert)"),
    "rescore-sync": ("lipforge.pipeline.run.sync_rescore:main", "re-measure sync on a corpus's samples (sync only) into a view"),
    "train": ("lipforge.train.cli:main", "train the lip-sync model (also under torchrun)"),
    "train-cache": ("lipforge.train.cache:main", "add VAE-latent / Whisper caches to shards"),
    "infer": ("lipforge.infer.cli:main_infer", "lip-sync videos to new audio"),
    "eval": ("lipforge.infer.cli:main_eval", "evaluation metrics"),
    "demo": ("lipforge.demo:main", "the embedded end-to-end demo"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:{width}s}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return ("usage: lipforge [--debug] [--version] <command> [args]\n\ncommands:\n" + "\n".join(lines)
            + "\n\n'lipforge <command> --help' for a command's options.")


def main(argv: list[str] | None = None) -> int:
    apply_offline_env()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from lipforge import __version__

        print(f"lipforge {__version__}")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"lipforge: unknown command {cmd!r}\n{_usage()}", file=sys.stderr)
        return 2
    module, _, func = COMMANDS[cmd][0].partition(":")
    try:
        return int(getattr(importlib.import_module(module), func)(rest) or 0)
    except USER_ERRORS as e:
        if debug:
            raise
        print(f"lipforge {cmd}: {' '.join(str(e).split()) or type(e).__name__}", file=sys.stderr)  # one line
        return 2
    except KeyboardInterrupt:
        print(f"lipforge {cmd}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
