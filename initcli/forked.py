"""Run a few independent jobs side by side in forked children, every child reaped on return.

Used to draw a run's figures at once: matplotlib lays out and rasterises text in Python
under the GIL, so threads would take turns, while forked children (which inherit the
imported matplotlib and the computed result, copy-on-write) draw on the other cores.

Only on Linux (fork after imports is safe there; macOS frameworks are not fork-safe) and
with more than one core; elsewhere the jobs run one after the other in this process, with
the same results. Each job's return value comes back pickled through a pipe; an
:class:`~initcli.errors.InitcliError` raised in a child is raised again here with its
message and exit code.

Signals: a child ignores SIGINT (the terminal sends Ctrl-C to the whole process group) and
turns SIGTERM into KeyboardInterrupt, so it stops only when this process says so, through
the cleanup of whatever file it was writing (outputs.atomic_path). When this process is
interrupted or fails, it sends SIGTERM to the children still running and repeats it to each
until that child has gone (:func:`_stop`: one signal can be lost just before a blocking call).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from initcli.errors import InitcliError

T = TypeVar("T")

_HELD = {signal.SIGINT, signal.SIGTERM}


def can_fork() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def run_side_by_side(jobs: Sequence[Callable[[], T]], parallel: bool = True) -> list[T]:
    """``[job() for job in jobs]``: the first job in this process while each other job runs
    in its own forked child (for the handful of figures of a run: the scheduler shares
    the cores among them); results in the order of ``jobs``.

    The caller must have no other Python thread running (fork copies only this one).
    """
    if not parallel or len(jobs) < 2 or not can_fork():
        return [job() for job in jobs]
    results: list[Any] = [None] * len(jobs)
    with _children() as running:
        for index in range(1, len(jobs)):
            running[index] = _fork(jobs[index])
        results[0] = jobs[0]()
        for index in range(1, len(jobs)):
            pid, read_fd = running[index]
            data = _read_all(read_fd)
            with _signals_held():  # reaped and forgotten together, or neither
                del running[index]
                os.close(read_fd)
                status = _reap(pid)
            results[index] = _result(data, pid, status)
    return results


class Helper:
    """A child forked ahead of time: it runs ``prepare`` (an import, say) while this process
    goes on, then one ``call(function, *args)`` sent to it; see :func:`helper_process`."""

    def __init__(self, prepare: Callable[[], None], fork: bool) -> None:
        self._prepare = prepare
        self._child: _Child | None = None
        self._sent = False
        self._pending: tuple[Callable[..., Any], tuple[Any, ...]] | None = None  # not forked
        self._calls_fd: int | None = None
        self._prepared_fd: int | None = None  # the child writes one byte once prepared
        if fork:
            calls_read, calls_write = os.pipe()
            prepared_read, prepared_write = os.pipe()
            _widen(calls_write)
            try:
                job = _serve_one_call(prepare, calls_read, prepared_write)
                self._child = _fork(job, (calls_write, prepared_read))
            except BaseException:  # no child: the parent's ends go too
                os.close(prepared_read)
                os.close(calls_write)
                raise
            finally:
                os.close(calls_read)
                os.close(prepared_write)
            self._calls_fd = calls_write
            self._prepared_fd = prepared_read

    @property
    def forked(self) -> bool:
        return self._child is not None

    def prepared(self) -> bool:
        """Whether the child has finished ``prepare`` (or has gone: a failed ``prepare``
        is said by :meth:`receive`); True when no child was forked. Never waits."""
        if self._prepared_fd is None:  # never forked, or already told
            return True
        import select

        readable, _, _ = select.select([self._prepared_fd], [], [], 0)
        if readable:  # its byte, or end of file when the child has left
            self._close_prepared()
        return self._prepared_fd is None

    def _close_prepared(self) -> None:
        if self._prepared_fd is not None:
            os.close(self._prepared_fd)
            self._prepared_fd = None

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in the child (``function`` and ``args`` are pickled: a module-
        level function), or here after ``prepare`` when no child was forked."""
        self.send(function, *args)
        return self.receive()

    def send(self, function: Callable[..., Any], *args: Any) -> None:
        """Hand ``function(*args)`` to the child and go on (:meth:`receive` waits for its
        answer). Returns once the pipe holds the call: at once for a call that fits in the
        pipe's buffer (1 MiB, :func:`_widen`), else when the child reads it, after ``prepare``.
        Once only."""
        if self._pending is not None or self._sent:
            raise RuntimeError("a helper takes one call")
        self._sent = True
        if self._child is None or self._calls_fd is None:
            self._pending = (function, args)
            return
        calls_fd, self._calls_fd = self._calls_fd, None
        # A child that failed in ``prepare`` has left: its answer (receive) says why.
        with suppress(BrokenPipeError), os.fdopen(calls_fd, "wb") as pipe:
            pipe.write(pickle.dumps((function, args)))

    def receive(self) -> Any:
        """The answer of the call :meth:`send` handed over (its exception, raised here)."""
        if self._pending is not None:
            (function, args), self._pending = self._pending, None
            self._prepare()
            return function(*args)
        if self._child is None or not self._sent:
            raise RuntimeError("no call is waiting for an answer")
        pid, read_fd = self._child
        data = _read_all(read_fd)
        status = self._finish()
        return _result(data, pid, status)

    def _finish(self, stop: bool = False) -> int:
        """Close the pipes and reap the child: after its answer, or (``stop``) stopping it
        with SIGTERM first."""
        with _signals_held():
            if self._calls_fd is not None:
                os.close(self._calls_fd)
                self._calls_fd = None
            self._close_prepared()
            status = 0
            if self._child is not None:
                pid, read_fd = self._child
                self._child = None
                os.close(read_fd)
                status = _stop(pid) if stop else _reap(pid)
            return status

    def close(self) -> None:
        """Stop the child if it is still there (it was never called, or this process is
        leaving on an error) and reap it."""
        self._finish(stop=True)


