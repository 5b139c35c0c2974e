"""Scratch files of a job: named after the job, removed when it ends, is killed, or is run again.

A job writes its crops, generated crops and (for a looped source) spooled frames into one scratch
folder, and its output under a partial name, both derived from the output path (never from a
process id or a random suffix). So:

* a normal end or an exception removes them (``finally``);
* SIGTERM (a scheduler's stop, ``kill``) is turned into ``SystemExit`` while a job runs, so the
  same ``finally`` blocks run; without it Python dies at once and leaves them;
* SIGKILL or a power cut cannot be caught: the next run over the same output finds the folder
  and the partial file under their known names and removes them before it starts.

>>> with job_scratch("out/talk.mp4") as d:   # doctest: +SKIP
...     (d / "crops.u8").write_bytes(b"")
"""
from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from pathlib import Path
from typing import Iterator


def partial_path(output: str | Path) -> Path:
    """Where ``output`` is written before it is complete (renamed to ``output`` at the end)."""
    p = Path(output)
    return p.with_name(f".{p.stem}.lipforge-partial{p.suffix or '.mp4'}")


def scratch_path(output: str | Path) -> Path:
    """The scratch folder of the job that writes ``output``: beside it, named after it."""
    p = Path(output)
    return p.with_name(f".{p.name}.lipforge-scratch")


@contextlib.contextmanager
def sigterm_exits() -> Iterator[None]:
    """While inside, SIGTERM raises ``SystemExit(143)`` in the main thread (so ``finally`` blocks
    and context managers clean up); the previous handler comes back on exit. Elsewhere than the
    main thread (a Ray worker's thread) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum, frame):  # noqa: ARG001 - signal handler signature
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def job_scratch(output: str | Path, folder: str | Path | None = None) -> Iterator[Path]:
    """A fresh scratch folder for the job writing ``output`` (``folder``: use that path instead of
    the one beside the output), emptied of an earlier killed run's files first, removed at the end
    or on SIGTERM, together with the output's partial file."""
    d = Path(folder) if folder is not None else scratch_path(output)
    shutil.rmtree(d, ignore_errors=True)  # a killed run's leftovers
    partial_path(output).unlink(missing_ok=True)
    d.mkdir(parents=True, exist_ok=True)
    try:
        with sigterm_exits():
            yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
        partial_path(output).unlink(missing_ok=True)
