"""Per-source-video cache of the VAE latents of the masked face crops.

A batch often lip-syncs one source video to many audios, and the length rules loop a short video
forward and backward, so the same masked crop is VAE-encoded again and again. The latent of an
output frame depends only on (source video bytes, crop/mask geometry, crop size, the VAE and its
dtype) and on the frame's source position, so it is cached under
``<cache_dir>/latents/<video sha256>-<crop size>-<vae id>/block-<k>.npz``, one file per
``BLOCK`` source frames (a 10 s job over a 5 min source loads only the blocks it uses).

Each entry is keyed by the source position in thousandths of a frame (integer positions are the
source frame indices; the blended frames at the loop joins have fractional ones) and carries a
digest of the encoder's input pixels, so an entry whose crop or mask has changed (other face
parameters, another mask rule) is a miss, never a wrong latent. Files are written under a
temporary name and renamed, merged with what another worker wrote meanwhile; a file that cannot
be read or has the wrong shape is ignored and rewritten.

>>> lat, n_new = encode_with_cache(keys, digests, encode, LatentCache(root, sha, 64, vae_id, (4, 8, 8)))  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

POS_SCALE = 1000  # cache keys are source positions in 1/1000 frame
BLOCK = 64  # source frames per cache file

Id = tuple[int, int]  # (position key, input digest)


def frame_keys(positions: np.ndarray) -> np.ndarray:
    """(T,) fractional source positions -> (T,) int64 keys (source index * 1000 for whole frames)."""
    return np.rint(np.asarray(positions, np.float64) * POS_SCALE).astype(np.int64)


def frame_digests(crops: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(T, S, S, 3) uint8 crops + (T, S, S) masks -> (T,) uint64 digests of the encoder's input."""
    out = np.empty(len(crops), np.uint64)
    for t in range(len(crops)):
        h = hashlib.blake2b(digest_size=8)
        h.update(np.ascontiguousarray(crops[t], np.uint8))
        h.update(np.ascontiguousarray(masks[t], np.float32))
        out[t] = np.frombuffer(h.digest(), np.uint64)[0]
    return out


def vae_fingerprint(vae) -> str:
    """sha256 of the VAE's config (without private ``_`` keys) and every weight's bytes.

    Hashes the weights themselves rather than a file's mtime, so an in-memory model (tests, the
    trainer's validation samples) has an identity too; about a second for the SVD VAE, once per
    pipeline.
    """
    import torch

    h = hashlib.sha256()
    cfg = {k: v for k, v in dict(getattr(vae, "config", {})).items() if not str(k).startswith("_")}
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, t in sorted(vae.state_dict().items()):
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.detach().reshape(-1).cpu().contiguous().view(torch.uint8).numpy())
    return h.hexdigest()


class LatentCache:
    """The latents of one (source video, crop size, VAE) triple, stored in blocks of source frames."""

    def __init__(self, root: str | Path, source_hash: str, crop_size: int, vae_id: str,
                 latent_shape: tuple[int, ...]) -> None:
        if not source_hash:
            raise ValueError("LatentCache needs the source video's sha256, got an empty source_hash")
        self.dir = Path(root) / "latents" / f"{source_hash}-{int(crop_size)}-{vae_id[:16]}"
        self.latent_shape = tuple(int(s) for s in latent_shape)  # (C, h, w)
        self.ignored_files = 0  # unreadable or foreign files seen (then rebuilt)

    def _path(self, block: int) -> Path:
        return self.dir / f"block-{block:06d}.npz"

    @staticmethod
    def _block(key: int) -> int:
        return key // (POS_SCALE * BLOCK)

    def _load(self, block: int) -> dict[Id, np.ndarray]:
        path = self._path(block)
        if not path.is_file():
            return {}
        try:
            with np.load(path, allow_pickle=False) as d:
                keys, digs, lat = d["keys"], d["digests"], d["latents"]
            ok = (keys.ndim == 1 and digs.shape == keys.shape and lat.dtype == np.float32
                  and lat.shape == (len(keys), *self.latent_shape) and bool(np.isfinite(lat).all()))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            ok = False
        if not ok:
            self.ignored_files += 1
            return {}
        return {(int(k), int(g)): lat[i] for i, (k, g) in enumerate(zip(keys.tolist(), digs.tolist()))}

    def get(self, ids: Iterable[Id]) -> dict[Id, np.ndarray]:
        """The cached latents (C, h, w) among ``ids``; absent ones are simply missing."""
        by_block: dict[int, list[Id]] = {}
        for i in ids:
            by_block.setdefault(self._block(i[0]), []).append(i)
        found: dict[Id, np.ndarray] = {}
        for b, want in by_block.items():
            have = self._load(b)
            found.update({i: have[i] for i in want if i in have})
        return found

    def put(self, new: dict[Id, np.ndarray]) -> None:
        """Add entries; a position's older entry with another digest is replaced."""
        by_block: dict[int, dict[Id, np.ndarray]] = {}
        for i, v in new.items():
            by_block.setdefault(self._block(i[0]), {})[i] = v
        self.dir.mkdir(parents=True, exist_ok=True)
        for b, entries in by_block.items():
            merged = {i: v for i, v in self._load(b).items() if i[0] not in {k for k, _ in entries}}
            merged.update(entries)
            items = sorted(merged.items())
            path = self._path(b)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
            try:
                np.savez(tmp, keys=np.array([k for (k, _), _ in items], np.int64),
                         digests=np.array([g for (_, g), _ in items], np.uint64),
                         latents=np.stack([np.asarray(v, np.float32) for _, v in items]))
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)


def encode_with_cache(keys: np.ndarray, digests: np.ndarray, encode: Callable[[np.ndarray], np.ndarray],
                      cache: LatentCache | None = None) -> tuple[np.ndarray, int]:
    """Per-frame latents (T, C, h, w) float32, encoding each distinct input once.

    ``encode(frame_indices)`` returns the latents (n, C, h, w) of those output frames. Frames with
    the same (position, digest) share one encoding within the job (the loop's backward pass
    reuses the forward frames) and, with a ``cache``, across jobs. Returns (latents, frames encoded).
    """
    ids: list[Id] = list(zip(np.asarray(keys).tolist(), np.asarray(digests).tolist()))
    first: dict[Id, int] = {}
    for t, i in enumerate(ids):
        first.setdefault(i, t)
    found = cache.get(first) if cache is not None else {}
    missing = [i for i in first if i not in found]
    if missing:
        lat = np.asarray(encode(np.array([first[i] for i in missing], np.int64)), np.float32)  # (n, C, h, w)
        new = dict(zip(missing, lat))
        found.update(new)
        if cache is not None:
            cache.put(new)
    return np.stack([found[i] for i in ids]), len(missing)
