"""Figure-rendering worker processes: fresh interpreters that read pickled figures and write their files.

Each worker is ``python -c "...serve()"`` started with :mod:`subprocess` (fork + exec: a new interpreter, safe
whatever threads torch, XGBoost or OpenMP run in the parent), so unlike :mod:`multiprocessing`'s ``spawn`` it
never re-imports the caller's ``__main__``: a script that calls ``build_report`` at module level, without an
``if __name__ == "__main__":`` guard, works as it always did. The protocol is one pickle per message on the
worker's stdin (a task) and on a private copy of its stdout (the reply: None, or the error as text); the worker's
own prints go to stderr. :class:`WorkerProcess` is used by one thread at a time.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import traceback
from pathlib import Path

__all__ = ["RemoteError", "WorkerProcess", "serve"]

#: The command a worker runs.
_SERVE = "from agnbench.reports.figure_worker import serve; serve()"
#: Seconds a worker gets to exit after its stdin is closed, before it is killed.
STOP_TIMEOUT_S = 10.0


class RemoteError(RuntimeError):
    """An error raised in a worker process; the message is ``"<type>: <message>"``, the traceback is kept."""

    def __init__(self, message: str, remote_traceback: str) -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback
        if remote_traceback:
            self.add_note(f"in the worker process:\n{remote_traceback}")


def serve() -> None:
    """Worker loop: render each task read from stdin; reply None or ``(message, traceback)``; stop at EOF."""
    from agnbench.reports.figure_writer import render_pickled

    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything printed must not corrupt the replies
    tasks = sys.stdin.buffer
    while True:
        try:
            payload, out_dir, name, kwargs = pickle.load(tasks)
        except EOFError:
            return
        try:
            render_pickled(payload, out_dir, name, **kwargs)
            reply = None
        except Exception as exc:  # noqa: BLE001 - sent back, and raised there naming the figure
            reply = (f"{type(exc).__name__}: {exc}", traceback.format_exc())
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


class WorkerProcess:
    """One worker process, started on first use and again after it died."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        # the worker imports from this process's sys.path (as multiprocessing's spawn does): the same agnbench
        code = f"import sys; sys.path[:] = {[p for p in sys.path if isinstance(p, str)]!r}; {_SERVE}"
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def render(self, payload: bytes, out_dir: Path, name: str, **kwargs) -> None:
        """Render one pickled figure; raise :class:`RemoteError` with the worker's error if it failed."""
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        try:
            pickle.dump((payload, Path(out_dir), name, kwargs), self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
            reply = pickle.load(self._proc.stdout)
        except (BrokenPipeError, EOFError, pickle.UnpicklingError) as exc:
            code = self._proc.wait()
            self._proc = None
            raise RemoteError(f"the worker process rendering it died (exit code {code})", "") from exc
        if reply is not None:
            raise RemoteError(*reply)

    def stop(self) -> None:
        """Close the worker's stdin (it exits) and wait for it; kill it if it does not exit in time."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