def _widen(pipe_fd: int) -> None:
    """Let the pipe hold a call of up to 1 MiB (Linux's default pipe-max-size for any user;
    the default buffer is 64 KiB), so that :meth:`Helper.send` returns at once."""
    import fcntl

    with suppress(AttributeError, OSError):  # F_SETPIPE_SZ: Linux only; refused: keep 64 KiB
        fcntl.fcntl(pipe_fd, fcntl.F_SETPIPE_SZ, 1 << 20)


def _serve_one_call(
    prepare: Callable[[], None], calls_fd: int, prepared_fd: int
) -> Callable[[], Any]:
    def serve() -> Any:
        try:
            prepare()
            with suppress(OSError):  # the parent has stopped listening: nothing to tell
                os.write(prepared_fd, b"p")
        finally:
            os.close(prepared_fd)  # end of file for the parent, also when prepare failed
        data = _read_all(calls_fd)
        if not data:  # the parent went on without calling
            return None
        function, args = pickle.loads(data)
        return function(*args)

    return serve


@contextmanager
def helper_process(prepare: Callable[[], None], enabled: bool = True) -> Iterator[Helper]:
    """A :class:`Helper` forked now (when ``enabled`` and on Linux), stopped and reaped when
    the block ends, whatever way it ends. Fork it before starting any thread."""
    helper = Helper(prepare, fork=enabled and can_fork())
    try:
        yield helper
    finally:
        helper.close()


_Child = tuple[int, int]  # pid, read end of its result pipe


@contextmanager
def _children() -> Iterator[dict[int, _Child]]:
    running: dict[int, _Child] = {}
    try:
        yield running
    finally:
        for pid, _ in running.values():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid, read_fd in running.values():
            os.close(read_fd)
            _stop(pid)


def _fork(job: Callable[[], Any], close_in_child: Sequence[int] = ()) -> _Child:
    read_fd, write_fd = os.pipe()
    # Signals are held across fork, so the child sets its handlers before any can arrive.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # the child: never returns into the caller's code
        try:
            try:
                for fd in (read_fd, *close_in_child):
                    os.close(fd)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, _interrupt_once)
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
                outcome = _outcome(job)
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(outcome)
            except BaseException:  # the parent is gone, or SIGTERM came after the job
                pass
            # From here no signal is delivered; the one KeyboardInterrupt that SIGTERM can
            # raise lands above or in this `try`, never past the `finally`.
            signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        finally:
            os._exit(0)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    os.close(write_fd)
    return pid, read_fd


def _interrupt_once(_signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _outcome(job: Callable[[], Any]) -> bytes:
    try:
        return pickle.dumps(("ok", job()))
    except InitcliError as err:
        return pickle.dumps(("initcli", (err.message, err.exit_code)))
    except KeyboardInterrupt:
        return pickle.dumps(("interrupted", None))
    except BaseException as err:  # a bug: its type and message reach the parent
        return pickle.dumps(("crash", f"{type(err).__name__}: {err}"))


def _read_all(read_fd: int) -> bytes:
    chunks = []
    while chunk := os.read(read_fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _result(data: bytes, pid: int, status: int) -> Any:
    if not data:
        raise RuntimeError(f"a forked job (pid {pid}) ended without a result, status {status}")
    kind, payload = pickle.loads(data)
    if kind == "ok":
        return payload
    if kind == "initcli":
        message, exit_code = payload
        raise InitcliError(message, exit_code)
    if kind == "interrupted":
        raise KeyboardInterrupt
    raise RuntimeError(f"a forked job failed: {payload}")


@contextmanager
def _signals_held() -> Iterator[None]:
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# Seconds between repeats of SIGTERM to a child that has not gone yet (see _stop).
SIGTERM_REPEAT = 0.05


def _stop(pid: int) -> int:
    """SIGTERM, repeated until the child has gone; its wait status.

    One SIGTERM can be lost: CPython runs a Python signal handler at the next bytecode, so a
    signal that lands just before a blocking call (a sleep, a read) leaves the call blocked
    with the handler pending until the call returns. Measured with two children sleeping
    20 s and SIGTERM sent once: 2 to 4 of 300 rounds waited the full 20 s. A repeat
    interrupts the call and the pending handler runs; a child that has acted ignores
    SIGTERM from then on (_interrupt_once), and a zombie (not yet reaped here, so its pid
    is not reused) ignores it too.
    """
    pause = 0.001  # most children are gone within a few ms: look again soon, then less often
    while True:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        if done:
            return status
        time.sleep(pause)
        pause = min(2 * pause, SIGTERM_REPEAT)


def _reap(pid: int) -> int:
    try:
        return os.waitpid(pid, 0)[1]  # retried on EINTR by Python itself (PEP 475)
    except ChildProcessError:
        return 0
