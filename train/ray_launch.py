"""``lipforge train --address local|auto|ray://HOST:10001 --num-workers N [--gpus-per-worker 1]``:
the loop of :mod:`lipforge.train.loop` as DDP ranks placed by Ray (the one train/ module that
imports Ray): each rank an actor that sets up ``torch.distributed`` as torchrun does (NCCL / gloo),
all of them one placement group (``TrainConfig.cluster``) queued beside curation and inference. A
lost worker restarts every rank from the last committed checkpoint (``cluster.max_failures``);
loop errors are not retried. First Ctrl-C / SIGTERM: checkpoint and exit; a second kills. Local
runs use Ray's single-node mode and bind the store and peer sockets to 127.0.0.1.

>>> launch(TrainConfig.from_yaml("t.yaml"), address="local")  # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lipforge.errors import UserError

if TYPE_CHECKING:
    from lipforge.train.config import TrainConfig

log = logging.getLogger(__name__)

GRACE_S = 10.0  # after a rank's error, how long the others may take to show whether a worker died


class TrainingFailed(UserError, RuntimeError):
    """The failure budget is spent: more workers were lost than ``cluster.max_failures`` allows."""


class _WorkerLost(Exception):
    pass


@dataclass
class LaunchResult:
    history: list[dict[str, Any]]  # rank 0's steps of the last attempt (a restart continues the checkpoint)
    restarts: int  # worker losses survived
    stopped_by: int | None = None  # the signal that stopped the run early, if one did


# ---- the CLI hook (lipforge.train.cli) -------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", help="run the ranks on Ray: 'local' (a private single-node Ray on 127.0.0.1), "
                                     "'auto' (the cluster this node belongs to) or ray://HOST:10001")
    p.add_argument("--num-workers", type=int, help="with --address: DDP ranks (default: cluster.num_workers)")
    p.add_argument("--gpus-per-worker", type=float, help="with --address: 0 (CPU, gloo) or 1 (NCCL); "
                                                         "default: cluster.gpus_per_worker")


def check_arguments(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.address and (args.num_workers is not None or args.gpus_per_worker is not None):
        p.error("--num-workers / --gpus-per-worker place ranks on Ray: give --address local|auto|ray://HOST:10001")
    if args.address and (args.dry_run or args.export):
        p.error("--address runs training; --dry-run and --export run here, without it")
    if args.address and "WORLD_SIZE" in os.environ:
        p.error("--address starts its own ranks on Ray: do not combine it with torchrun")


def run_from_cli(cfg: TrainConfig, args: argparse.Namespace, resume: bool | str) -> int:
    if resume not in (False, True, "if-any") or getattr(args, "report_to", "tensorboard") != "tensorboard":
        raise UserError("on Ray the ranks continue the last committed checkpoint (--resume [if-any]) and rank 0 "
                        "writes TensorBoard: --resume PATH and --report_to need torchrun for now")
    over = {k: v for k, v in (("num_workers", args.num_workers), ("gpus_per_worker", args.gpus_per_worker))
            if v is not None}
    if over:
        cfg = dataclasses.replace(cfg, cluster=dataclasses.replace(cfg.cluster, **over))
    res = launch(cfg, args.address, resume=resume, overwrite=args.overwrite,
                 allow_config_change=args.allow_config_change)
    last = f"step {res.history[-1]['step']} loss {res.history[-1]['loss']:.4f}" if res.history else "no step run"
    restarts = f" ({res.restarts} worker loss{'es' if res.restarts != 1 else ''} survived)" if res.restarts else ""
    print(last + restarts)
    if res.stopped_by is not None:
        print(f"stopped by signal {res.stopped_by} after a checkpoint: continue with --resume")
        return 128 + res.stopped_by
    return 0


# ---- the driver ------------------------------------------------------------------------------
def connect(address: str, num_cpus: int | None = None) -> bool:
    """Join ``address`` ("auto", "ray://...") or start a private loopback-only Ray ("local").
    True when this call started Ray (the caller shuts it down). :func:`lipforge.local_ray.start_ray`."""
    from lipforge.local_ray import start_ray

    return start_ray(address, num_cpus=num_cpus)


def launch(cfg: TrainConfig, address: str = "local", resume: bool | str = False, overwrite: bool = False,
           allow_config_change: bool = False, num_cpus: int | None = None) -> LaunchResult:
    """Train ``cfg`` with ``cfg.cluster.num_workers`` ranks on Ray; restart them all from the last
    committed checkpoint when one is lost (at most ``cfg.cluster.max_failures`` times)."""
    if resume not in (False, True, "if-any"):
        raise ValueError(f"launch: resume must be False, True or 'if-any', got {resume!r}")
    # a used directory fails here, before waiting for GPUs; a ray:// driver (a laptop) may not see
    # the shared output_dir: the ranks check it then
    checked = not address.startswith("ray://")
    if checked:
        _check_run_dir(cfg, resume, overwrite)
    local = address == "local"
    started = connect(address, num_cpus)
    import ray

    stop = _DriverStop()
    restarts = 0
    try:
        while True:
            attempt = _Attempt(ray, cfg, local, stop)
            try:
                hist = attempt.run(resume, overwrite, allow_config_change)
                return LaunchResult(hist, restarts, stop.signum)
            except _WorkerLost as e:
                if stop.signum is not None:
                    raise TrainingFailed(f"a worker was lost while stopping on signal {stop.signum}: {e}") from None
                restarts += 1
                if restarts > cfg.cluster.max_failures:
                    raise TrainingFailed(f"worker lost {restarts} times, more than cluster.max_failures="
                                         f"{cfg.cluster.max_failures}; last: {e}") from None
                log.warning("worker lost (%s): restarting every rank from the last committed checkpoint "
                            "(loss %d of cluster.max_failures=%d)", e, restarts, cfg.cluster.max_failures)
                # continue the last checkpoint, or start over when the lost attempt committed none:
                # then whatever the directory holds is that attempt's (when the driver checked it)
                resume, overwrite = "if-any", overwrite or checked
            finally:
                attempt.close()
    finally:
        stop.restore()
        if started:
            ray.shutdown()


def _check_run_dir(cfg: TrainConfig, resume: bool | str, overwrite: bool) -> None:
    """The loop's directory checks, on the driver (on a cluster node it sees the shared output_dir)."""
    from lipforge.train.checkpoint import CheckpointManager
    from lipforge.train.rundir import RunDirError, check_fresh_output_dir, no_checkpoint_message

    ckpts = CheckpointManager(Path(cfg.output_dir) / "checkpoints")
    latest = ckpts.latest() if resume else None
    if resume is True and latest is None:
        raise RunDirError(no_checkpoint_message(ckpts.root))
    if latest is None:
        check_fresh_output_dir(Path(cfg.output_dir), overwrite, delete=False, resuming=resume == "if-any")


