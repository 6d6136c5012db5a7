"""Saving report figures in worker processes: the figures are drawn here and rendered (PDF + PNG) elsewhere.

Rendering (``savefig``: the constrained layout, rasterising the PNG, subsetting the fonts of the PDF) is most of
a report's time, and each figure renders on its own. Inside :func:`figure_writer` every
:func:`~agnbench.reports.style.save_figure` pickles the finished figure together with the rcParams it is saved
under and hands it to ``workers`` worker processes (fresh interpreters, :mod:`agnbench.reports.figure_worker`:
safe after torch, XGBoost or any other library has started threads in this process, and they never re-run the
caller's script); the builders go on drawing the next figure meanwhile.

The bytes written do not depend on ``workers``: with one worker the same pickled figure is rendered here by the
same function (:func:`render_pickled`), so a serial and a parallel report are identical file for file. A figure
that cannot be pickled (an artist holding a lambda, say) is rendered here from the original, in both modes. The
block waits for every figure before it ends; one that failed to render fails the report as before (the report
is written atomically, so nothing half-written is left), but only after the others have finished, with one error
naming every figure that failed and why.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import pickle
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from agnbench.fileio import usable_cpu_count
from agnbench.reports.figure_worker import RemoteError, WorkerProcess

__all__ = ["FigureRenderError", "FigureWriter", "active_writer", "figure_writer", "render_figure",
           "render_pickled", "resolve_workers"]

log = logging.getLogger(__name__)

#: The formats every figure is saved in, in this order; the PNG at ``dpi`` dots per inch.
FORMATS = ("pdf", "png")
#: rcParams that select or steer a GUI backend: never sent to a worker (it renders with Agg/PDF whatever they say).
_LOCAL_RC = ("backend", "backend_fallback", "interactive", "toolbar", "webagg.", "tk.", "macosx.")
#: Figures waiting for a worker, per worker, before :meth:`FigureWriter.submit` waits (bounds the memory held).
QUEUE_PER_WORKER = 4

_ACTIVE: contextvars.ContextVar[FigureWriter | None] = contextvars.ContextVar("agnbench_figure_writer",
                                                                               default=None)


class FigureRenderError(RuntimeError):
    """One or more report figures failed to render; the message names each and its error."""


def resolve_workers(workers: int) -> int:
    """Processes for ``report.workers``: 0 means every usable core; 1 renders in this process (serial)."""
    if workers < 0:
        raise ValueError(f"workers must be >= 0, not {workers}")
    return usable_cpu_count() if workers == 0 else int(workers)


def save_rc() -> dict:
    """The rcParams in force now, less the backend settings (:data:`_LOCAL_RC`): what a worker renders under."""
    return {k: v for k, v in matplotlib.rcParams.items() if not k.startswith(_LOCAL_RC)}


def render_figure(fig: Figure, out_dir: Path, name: str, *, rc: dict | None, meta: dict, dpi: float) -> None:
    """Write ``fig`` as ``out_dir/<name>.pdf`` and ``.png`` under the rcParams ``rc``, each file atomically.

    Each file is written under a temporary name and renamed, so an interrupted report never leaves half a file.
    The layout engine (constrained layout) runs once, for the PDF; the PNG keeps that layout instead of solving
    it again (a quarter of the rendering time). ``rc`` (None: the rcParams in force) applies while saving, ``meta`` is the PDF's metadata, ``dpi`` the PNG's
    resolution.
    """
    engine = fig.get_layout_engine()
    try:
        with matplotlib.rc_context(rc) if rc is not None else contextlib.nullcontext():
            for i, ext in enumerate(FORMATS):
                if i and engine is not None:  # laid out by the first save; the others keep that layout
                    fig.set_layout_engine("none")
                final = Path(out_dir) / f"{name}.{ext}"
                tmp = final.with_name(f".{name}.{ext}.tmp-{os.getpid()}")
                kwargs = {"dpi": dpi} if ext == "png" else {"metadata": meta}
                try:
                    fig.savefig(tmp, format=ext, **kwargs)
                    os.replace(tmp, final)
                finally:
                    tmp.unlink(missing_ok=True)
    finally:
        if engine is not None:
            fig.set_layout_engine(engine)


def render_pickled(payload: bytes, out_dir: Path, name: str, *, rc: dict, meta: dict, dpi: float) -> None:
    """:func:`render_figure` of the pickled figure ``payload`` (what a worker process runs)."""
    render_figure(pickle.loads(payload), out_dir, name, rc=rc, meta=meta, dpi=dpi)


@dataclass
class FigureWriter:
    """Renders figures in ``workers`` processes (1: here, at once); :meth:`close` waits for all of them.

    Attributes
    ----------
    workers : int
        Processes (>= 1).
    progress : bool
        Show a progress bar while waiting for the figures.
    """

    workers: int
    progress: bool = False
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _futures: dict[Future, tuple[int, str]] = field(default_factory=dict, init=False, repr=False)
    _failed: list[tuple[int, str, BaseException]] = field(default_factory=list, init=False, repr=False)
    _submitted: int = field(default=0, init=False, repr=False)
    _processes: list[WorkerProcess] = field(default_factory=list, init=False, repr=False)
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def submit(self, fig: Figure, out_dir: Path, name: str, *, meta: dict, dpi: float) -> None:
        """Render ``fig`` as ``out_dir/<name>.pdf|png`` under the rcParams in force now."""
        rc, index = save_rc(), self._submitted
        self._submitted += 1
        try:
            payload = pickle.dumps(fig, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - any artist may refuse pickling; render the original here
            log.debug("figure %s cannot be pickled (%s: %s); rendered in this process", name, type(exc).__name__, exc)
            self._run_here(index, name, lambda: render_figure(fig, out_dir, name, rc=rc, meta=meta, dpi=dpi))
            return
        if self.workers <= 1:
            self._run_here(index, name, lambda: render_pickled(payload, out_dir, name, rc=rc, meta=meta, dpi=dpi))
            return
        self._wait(limit=QUEUE_PER_WORKER * self.workers)
        if self._pool is None:  # one thread per worker process, each feeding its own process
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="agnbench-figures")
        future = self._pool.submit(self._remote, payload, Path(out_dir), name, rc=rc, meta=meta, dpi=dpi)
        self._futures[future] = (index, name)

    def _remote(self, payload: bytes, out_dir: Path, name: str, **kwargs) -> None:
        """Render in this thread's worker process (started on its first figure)."""
        process = getattr(self._local, "process", None)
        if process is None:
            process = self._local.process = WorkerProcess()
            with self._lock:
                self._processes.append(process)
        process.render(payload, out_dir, name, **kwargs)

    def _run_here(self, index: int, name: str, render) -> None:
        try:
            render()
        except Exception as exc:  # noqa: BLE001 - collected and raised, naming the figure, by close()
            self._failed.append((index, name, exc))

    def _wait(self, *, limit: int = 0, bar: tqdm | None = None) -> None:
        """Collect finished figures until at most ``limit`` are pending."""
        if len(self._futures) <= limit:
            return
        for future in as_completed(list(self._futures)):
            index, name = self._futures.pop(future)
            exc = future.exception()
            if exc is not None:
                self._failed.append((index, name, exc))
            if bar is not None:
                bar.update()
            if len(self._futures) <= limit:
                return

    def close(self) -> None:
        """Wait for every figure; raise :class:`FigureRenderError` naming each one that failed."""
        try:
            with tqdm(total=len(self._futures), desc="figures", unit="fig", disable=not self.progress,
                      leave=False) as bar:
                self._wait(bar=bar)
        finally:
            self.abort()
        if self._failed:
            failed = sorted(self._failed, key=lambda item: item[0])  # in report order, whatever finished first
            names = "; ".join(f"{name}: {_describe(exc)}" for _, name, exc in failed)
            raise FigureRenderError(f"{len(failed)} report figure(s) failed to render ({names})") from failed[0][2]

    def abort(self) -> None:
        """Stop the workers; figures not yet started are dropped, those being rendered are finished."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for process in self._processes:
            process.stop()
        self._processes.clear()
        self._futures.clear()


def _describe(exc: BaseException) -> str:
    """``"<type>: <message>"`` of an error raised here or in a worker (whose message already reads so)."""
    return str(exc) if isinstance(exc, RemoteError) else f"{type(exc).__name__}: {exc}"


def active_writer() -> FigureWriter | None:
    """The writer of the enclosing :func:`figure_writer` block, or None (figures are then saved at once)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def figure_writer(workers: int, *, progress: bool = False) -> Iterator[FigureWriter]:
    """Within the block, :func:`~agnbench.reports.style.save_figure` renders through a :class:`FigureWriter`.

    Parameters
    ----------
    workers : int
        ``report.workers``: processes rendering figures; 0 = every usable core, 1 = in this process.
    progress : bool
        Show a progress bar while the last figures render.

    Raises
    ------
    FigureRenderError
        On leaving the block, if any figure failed to render (after all the others are written).
    """
    writer = FigureWriter(resolve_workers(workers), progress=progress)
    token = _ACTIVE.set(writer)
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise
    finally:
        _ACTIVE.reset(token)
    writer.close()
