"""One writer per output directory: a second ``lipforge curate`` fails at once, naming the first.

The lock is an ``flock`` on ``<output>/.curate.lock``, held for the whole run by the driver
process. The kernel releases it when that process ends, however it ends (SIGKILL, OOM, power
loss), so a crashed run never leaves it stuck. The file also records who holds it (pid, host,
start time, command line) for the message; on a filesystem where ``flock`` is not enforced
(some NFS mounts) a holder on the same host that is still alive is refused by that record.

>>> with OutputLock("corpus/"):          # doctest: +SKIP
...     run_and_publish()
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

LOCK_NAME = ".curate.lock"


class OutputLocked(RuntimeError):
    """Another run holds the output (a user error: one line, exit code 2)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputLock:
    def __init__(self, output: str | Path) -> None:
        self.output = Path(output)
        self.path = self.output / LOCK_NAME
        self._fd: int | None = None

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def _message(self, h: dict) -> str:
        who = f"pid {h.get('pid', '?')} on {h.get('host', '?')}"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h["started"])) if "started" in h else "?"
        return (f"{self.output} is being written by another lipforge curate ({who}, started {since}: "
                f"{h.get('command', '?')}); wait for it to finish or stop it, then run again")

    def acquire(self) -> OutputLock:
        self.output.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLocked(self._message(self.holder())) from None
        h = self.holder()
        if (h.get("host") == socket.gethostname() and isinstance(h.get("pid"), int) and h["pid"] != os.getpid()
                and _alive(h["pid"]) and h.get("token") == _proc_token(h["pid"])):
            os.close(fd)  # flock granted although the holder lives: flock is not enforced here
            raise OutputLocked(self._message(h))
        body = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                "command": " ".join(sys.argv), "token": _proc_token(os.getpid())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(body).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # a later reader sees no holder
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _proc_token(pid: int) -> str | None:
    """The process start time (field 22 of /proc/pid/stat): tells a live holder from a new
    process that reuses a dead holder's pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