def _bundle(cfg: TrainConfig) -> dict[str, float]:
    c = cfg.cluster
    cpus = c.cpus_per_worker if c.cpus_per_worker is not None else 1.0 + cfg.data.num_workers
    b = {"CPU": float(cpus), **{k: float(v) for k, v in c.resources.items()}}
    if c.gpus_per_worker:
        b["GPU"] = float(c.gpus_per_worker)
    if c.memory_per_worker_gb:
        b["memory"] = float(int(c.memory_per_worker_gb * 2 ** 30))
    return b


def _check_fits(total: dict[str, float], bundle: dict[str, float], n: int) -> None:
    short = {k: (n * v, total.get(k, 0.0)) for k, v in bundle.items() if n * v > total.get(k, 0.0) + 1e-9}
    if short:
        raise UserError("the local Ray cannot hold the run: " + ", ".join(
            f"{k} {need:g} asked ({n} workers), {have:g} there" for k, (need, have) in short.items())
            + " (cluster.cpus_per_worker / --num-workers / --gpus-per-worker)")


class _Attempt:
    """One gang of ranks: a placement group, its actors, their process group."""

    def __init__(self, ray, cfg: TrainConfig, local: bool, stop: "_DriverStop") -> None:
        self.ray, self.cfg, self.local, self.stop = ray, cfg, local, stop
        self.pg, self.ranks, self.where = None, [], []
        self.forwarded = False

    def _place(self) -> None:
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        ray, c, bundle = self.ray, self.cfg.cluster, _bundle(self.cfg)
        if self.local:  # no autoscaler will add a node: a run that cannot fit would wait forever
            _check_fits(ray.cluster_resources(), bundle, c.num_workers)
        self.pg = placement_group([bundle] * c.num_workers, strategy=c.placement_strategy)
        t0 = time.monotonic()
        while not ray.wait([self.pg.ready()], timeout=1.0)[0]:
            if self.stop.signum is not None:
                raise KeyboardInterrupt
            if time.monotonic() - t0 >= 30:
                t0 = time.monotonic()
                log.info("waiting for %d x %s on the cluster (Ray queues the run until they are free)",
                         c.num_workers, bundle)
        actor = ray.remote(max_restarts=0)(TrainRank)
        opts = {"num_cpus": bundle["CPU"], "num_gpus": bundle.get("GPU", 0)}
        if "memory" in bundle:
            opts["memory"] = bundle["memory"]
        custom = {k: v for k, v in bundle.items() if k not in ("CPU", "GPU", "memory")}
        if custom:
            opts["resources"] = custom
        self.ranks = [actor.options(**opts, scheduling_strategy=PlacementGroupSchedulingStrategy(self.pg, i)).remote(
            i, c.num_workers, self.local, bundle["CPU"], bundle.get("GPU", 0.0)) for i in range(c.num_workers)]

    def run(self, resume: bool | str, overwrite: bool, allow_config_change: bool) -> list[dict[str, Any]]:
        ray = self.ray
        try:
            self._place()
            self.where = ray.get([r.where.remote() for r in self.ranks])
            master = ray.get(self.ranks[0].open_store.remote(self.cfg.cluster.master_port))
        except _loss_types(ray) as e:
            raise _WorkerLost(_short(e)) from None
        log.info("%d ranks placed (%s each): %s; rendezvous %s:%d", len(self.ranks), _bundle(self.cfg),
                 ", ".join(f"rank {i} pid {w['pid']} on {w['ip']}" for i, w in enumerate(self.where)), *master)
        cfg = self.cfg.to_dict()
        refs = [r.run.remote(cfg, master, resume, overwrite, allow_config_change) for r in self.ranks]
        rank_of = {ref: i for i, ref in enumerate(refs)}
        results: dict[int, list] = {}
        error, deadline, pending = None, None, list(refs)
        while pending and (deadline is None or time.monotonic() < deadline):
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            if self.stop.signum is not None and not self.forwarded:
                self._forward(signal.SIGTERM)
            for ref in ready:
                try:
                    results[rank_of[ref]] = ray.get(ref)
                except _loss_types(ray) as e:
                    raise _WorkerLost(f"rank {rank_of[ref]}: {_short(e)}") from None
                except ray.exceptions.RayTaskError as e:
                    cause = getattr(e, "cause", None)
                    if _is_peer_loss(cause):  # a collective failed: its peer is gone (or going)
                        raise _WorkerLost(f"rank {rank_of[ref]}: {_short(cause)}") from None
                    if error is None:
                        error, deadline = (cause if isinstance(cause, BaseException) else e), time.monotonic() + GRACE_S
        if error is not None:
            raise error
        return results[0]

    def _forward(self, signum: int) -> None:
        """SIGTERM to every rank, on its own node: the loop checkpoints after this step and returns."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.forwarded = True
        send = self.ray.remote(num_cpus=0)(_send_signal)
        for w in self.where:
            send.options(scheduling_strategy=NodeAffinitySchedulingStrategy(w["node_id"], soft=False)).remote(
                w["pid"], signum)
        log.warning("signal %s: every rank checkpoints after this step, then stops (again: stop at once)",
                    self.stop.signum)

    def close(self) -> None:
        for r in self.ranks:
            try:
                self.ray.kill(r, no_restart=True)
            except Exception:  # already gone
                pass
        if self.pg is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self.pg)


def _loss_types(ray) -> tuple[type[BaseException], ...]:
    ex = ray.exceptions
    return tuple(getattr(ex, n) for n in ("RayActorError", "WorkerCrashedError", "NodeDiedError", "OwnerDiedError")
                 if hasattr(ex, n))


def _is_peer_loss(cause: Any) -> bool:
    import torch.distributed as dist

    return isinstance(cause, dist.DistBackendError) or (
        isinstance(cause, RuntimeError) and any(s in str(cause) for s in ("Connection closed by peer",
                                                                         "Connection reset by peer")))


def _short(e: BaseException) -> str:
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[-1].strip() if lines else ''}"[:300]


def _send_signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


class _DriverStop:
    """The driver's SIGINT / SIGTERM: the first is forwarded to the ranks, the second stops at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def restore(self) -> None:
        for sig, h in self._old.items():
            signal.signal(sig, h)


