"""Atomic, complete checkpoints: written to a temporary directory, committed by a marker, renamed.

A checkpoint directory ``step_00001234/`` holds ``state.pt`` (trainable weights, optimizer, EMA,
grad scaler, step, RNG states, every rank's data position, world size) and ``config.yaml``;
``COMMITTED`` is written last, so a directory without it (a crash mid-write) is ignored and
deleted. The newest ``keep_last`` committed checkpoints are kept.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

MARKER = "COMMITTED"


def rng_states() -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    # plain types and tensors only, so torch.load(weights_only=True) reads them back
    st = {"python": random.getstate(), "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                                                 int(has_gauss), float(gauss)], "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # this rank's own device only (set by torch.cuda.set_device): get_rng_state_all() would create
        # a context on every visible GPU in every rank, and restore them all on resume
        st["cuda"] = torch.cuda.get_rng_state()
    return st


def set_rng_states(st: dict[str, Any]) -> None:
    random.setstate(_tuplify(st["python"]))
    name, keys, pos, has_gauss, gauss = st["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        if isinstance(st["cuda"], (list, tuple)):  # older checkpoints: every visible device
            torch.cuda.set_rng_state_all(st["cuda"])
        else:
            torch.cuda.set_rng_state(st["cuda"])


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x


class CheckpointManager:
    def __init__(self, root: str | Path, keep_last: int = 2) -> None:
        self.root = Path(root)
        self.keep_last = keep_last

    def committed(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("step_*") if (p / MARKER).is_file())

    def latest(self) -> Path | None:
        c = self.committed()
        return c[-1] if c else None

    def save(self, step: int, state: dict[str, Any], config_yaml: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"step_{step:08d}"
        tmp = self.root / f".tmp-step_{step:08d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        torch.save(state, tmp / "state.pt")
        (tmp / "config.yaml").write_text(config_yaml)
        (tmp / MARKER).write_text(f"{step}\n")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in self.committed()[:-self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        for junk in self.root.glob(".tmp-step_*"):
            shutil.rmtree(junk, ignore_errors=True)
        return final

    @staticmethod
    def load(path: str | Path, mmap: bool = True) -> dict[str, Any]:
        """The state, mapped from ``state.pt`` (copy-on-write: never write that file in place while
        the state lives; :meth:`save` writes a new directory and renames). ``mmap=False`` reads it."""
        p = Path(path)
        if not (p / MARKER).is_file():
            raise FileNotFoundError(f"checkpoint {p} has no {MARKER} marker (incomplete write)")
        # mapped, not read: host RAM does not grow with the ranks that load it (each tensor's pages
        # are read when it is copied to its device)
        return torch.load(p / "state.pt", map_location="cpu", weights_only=True, mmap=mmap)
