"""Atomic file writes: a file is either complete or absent, never half-written.

Every file initcli writes goes to a temporary name in the same directory and is renamed into
place (``os.replace`` is atomic on POSIX), so an interrupted run leaves either the previous
complete file or none, never half of one.
"""

from __future__ import annotations

import errno
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported on use: `initcli fans` and `--help` never load numpy
    import numpy as np

from initcli.errors import EXIT_BAD_DATA, InitcliError


def unique_path(path: Path, force: bool = False, keep_suffix: bool = True) -> Path:
    """``path``, or ``name_2.ext``, ``name_3.ext``, ... if it exists (unless ``force``):
    a new result never silently replaces an earlier one. ``keep_suffix=False`` numbers the
    whole name (a directory like ``run_std=1.0_seed0`` has no extension)."""
    path = Path(path)
    if force or not path.exists():
        return path
    stem, suffix = (path.stem, path.suffix) if keep_suffix else (path.name, "")
    number = 2
    while (candidate := path.with_name(f"{stem}_{number}{suffix}")).exists():
        number += 1
    return candidate


def refuse_existing(path: Path, flag: str, force: bool) -> None:
    """A file the user named (``flag``) is never silently replaced: without ``force`` an
    existing ``path`` is refused, naming the fix."""
    if Path(path).exists() and not force:
        raise InitcliError(
            f"{flag} {str(path)!r} exists; use --force to replace it or choose another name",
            EXIT_BAD_DATA,
        )


def check_writable(path: Path, flag: str = "--out") -> None:
    """Fail early (before a long run) if ``path`` could not be created or written.

    Creates nothing: finds the nearest existing ancestor and checks it is a writable
    directory, so a bad command line leaves no trace.
    """
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InitcliError(
            f"{flag} {str(path)!r}: {str(probe)!r} is a file, not a directory; "
            f"choose another {flag}",
            EXIT_BAD_DATA,
        )
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise InitcliError(
            f"{flag} {str(path)!r}: {str(probe)!r} is not writable; choose another {flag}",
            EXIT_BAD_DATA,
        )


