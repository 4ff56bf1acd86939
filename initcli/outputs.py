"""Atomic file writes and JSON that is valid everywhere.

Every file initcli writes goes to a temporary name in the same directory and is renamed into
place (``os.replace`` is atomic on POSIX), so an interrupted run leaves either the previous
complete file or none, never half of one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from initcli.errors import EXIT_BAD_DATA, InitcliError


def ensure_directory(path: Path, what: str = "output directory") -> Path:
    """Create ``path`` (and parents) or fail with one line saying why and what to do."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InitcliError(
            f"{what} {str(path)!r} exists and is not a directory; choose another with --out",
            EXIT_BAD_DATA,
        ) from None
    except OSError as err:
        raise InitcliError(
            f"cannot create {what} {str(path)!r}: {err.strerror}; choose another with --out",
            EXIT_BAD_DATA,
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InitcliError(
            f"{what} {str(path)!r} is not writable; choose another with --out", EXIT_BAD_DATA
        )
    return path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception (including KeyboardInterrupt) the temporary file is removed.
    """
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise InitcliError(
            f"cannot write {str(path)!r}: {err.strerror}; choose another location",
            EXIT_BAD_DATA,
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    return write_with(path, lambda handle: np.save(handle, array))


def save_figure(path: Path, figure: Any, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (format from the suffix of ``path``)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return write_with(path, lambda handle: figure.savefig(handle, format=fmt, dpi=dpi))


def jsonable(value: Any) -> Any:
    """Plain JSON types; non-finite floats become null (JSON has no inf or NaN)."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    return value


def to_json(value: Any) -> str:
    """Deterministic, valid JSON text (same input, same bytes)."""
    return json.dumps(jsonable(value), indent=2, allow_nan=False) + "\n"
