"""Deep training over several processes under ``torchrun`` (DistributedDataParallel); a no-op otherwise.

``torchrun --nproc_per_node N -m agnbench train spectra|images ...`` starts N copies of the same
command. Each reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from its environment
(:func:`from_env`); :func:`distributed_session` joins the process group (NCCL when the deep
device is CUDA, gloo on the CPU) with a finite timeout (``AGNBENCH_DIST_TIMEOUT_S`` seconds,
default 1800) and leaves it at the end. Without torchrun (or with ``WORLD_SIZE=1``) every
method of :class:`Distributed` is the single-process code path, so a one-process run gives the
same bytes as before this module existed.

How a run is split (``N = WORLD_SIZE`` processes):

- ``batch_size`` stays the *global* batch: each process takes ``batch_size / N`` objects per
  step, so the optimiser sees the same batch size, steps per epoch and learning-rate schedule
  for any N (``batch_size`` must be a multiple of N with at least 2 per process).
- ``sampler: shuffle`` -> a :class:`torch.utils.data.DistributedSampler` over the train split,
  seeded from the run seed, ``set_epoch`` every epoch, ``drop_last`` (every process takes the
  same number of steps). ``sampler: balanced`` -> the single-process class-balanced draws of the
  epoch (seeded by (seed, epoch)), dealt out to the processes by the same sampler without
  reshuffling.
- Augmentations and dropout draw from streams keyed by the process too (no two processes
  repeat the same noise).
- Validation and the final predictions: each process predicts a contiguous, unpadded share of
  the objects, and the shares are gathered in order, so every process holds the full val
  predictions once (no padded duplicates) and takes the same early-stopping decision. Batch-norm
  running statistics are copied from rank 0 to all processes before each validation, so the
  gathered predictions are those of rank 0's model.
- Rank 0 alone writes the run directory; the others wait for it at the end. A process that
  fails, is stopped (torchrun sends SIGTERM to the others when one dies) or does not answer
  within the timeout makes the rest fail with one clear line; rank 0 then marks the run
  ``failed``, never ``complete``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from agnbench.errors import AgnbenchError
from agnbench.seeding import derive_seed

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Environment variable: seconds a process waits for the others in one collective before it fails.
TIMEOUT_ENV = "AGNBENCH_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 1800.0
_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
#: How torch's gloo and NCCL report a lost or silent peer when not as a DistError (DDP's own collectives).
_COMM_WORDS = ("gloo", "nccl", "processgroup", "connection reset", "connection closed", "timed out", "timeout")


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun group; ``world_size == 1`` is the plain single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def enabled(self) -> bool:
        """True when this is one of several processes."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes the run directory and logs."""
        return self.rank == 0

    @property
    def tag(self) -> str:
        """``torchrun rank R of N``: how this process names itself in errors."""
        return f"torchrun rank {self.rank} of {self.world_size}"

    def describe(self) -> dict[str, Any]:
        """``env.json``'s ``distributed`` entry of a torchrun run (processes, backend, timeout)."""
        return {"world_size": self.world_size, "backend": dist.get_backend() if dist.is_initialized() else None,
                "timeout_s": self.timeout_s, "launcher": "torchrun"}

    # -- set-up ------------------------------------------------------------------------------------------
    def device(self, device: torch.device) -> torch.device:
        """The device of this process: ``cuda:LOCAL_RANK`` under torchrun on GPUs, else ``device``."""
        return torch.device("cuda", self.local_rank) if self.enabled and device.type == "cuda" else device

    def check_batch_size(self, batch_size: int, *, section: str) -> None:
        """``batch_size`` (global) must split into equal per-process batches of at least 2."""
        if self.enabled and (batch_size % self.world_size or batch_size // self.world_size < 2):
            raise AgnbenchError(
                f"{section}.batch_size={batch_size} is the global batch, split over the {self.world_size} torchrun "
                f"processes: make it a multiple of {self.world_size} with at least 2 per process (e.g. --batch-size "
                f"{max(2, batch_size // self.world_size) * self.world_size})")

    def wrap(self, model: nn.Module, device: torch.device, *, find_unused: bool = False) -> nn.Module:
        """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` (``model`` itself for one process).

        Only the training forward pass goes through the wrapper; predictions and checkpoints use ``model``.
        ``find_unused``: parameters may get no gradient (a frozen backbone while fine-tuning).
        """
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                       find_unused_parameters=find_unused)

    # -- what each process trains on ------------------------------------------------------------------
    def epoch_plan(self, data: Any, epoch: int) -> list[np.ndarray]:
        """This process's training batches of ``epoch`` (positions in ``data.store.objects``).

        One process: :meth:`agnbench.deep.data.TrackData.epoch_plan`. Several: see the module docstring.
        """
        if not self.enabled:
            return data.epoch_plan(epoch)
        from torch.utils.data import DistributedSampler

        if data.cfg.sampler == "balanced":
            draws = np.concatenate(data.epoch_plan(epoch))  # already random: deal out without reshuffling
            sampler = DistributedSampler(range(draws.size), num_replicas=self.world_size, rank=self.rank,
                                         shuffle=False, drop_last=True)
        else:
            draws = data.indices("train")
            sampler = DistributedSampler(range(draws.size), num_replicas=self.world_size, rank=self.rank,
                                         shuffle=True, seed=derive_seed(data.seed, "deep", "ddp", "shuffle") % 2**62,
                                         drop_last=True)
        sampler.set_epoch(epoch)
        mine = draws[np.fromiter(iter(sampler), dtype=np.int64, count=len(sampler))]
        bs = data.cfg.batch_size // self.world_size
        return [mine[i : i + bs] for i in range(0, mine.size - bs + 1, bs)]

    def batch_keys(self) -> dict[str, int]:
        """``EpochBatches`` keywords: this process's batch ``k`` augments with stream ``k * world_size + rank``."""
        return {"first": self.rank, "stride": self.world_size}

    def dropout_seed(self, seed: int, epoch: int) -> int:
        """Seed of the dropout masks of ``epoch`` in this process."""
        if not self.enabled:
            return derive_seed(seed, "deep", "dropout", epoch)
        return derive_seed(seed, "deep", "dropout", epoch, "rank", self.rank)

    # -- collectives ----------------------------------------------------------------------------------
    def mean(self, value: float) -> float:
        """The mean of ``value`` over the processes (``value`` itself for one)."""
        if not self.enabled:
            return value
        with self._collective("averaging the training loss"):
            t = torch.tensor([value], dtype=torch.float64, device=self._comm_device())
            dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def map_positions(self, fn: Callable[[np.ndarray], np.ndarray], positions: np.ndarray) -> np.ndarray:
        """``fn(positions)`` with the rows computed by all processes: each takes a contiguous share, the
        shares are gathered in rank order (no padding, so no duplicate rows); every process gets the result."""
        if not self.enabled:
            return fn(positions)
        mine = fn(np.array_split(positions, self.world_size)[self.rank])
        parts: list[Any] = [None] * self.world_size
        with self._collective("gathering predictions"):
            dist.all_gather_object(parts, mine)
        return np.concatenate(parts)

    def sync_buffers(self, model: nn.Module) -> None:
        """Copy rank 0's buffers (batch-norm running statistics) to every process."""
        if self.enabled:
            with self._collective("copying batch-norm statistics from rank 0"), torch.no_grad():
                for buf in model.buffers():
                    dist.broadcast(buf, src=0)

    def sync_state(self, model: nn.Module) -> None:
        """Copy rank 0's weights and buffers to every process (after rank 0 loaded the best epoch)."""
        if self.enabled:
            with self._collective("copying the best weights from rank 0"), torch.no_grad():
                for t in model.state_dict().values():
                    dist.broadcast(t, src=0)

    def on_main(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` on rank 0 only and hand its (picklable) result to every process.

        An :class:`AgnbenchError` on rank 0 is raised on every process (the others name rank 0).
        """
        if not self.enabled:
            return fn()
        box: list[Any] = [None]
        error = None
        if self.is_main:
            try:
                box[0] = ("ok", fn())
            except AgnbenchError as exc:
                error, box[0] = exc, ("error", str(exc))
        with self._collective(what):
            dist.broadcast_object_list(box, src=0)
        if error is not None:
            raise error
        status, value = box[0]
        if status == "error":
            raise AgnbenchError(f"rank 0 failed while {what}: {value}")
        return value

    def barrier(self, what: str) -> None:
        """Wait until every process got here."""
        if self.enabled:
            with self._collective(what):
                dist.barrier()

    def _comm_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")

    @contextlib.contextmanager
    def _collective(self, what: str) -> Iterator[None]:
        try:
            yield
        except RuntimeError as exc:  # DistError is one
            raise self.lost(what, exc) from None

    def lost(self, what: str, exc: BaseException) -> AgnbenchError:
        """The one-line error of a collective that failed because another process died or hung."""
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return AgnbenchError(
            f"{self.tag}: {what} failed ({reason}): another process of the group failed, was stopped or did not "
            f"answer within {self.timeout_s:g} s ({TIMEOUT_ENV}); see the first failing rank's message. The run "
            "directory is not marked complete")


def from_env(environ: dict[str, str] | None = None) -> Distributed:
    """The process's place from torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (single process if unset)."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return Distributed()
    try:
        rank, world, local = (int(env.get(k, "0")) for k in _ENV)
        timeout = float(env.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        raise AgnbenchError(f"torchrun environment: {', '.join(_ENV)} must be integers and {TIMEOUT_ENV} a number of "
                            f"seconds; got {', '.join(f'{k}={env.get(k)!r}' for k in (*_ENV, TIMEOUT_ENV))}") from None
    if world < 1 or not 0 <= rank < world or local < 0 or timeout <= 0:
        raise AgnbenchError(f"torchrun environment: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}, "
                            f"{TIMEOUT_ENV}={timeout:g} are inconsistent (need 0 <= RANK < WORLD_SIZE, timeout > 0)")
    return Distributed(rank=rank, world_size=world, local_rank=local, timeout_s=timeout)


@contextlib.contextmanager
def distributed_session(device: torch.device) -> Iterator[Distributed]:
    """Join the torchrun process group for the deep device ``device`` (and leave it); single process: no-op.

    NCCL for CUDA, gloo for the CPU, with the finite timeout of :data:`TIMEOUT_ENV`. Re-entrant: inside a
    joined group it yields the same place and leaves the group to the outer session. While joined, SIGTERM
    (torchrun stopping the survivors when a process died) raises one clear :class:`AgnbenchError`, and only
    rank 0 logs below warnings. Once a process fails it ignores further SIGTERMs (it is already exiting, and
    its one-line error must not be cut short); a collective error from inside torch becomes one line too.
    """
    place = from_env()
    if not place.enabled or dist.is_initialized():
        yield place
        return
    if device.type not in ("cpu", "cuda"):
        raise AgnbenchError(f"{place.tag}: torchrun runs on CPUs (gloo) or CUDA GPUs (NCCL), not on {device.type}; "
                            "use --device cpu or cuda")
    if device.type == "cuda":
        if place.local_rank >= torch.cuda.device_count():
            raise AgnbenchError(f"{place.tag}: LOCAL_RANK={place.local_rank} but this machine has "
                                f"{torch.cuda.device_count()} CUDA device(s); use --nproc_per_node <= that number")
        torch.cuda.set_device(place.local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=place.timeout_s))
    except (dist.DistError, RuntimeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise AgnbenchError(f"{place.tag}: could not join the {backend} process group at "
                            f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')} ({reason}); start "
                            "agnbench under torchrun, with --master_addr/--master_port reachable by every node"
                            ) from None
    restore, failing = _on_sigterm(place)
    root = logging.getLogger("agnbench")
    level = root.level
    if not place.is_main:
        root.setLevel(max(level, logging.WARNING))
    log.info("%s: joined the %s process group (timeout %g s)", place.tag, backend, place.timeout_s)
    try:
        yield place
    except BaseException as exc:
        failing()  # torchrun's SIGTERM to the survivors must not cut this process's one-line error short
        if is_comm_error(exc):  # a collective inside torch (DDP's buffer broadcast, gradient all-reduce) lost a peer
            raise place.lost("training", exc) from None
        raise
    else:
        restore()
    finally:
        root.setLevel(level)
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def is_comm_error(exc: BaseException) -> bool:
    """True for the errors torch raises when a collective loses a peer or times out."""
    return isinstance(exc, dist.DistError) or (
        isinstance(exc, RuntimeError) and any(w in str(exc).lower() for w in _COMM_WORDS))


def _on_sigterm(place: Distributed) -> tuple[Callable[[], None], Callable[[], None]]:
    """Make the first SIGTERM raise one clear error in the main thread (later ones are ignored: the process is
    already on its way out). Returns (restore the old handler, ignore SIGTERM from now on: the process is failing)."""
    if threading.current_thread() is not threading.main_thread():
        return (lambda: None), (lambda: None)

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise AgnbenchError(f"{place.tag}: stopped by SIGTERM (torchrun stops the other processes when one fails; "
                            "see the first failing rank's message). The run directory is not marked complete")

    old = signal.signal(signal.SIGTERM, stop)
    return (lambda: signal.signal(signal.SIGTERM, old)), (lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