# ---- a rank ----------------------------------------------------------------------------------
class TrainRank:
    """A DDP rank in a Ray actor: the environment torchrun gives a rank, then the training loop."""

    def __init__(self, rank: int, world_size: int, local: bool, cpus: float, gpus: float) -> None:
        from lipforge.env import apply_offline_env

        apply_offline_env()
        self.rank, self.world_size, self.local = rank, world_size, local
        self.cpus = max(1, int(cpus))
        logging.basicConfig(level=logging.INFO, force=True,
                            format=f"%(asctime)s %(levelname)s rank {rank} %(name)s: %(message)s")
        # Ctrl-C on a terminal reaches the whole process group: the driver decides (it forwards SIGTERM)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # Ray gives an actor exactly its GPU (CUDA_VISIBLE_DEVICES): it is cuda:0 here, as LOCAL_RANK 0.
        # An actor without GPUs sees every GPU of its node (Ray leaves the variable alone): hide them,
        # or a CPU rank would train on cuda:0 beside whoever holds it
        if not gpus:
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
        if local:  # gloo / NCCL peer sockets on loopback only
            os.environ["GLOO_SOCKET_IFNAME"] = os.environ["NCCL_SOCKET_IFNAME"] = "lo"
        self._listener: socket.socket | None = None

    def where(self) -> dict[str, Any]:
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(), "ip": self._ip()}

    def _ip(self) -> str:
        if self.local:
            return "127.0.0.1"
        import ray

        return ray.util.get_node_ip_address()

    def open_store(self, port: int) -> tuple[str, int]:
        """Rank 0: bind the rendezvous socket now (no race for the port) on this node's address
        (127.0.0.1 locally; the store would otherwise listen on every interface)."""
        ip = self._ip()
        s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
        s.bind((ip, port))
        s.listen(128)
        self._listener = s
        return ip, s.getsockname()[1]

    def run(self, cfg: dict[str, Any], master: tuple[str, int], resume: bool | str, overwrite: bool,
            allow_config_change: bool) -> list[dict[str, Any]]:
        import torch
        import torch.distributed as dist

        from lipforge.train.config import TrainConfig
        from lipforge.train.loop import train

        torch.set_num_threads(self.cpus)
        tcfg = TrainConfig.from_dict(cfg)
        timeout = timedelta(seconds=tcfg.pg_timeout_s)
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(0)
        if self.world_size > 1:
            host, port = master
            os.environ.update(MASTER_ADDR=host, MASTER_PORT=str(port))
            fd = self._listener.fileno() if self._listener is not None else None
            store = dist.TCPStore(host, port, self.world_size, self.rank == 0, timeout=timeout, master_listen_fd=fd)
            dist.init_process_group("nccl" if cuda else "gloo", store=store, rank=self.rank,
                                    world_size=self.world_size, timeout=timeout)
        return train(tcfg, resume=resume, rank=self.rank, world_size=self.world_size, overwrite=overwrite,
                     allow_config_change=allow_config_change)
