"""``lipforge train-sync``: train a sync expert (:mod:`lipforge.pipeline.av.sync_expert`) on a corpus.

A curation-side tool: it reads a curated corpus's kept clips (``--where``: the same DuckDB
condition as ``lipforge refilter``) from their shards, the face crop video and its aligned audio,
splits them by source (the speaker proxy: no source is in both train and validation), and trains
in-sync against shifted (|shift| in [``min_shift``, ``vshift``] frames) and other-source pairs
with binary cross-entropy (Wav2Lip's expert) plus a contrastive term over the batch's in-sync
pairs (as StableSyncNet / CLIP-style training), see :func:`pair_loss`. On CPU or GPU
(``--device``). ``OUT/checkpoint.pt`` (model, optimizer, step, RNG states, config, split; the
previous one kept as ``checkpoint.prev.pt``) lets ``--resume`` continue exactly; ``OUT/expert.pt``
is what ``sync.backend: expert`` loads (``sync.expert_weights``), with the validation accuracy /
AUC of held-out sources and the confidence threshold calibrated on them; ``OUT/train_sync.json``
logs the run. ``--init FILE`` starts from another expert's weights (same arch), e.g. one trained
on synthetic heads (``benchmarks/sync_expert_learn.py synthetic --save``).

    lipforge train-sync --corpus corpus/ --where "speech_ratio >= 0.8" --output sync_expert/ --steps 3000
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from lipforge.pipeline.av.sync_expert import (WINDOW, ExpertArch, SyncExpert, audio_features, audio_windows,
                                             expert_sync, load_expert, lower_half, save_expert,
                                             video_windows)


@dataclass(frozen=True)
class TrainSyncConfig:
    corpus: str
    where: str | None = None
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    val_frac: float = 0.2  # share of sources held out for validation (at least one)
    min_shift: int = 3  # a shifted negative is at least this many frames off
    vshift: int = 15
    seed: int = 0
    max_clips: int | None = None  # read at most this many clips (id order), for quick tries
    val_sources: tuple[str, ...] = ()  # these sources validate (default: a seeded val_frac of them)
    init: str | None = None  # start from this expert file's weights (same arch), e.g. one trained on synthetic heads
    arch: ExpertArch = field(default_factory=ExpertArch)

    def __post_init__(self) -> None:
        for f, lo in (("steps", 1), ("batch_size", 2), ("min_shift", 1), ("vshift", 2)):
            if getattr(self, f) < lo:
                raise ValueError(f"train-sync: {f} must be >= {lo}, got {getattr(self, f)}")
        if not 0 < self.val_frac < 1:
            raise ValueError(f"train-sync: val_frac must be in (0, 1), got {self.val_frac}")
        if self.min_shift > self.vshift:
            raise ValueError(f"train-sync: min_shift {self.min_shift} > vshift {self.vshift}")

    def identity(self) -> dict:
        """What must not change on --resume (everything but the step count)."""
        d = asdict(self)
        d.pop("steps")
        return d


@dataclass
class Clip:
    clip_id: str
    source_id: str
    lower: np.ndarray  # (T, size/2, size, 3) uint8
    mel: np.ndarray  # (4T, nfilt) float32
    audio: np.ndarray  # (N,) float32 16 kHz, for the validation offset checks


def load_clips(cfg: TrainSyncConfig) -> list[Clip]:
    """The kept clips of the corpus that ``where`` selects, decoded and prepared, in id order."""
    import pyarrow.parquet as pq

    from lipforge.manifests.corpus import manifest_path, manifests_dir, shard_path
    from lipforge.manifests.layout import decode_sample
    from lipforge.manifests.container import read_sample_at
    from lipforge.pipeline.media import decode_video, decode_wav

    corpus = Path(cfg.corpus)
    if not manifest_path(corpus, "clips").is_file():
        raise FileNotFoundError(f"--corpus {corpus}: {manifest_path(corpus, 'clips')} not found; "
                                "is it the --output of a finished lipforge curate?")
    gen = manifests_dir(corpus)
    if cfg.where:
        from lipforge.manifests.query import kept_ids_where

        ids = kept_ids_where(gen / "clips.parquet", cfg.where)
    else:
        t = pq.read_table(gen / "clips.parquet", columns=["clip_id", "status"]).to_pylist()
        ids = sorted(r["clip_id"] for r in t if r["status"] == "kept")
    ids = ids[: cfg.max_clips] if cfg.max_clips else ids
    where = {r["key"]: r for r in pq.read_table(gen / "shards.parquet").to_pylist()}
    out = []
    for cid in ids:
        r = where[cid]
        s = decode_sample(read_sample_at(shard_path(corpus, r["shard"]), r["offset"], r["size"]))
        frames = decode_video(s["mp4"])
        audio, sr = decode_wav(s["wav"])
        if sr != 16000 or len(frames) < WINDOW + cfg.vshift + 1:
            continue  # too short to give a shifted negative
        out.append(Clip(cid, s["json"].get("source_id", cid.split("-")[0]), lower_half(frames, cfg.arch.size),
                        audio_features(audio, len(frames), sr, cfg.arch.nfilt), audio))
    return out


def split_sources(clips: list[Clip], val_frac: float, seed: int,
                  val_sources: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Sources ordered by a seeded hash; the first ``val_frac`` of them (at least one) validate,
    or exactly ``val_sources`` when given."""
    srcs = sorted({c.source_id for c in clips}, key=lambda s: zlib.crc32(f"{seed}:{s}".encode()))
    if len(srcs) < 2:
        raise ValueError(f"train-sync: {len(srcs)} source(s) selected; a split by source needs at least 2")
    if val_sources:
        val = sorted(set(val_sources) & set(srcs))
        if not val or len(val) == len(srcs):
            raise ValueError(f"train-sync: val_sources {list(val_sources)} must name some, not all, of the "
                             f"{len(srcs)} selected sources")
        return sorted(set(srcs) - set(val)), val
    k = max(1, int(round(val_frac * len(srcs))))
    return sorted(srcs[k:]), sorted(srcs[:k])


