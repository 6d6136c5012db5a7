"""Where file-level work runs: local processes, or a ``dask.distributed`` cluster (``--scheduler ADDRESS``).

``agnbench prep`` (shards of spectra and cutouts) and ``agnbench predict`` over a partitioned table run a pure
function per unit of work. :func:`work_executor` gives a :class:`concurrent.futures.Executor` for it: a
process pool on this machine, or the executor of a Dask client connected to a scheduler
(``tcp://host:port``, started with ``dask scheduler``; workers with ``dask worker ADDRESS`` on each
machine, every one with agnbench installed and the input files at the same paths). :func:`run_bounded`
keeps at most a few units per worker in flight and hands each result over as it finishes, so memory on
the submitting machine stays flat however many units there are. A scheduler that does not answer, a
cluster without workers and a worker that dies are each one :class:`~agnbench.errors.AgnbenchError` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from agnbench.errors import AgnbenchError

log = logging.getLogger(__name__)

__all__ = ["CONNECT_TIMEOUT_S", "run_bounded", "work_executor"]

#: Seconds to wait for a scheduler to answer, and then for its first worker.
CONNECT_TIMEOUT_S = 10.0
#: Units of work in flight per worker slot.
_PER_SLOT = 2


def _normalised(address: str) -> str:
    address = address.strip()
    return address if "://" in address else f"tcp://{address}"


@contextlib.contextmanager
def work_executor(scheduler: str, *, workers: int, key: str, timeout: float = CONNECT_TIMEOUT_S,
                  start_method: str | None = None) -> Iterator[tuple[Executor, int]]:
    """Yield ``(executor, slots)``: a local process pool of ``workers``, or a Dask cluster's executor.

    Parameters
    ----------
    scheduler : str
        ``""`` for local processes, else a Dask scheduler address (``tcp://host:port``; ``host:port`` is read
        as tcp).
    workers : int
        Local processes (ignored with a scheduler: the cluster's worker threads count instead).
    key : str
        The option or config key that gave ``scheduler``, for messages (e.g. ``--scheduler/prep.scheduler``).
    timeout : float
        Seconds to wait for the scheduler to answer, and again for its first worker.
    start_method : str, optional
        How local processes start (``"spawn"`` where this process may already run OpenMP threads, e.g. after
        an XGBoost prediction: a forked child would deadlock on them); None: the platform's default.

    Raises
    ------
    AgnbenchError
        ``distributed`` not installed, no scheduler answering at the address, or a scheduler without workers.
    """
    if not scheduler:
        context = multiprocessing.get_context(start_method) if start_method else None
        with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context) as pool:
            yield pool, max(1, workers)
        return
    address = _normalised(scheduler)
    try:
        from distributed import Client
    except ImportError:
        raise AgnbenchError(f"{key} {scheduler}: dask.distributed is not installed; pip install 'agnbench[dask]' "
                            "(requirements.txt pins it) or leave the scheduler empty for local processes") from None
    try:
        # the handshake first, on its own: a Client that fails half-way (e.g. something that is not a Dask
        # scheduler answers) would hang for 20 s at exit closing itself, with a traceback
        asyncio.run(asyncio.wait_for(_handshake(address, timeout), timeout + 5))
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - whatever the network does, the user gets one line
        how = ("no answer" if isinstance(exc, (OSError, TimeoutError))
               else f"an answer that is not Dask's: {type(exc).__name__}")
        raise AgnbenchError(
            f"{key} {scheduler}: no Dask scheduler answered within {timeout:g} s ({how}); start one "
            f"with `dask scheduler` and workers with `dask worker {address}` on each machine (check the host, port "
            "and firewall), or leave the scheduler empty to use local processes") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise AgnbenchError(f"{key} {scheduler}: the scheduler answered but has no workers after {timeout:g} s; "
                                f"start them with `dask worker {address}` on each machine") from None
        slots = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        log.info("Dask scheduler %s: %d workers, %d threads (dashboard %s)", address,
                 len(client.scheduler_info()["workers"]), slots, client.dashboard_link)
        yield client.get_executor(pure=False), max(1, slots)
    finally:
        client.close()


async def _handshake(address: str, timeout: float) -> None:
    """Connect to ``address`` and exchange Dask's handshake (raises if no Dask scheduler answers)."""
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout)
    await comm.close()


def run_bounded(executor: Executor, slots: int, func: Callable, jobs: Iterable[tuple], *,
                what: Callable[[int], str]) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Run ``func(*job)`` for each job; yield ``(index, result, error)`` as they finish (finished together: in
    index order). ``error`` is what the job raised (``result`` is then None): the caller decides whether to stop.

    At most ``2 * slots`` jobs are in flight and a result is dropped by the caller once handled.

    Raises
    ------
    AgnbenchError
        A worker died (a local process, or a Dask worker killed on every retry); ``what(index)`` names the unit.
    """
    queue = list(enumerate(jobs))
    queue.reverse()
    running: dict[Future, int] = {}
    try:
        while queue or running:
            while queue and len(running) < _PER_SLOT * slots:
                k, job = queue.pop()
                running[executor.submit(func, *job)] = k
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=running.get):
                k = running.pop(fut)
                error = fut.exception()
                if error is not None and _died(error):
                    raise AgnbenchError(f"{what(k)}: a worker died running it ({type(error).__name__}: {error}); "
                                        "out of memory? Finished work is kept: run the same command again") from None
                yield k, (None if error is not None else fut.result()), error
            del done
    finally:
        for fut in running:
            fut.cancel()


def _died(error: BaseException) -> bool:
    if isinstance(error, BrokenProcessPool):
        return True
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:
        return False
    return isinstance(error, KilledWorker)