def ensure_directory(path: Path, what: str = "output directory", flag: str = "--out") -> Path:
    """Create ``path`` (and parents) or fail with one line saying why and what to do.

    ``flag`` is the option the path came from, named in the fix (``choose another with ...``).
    """
    path = Path(path)
    blocker = _file_in_the_way(path)
    if blocker is not None:
        where = "" if blocker == path else f" (in the way of {str(path)!r})"
        raise InitcliError(
            f"{what} {str(blocker)!r} exists and is a file, not a directory{where}; "
            f"choose another with {flag}",
            EXIT_BAD_DATA,
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InitcliError(
            f"{what} {str(path)!r} exists and is not a directory; choose another with {flag}",
            EXIT_BAD_DATA,
        ) from None
    except OSError as err:
        raise InitcliError(
            f"cannot create {what} {str(path)!r}: {err.strerror or err}; "
            f"choose another with {flag}",
            EXIT_BAD_DATA,
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InitcliError(
            f"{what} {str(path)!r} is not writable; choose another with {flag}", EXIT_BAD_DATA
        )
    return path


def _file_in_the_way(path: Path) -> Path | None:
    """The first existing non-directory among ``path``'s parents and itself (mkdir's ENOTDIR)."""
    for candidate in (*reversed(path.parents), path):
        try:
            if candidate.exists() and not candidate.is_dir():
                return candidate
        except (OSError, ValueError):  # unreadable or a NUL byte: mkdir will say why
            return None
    return None


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception (including KeyboardInterrupt) the temporary file is removed. OS errors
    while writing or renaming (disk full, ``path`` is a directory) become one-line
    :class:`InitcliError` s; the previous ``path``, if any, is left as it was.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        # SIGINT is held while the temporary file comes into being and while it is renamed:
        # a Ctrl-C there is raised as the block ends, inside this `try`, which removes it.
        with _interrupts_deferred():
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            tmp = Path(tmp_name)
            os.close(fd)
        yield tmp
        with _interrupts_deferred():
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise _write_error(path, err) from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: Path | None) -> None:
    if tmp is not None:
        with _interrupts_deferred():
            tmp.unlink(missing_ok=True)


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends (a no-op off the main thread or off POSIX)."""
    can_mask = hasattr(signal, "pthread_sigmask") and (
        threading.current_thread() is threading.main_thread()
    )
    if not can_mask:
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _write_error(path: Path, err: OSError) -> InitcliError:
    reason = err.strerror or str(err)
    # numpy's ndarray.tofile (np.save) reports a full disk as a short write with no errno:
    # "262144 requested and 19424 written"
    full = err.errno in (errno.ENOSPC, errno.EDQUOT) or (err.errno is None and _full(path))
    if full and err.errno is None:
        reason = f"no space left on device ({reason})"
    if isinstance(err, IsADirectoryError) or path.is_dir():
        fix = "remove or rename that directory, or choose another location"
    elif full:
        fix = "free some space or choose another location"
    else:
        fix = "choose another location"
    return InitcliError(f"cannot write {str(path)!r}: {reason}; {fix}", EXIT_BAD_DATA)


def _full(path: Path) -> bool:
    """Whether the file system holding ``path`` has under 1 MiB left."""
    import shutil

    try:
        return shutil.disk_usage(path.parent).free < 2**20
    except OSError:
        return False


def write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_with(path: Path, writer: Callable[[IO[bytes]], None]) -> Path:
    """Atomically write ``path`` by calling ``writer`` with an open binary file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        writer(handle)
    return Path(path)


def save_npy(path: Path, array: np.ndarray) -> Path:
    import numpy as np

    return write_with(path, lambda handle: np.save(handle, array))


def save_figure(path: Path, figure: Any, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (format from the suffix of ``path``)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return write_with(path, lambda handle: figure.savefig(handle, format=fmt, dpi=dpi))


class StagedDirectory:
    """A run's output directory built under a hidden sibling name and moved into place when
    :meth:`commit` is called, so that a run that fails (disk full, Ctrl-C, an error in a
    figure) leaves its directory complete or absent, never half of it.

    Onto an existing directory (``--force``) the staged files replace their namesakes one by
    one, and every name in ``owned`` that this run did not write is removed: a replaced run
    keeps none of the previous run's files (a figure this run skipped), and files that
    initcli does not write are left alone.
    """

    def __init__(self, final: Path, owned: frozenset[str]) -> None:
        self.final = Path(final)
        self.owned = owned
        ensure_directory(self.final if self.final.exists() else self.final.parent)
        for name in sorted(owned):  # before the run writes anything: a name it cannot replace
            if (self.final / name).is_dir():
                raise _write_error(
                    self.final / name, IsADirectoryError(errno.EISDIR, "Is a directory")
                )
        with _interrupts_deferred():
            self.path = _new_directory(self.final.parent, f".{self.final.name}.", ".partial")
        self.committed = False

    def commit(self, written: list[Path]) -> list[Path]:
        """Move the staged files into :attr:`final`; their paths there."""
        names = [Path(path).name for path in written]
        with _interrupts_deferred():
            try:
                if self.final.exists():
                    for name in names:
                        os.replace(self.path / name, self.final / name)
                    for name in self.owned.difference(names):
                        (self.final / name).unlink(missing_ok=True)
                    self.path.rmdir()
                else:
                    os.rename(self.path, self.final)
            except OSError as err:
                raise _write_error(self.final, err) from None
            self.committed = True
        return [self.final / name for name in names]

    def discard(self) -> None:
        import shutil

        with _interrupts_deferred():
            shutil.rmtree(self.path, ignore_errors=True)


def _new_directory(parent: Path, prefix: str, suffix: str) -> Path:
    """A new directory of a random name in ``parent``, with the permissions a plain mkdir
    gives (``tempfile.mkdtemp`` makes it 0700, which the renamed run directory would keep)."""
    import secrets

    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as err:
            raise _write_error(path, err) from None
        return path


@contextmanager
def staged_directory(final: Path, owned: frozenset[str]) -> Iterator[StagedDirectory]:
    """A :class:`StagedDirectory` for ``final``, discarded unless committed in the block.

    Errors that name a staged file name it at ``final`` instead (where the user will look).
    """
    stage = StagedDirectory(final, owned)
    try:
        yield stage
    except InitcliError as err:
        raise InitcliError(
            str(err).replace(str(stage.path), str(stage.final)), err.exit_code
        ) from None
    finally:
        if not stage.committed:
            stage.discard()