def sample_batch(clips: list[Clip], rng: np.random.Generator, n: int, min_shift: int, vshift: int,
                 norm: str = "none"):
    """n pairs: half in sync, a quarter shifted, a quarter another source's audio (shifted when
    only one source is there). -> (video (n, 15, h, w), audio (n, 1, nfilt, 20), labels (n,))."""
    v, a, y = [], [], []
    for k in range(n):
        c = clips[int(rng.integers(len(clips)))]
        t = len(c.lower) - WINDOW + 1
        i = int(rng.integers(t))
        kind = 0 if k % 2 == 0 else (1 if k % 4 == 1 else 2)
        others = [o for o in clips if o.source_id != c.source_id]
        if kind == 2 and not others:
            kind = 1
        src, j = c, i
        if kind == 1:
            cand = [d for d in range(-vshift, vshift + 1) if abs(d) >= min_shift and 0 <= i + d < t]
            j = i + int(cand[int(rng.integers(len(cand)))])
        elif kind == 2:
            src = others[int(rng.integers(len(others)))]
            j = int(rng.integers(len(src.lower) - WINDOW + 1))
        v.append(video_windows(c.lower, np.array([i]), norm)[0])
        a.append(audio_windows(src.mel, np.array([j]), norm)[0])
        y.append(1.0 if kind == 0 else 0.0)
    return torch.stack(v), torch.stack(a), torch.tensor(y)


def pair_loss(net: SyncExpert, v: torch.Tensor, a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on every pair plus a contrastive (InfoNCE, both directions) term over
    the in-sync pairs of the batch, each one's audio against the others' (a BCE-only expert sits
    at log 2 for a long time before it moves; the contrastive term gives a gradient from the
    start)."""
    ev, ea = net.embed_video(v), net.embed_audio(a)  # (B, D) each
    logits = net.logit_scale * (ev * ea).sum(dim=1) + net.logit_bias
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
    pos = y > 0.5
    if int(pos.sum()) >= 2:
        sim = net.logit_scale * ev[pos] @ ea[pos].T  # (P, P), diagonal in sync
        target = torch.arange(sim.shape[0], device=sim.device)
        loss = loss + 0.5 * (torch.nn.functional.cross_entropy(sim, target)
                             + torch.nn.functional.cross_entropy(sim.T, target))
    return loss


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels > 0.5][:, None], scores[labels < 0.5][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg))) if pos.size and neg.size else float("nan")


@torch.no_grad()
def validate(net: SyncExpert, clips: list[Clip], cfg: TrainSyncConfig, device: str, n: int = 512) -> dict:
    """Pair accuracy (logit > 0) and AUC on held-out sources, and the clip-level confidence
    threshold (own audio vs another source's) with the best balanced accuracy."""
    net.eval()
    rng = np.random.default_rng(12345)  # the same pairs at every validation
    v, a, y = sample_batch(clips, rng, n, cfg.min_shift, cfg.vshift, cfg.arch.norm)
    logits = torch.cat([net(v[s:s + 128].to(device), a[s:s + 128].to(device)).cpu() for s in range(0, n, 128)]).numpy()
    yy = y.numpy()
    own, other, offs = [], [], []
    for k, c in enumerate(clips):
        o = clips[(k + 1) % len(clips)]
        own_r = expert_sync(net, _frames_of(c), c.audio, 16000, cfg.vshift, device)
        own.append(own_r.conf)
        offs.append(own_r.offset)
        if o.source_id != c.source_id:
            other.append(expert_sync(net, _frames_of(c), np.resize(o.audio, len(c.audio)), 16000, cfg.vshift, device).conf)
    net.train()
    thr, bal = _best_threshold(np.array(own), np.array(other))
    return {"val_acc": float(np.mean((logits > 0) == (yy > 0.5))), "val_auc": roc_auc(logits, yy),
            "threshold": thr, "val_clip_balanced_acc": bal,
            "val_offset_within_1": float(np.mean(np.abs(np.array(offs)) <= 1)) if offs else float("nan")}


def _frames_of(c: Clip) -> np.ndarray:
    """The prepared lower half put back at the top of a square (expert_sync re-cuts the lower half)."""
    t, h, w, _ = c.lower.shape
    out = np.zeros((t, 2 * h, w, 3), np.uint8)
    out[:, h:] = c.lower
    return out


def _best_threshold(own: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    own, other = own[np.isfinite(own)], other[np.isfinite(other)]
    if not len(own) or not len(other):
        return 0.0, float("nan")
    cands = np.unique(np.concatenate([own, other]))
    bal = [(np.mean(own >= c) + np.mean(other < c)) / 2 for c in cands]
    j = int(np.argmax(bal))
    return float(cands[j]), float(bal[j])


# ---- checkpoint -------------------------------------------------------------------------------
def _save_ckpt(out: Path, state: dict) -> None:
    p, prev, tmp = out / "checkpoint.pt", out / "checkpoint.prev.pt", out / "checkpoint.pt.tmp"
    torch.save(state, tmp)
    if p.exists():
        os.replace(p, prev)
    os.replace(tmp, p)


def _load_ckpt(out: Path) -> dict:
    return torch.load(str(out / "checkpoint.pt"), map_location="cpu", weights_only=True)


def train_sync(cfg: TrainSyncConfig, output: str | Path, device: str = "cpu", resume: bool = False,
               log_every: int = 50, ckpt_every: int = 200, clips: list[Clip] | None = None) -> dict:
    """Train (or continue) and write OUT/expert.pt; returns the final validation figures."""
    out = Path(output)
    ck = out / "checkpoint.pt"
    if resume and not ck.is_file():
        raise FileNotFoundError(f"--resume: {ck} not found")
    if not resume and out.exists() and any(out.iterdir()):
        raise FileExistsError(f"--output {out}: exists and is not empty; give a new directory or --resume")
    out.mkdir(parents=True, exist_ok=True)
    clips = load_clips(cfg) if clips is None else clips
    train_src, val_src = split_sources(clips, cfg.val_frac, cfg.seed, cfg.val_sources)
    tr = [c for c in clips if c.source_id in train_src]
    va = [c for c in clips if c.source_id in val_src]
    torch.manual_seed(cfg.seed)
    net = SyncExpert(cfg.arch).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    step, log = 0, []
    if cfg.init and not resume:
        start = load_expert(cfg.init)
        if start.arch != cfg.arch:
            raise ValueError(f"--init {cfg.init}: its arch {start.arch} differs from this run's {cfg.arch}")
        net.load_state_dict(start.state_dict())
    if resume:
        st = _load_ckpt(out)
        if st["config"] != json.loads(json.dumps(cfg.identity())):
            raise ValueError(f"--resume: the config differs from {ck}'s ({st['config']} vs {cfg.identity()}); "
                             "only --steps may change")
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        rng.bit_generator.state = json.loads(st["numpy_rng"])
        torch.set_rng_state(st["torch_rng"])
        step, log = int(st["step"]), json.loads(st["log"])
    net.train()
    t0 = time.time()
    while step < cfg.steps:
        v, a, y = sample_batch(tr, rng, cfg.batch_size, cfg.min_shift, cfg.vshift, cfg.arch.norm)
        loss = pair_loss(net, v.to(device), a.to(device), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        log.append({"step": step, "loss": float(loss.detach())})
        if step % log_every == 0 or step == cfg.steps:
            print(f"train-sync: step {step}/{cfg.steps} loss {np.mean([r['loss'] for r in log[-log_every:]]):.4f} "
                  f"({time.time() - t0:.0f} s)", flush=True)
        if step % ckpt_every == 0 or step == cfg.steps:
            _save_ckpt(out, {"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                             "numpy_rng": json.dumps(rng.bit_generator.state), "torch_rng": torch.get_rng_state(),
                             "config": json.loads(json.dumps(cfg.identity())), "log": json.dumps(log)})
    val = validate(net, va, cfg, device)
    meta = {"corpus": str(Path(cfg.corpus).resolve()), "where": cfg.where, "steps": step, "init": cfg.init, **val,
            "train_sources": len(train_src), "val_sources": val_src, "train_clips": len(tr), "val_clips": len(va),
            "clip_ids_sha256": hashlib.sha256("\n".join(c.clip_id for c in clips).encode()).hexdigest()[:16]}
    save_expert(net, out / "expert.pt", meta)
    (out / "train_sync.json").write_text(json.dumps({"config": asdict(cfg), "device": device, "result": meta,
                                                     "loss": [r["loss"] for r in log]}, indent=1, default=str))
    print(f"train-sync: {out / 'expert.pt'}: held-out sources {val_src}: pair accuracy {val['val_acc']:.3f}, "
          f"AUC {val['val_auc']:.3f}; clip threshold sync_conf >= {val['threshold']:.4f} "
          f"(balanced accuracy {val['val_clip_balanced_acc']:.3f}); use it with sync.backend: expert, "
          f"sync.expert_weights: {out / 'expert.pt'}")
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lipforge train-sync", description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True, help="a curated corpus (the --output of lipforge curate)")
    p.add_argument("--where", default=None, help="SQL condition over clips.parquet selecting the clips")
    p.add_argument("--output", required=True, help="directory for expert.pt, checkpoint.pt, train_sync.json")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--val-frac", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-clips", type=int, default=None)
    p.add_argument("--val-sources", default="", help="comma-separated source ids to validate on (default: a "
                                                          "seeded --val-frac of the sources)")
    p.add_argument("--size", type=int, default=ExpertArch.size, help="face crop side the lower half is cut from")
    p.add_argument("--vshift", type=int, default=15, help="largest shift (frames) of a shifted negative")
    p.add_argument("--min-shift", type=int, default=3, help="smallest shift (frames) of a shifted negative")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:n]")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.pt")
    p.add_argument("--init", default=None, help="start from this expert.pt's weights (same --size)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = TrainSyncConfig(corpus=a.corpus, where=a.where, steps=a.steps, batch_size=a.batch_size, lr=a.lr,
                          val_frac=a.val_frac, seed=a.seed, vshift=a.vshift, min_shift=a.min_shift,
                          max_clips=a.max_clips, val_sources=tuple(x for x in a.val_sources.split(",") if x),
                          init=a.init, arch=ExpertArch(size=a.size))
    train_sync(cfg, a.output, a.device, a.resume)
    return 0
