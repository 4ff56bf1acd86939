"""GEMM that accumulates into strided operands: numpy's own OpenBLAS, called directly.

``np.matmul`` writes a fresh product; a convolution computed without im2col needs
``C += A @ B`` on windows of larger arrays (leading dimension != row length), one call per
kernel offset (:mod:`initcli.conv`, ``implicit`` path). The PyPI wheels of numpy ship
OpenBLAS as ``numpy.libs/libscipy_openblas64_*.so`` with 64-bit integers and the symbol
prefix ``scipy_`` (``scipy_cblas_sgemm64_``; see the scipy-openblas64 package). Where
numpy was built against another BLAS that file is absent and :func:`gemm` returns None:
the caller keeps its numpy route.

The same library's thread count is read and, for the length of a block, set here
(:func:`openblas_threads`, :func:`openblas_limited`): a convolution call holds OpenBLAS to
one thread and runs threads of its own (:mod:`initcli.sharing`); ``initcli run`` leaves a
core to its figure helper while that imports matplotlib (:func:`openblas_limited_while`).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS enums

Gemm = Callable[..., None]


@functools.cache
def bundled_openblas() -> ctypes.CDLL | None:
    """The OpenBLAS that numpy's wheels bundle (``numpy.libs/libscipy_openblas*``), or None
    where numpy was built against another BLAS. Looked up once per process (a glob and a
    dlopen took 0.13 ms, asked by every convolution call)."""
    root = Path(np.__file__).resolve().parent.parent
    for path in sorted((root / "numpy.libs").glob("libscipy_openblas*.so*")):
        try:
            return ctypes.CDLL(str(path))
        except OSError:
            continue
    return None


def gemm(dtype: np.dtype) -> Gemm | None:
    """``cblas_?gemm(layout, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)`` of
    numpy's bundled OpenBLAS for float32 / float64 (pointers as ints), or None. Only the
    64-bit-integer build has these symbols (the ``c_int64`` arguments below)."""
    names = {
        np.dtype(np.float32): "scipy_cblas_sgemm64_",
        np.dtype(np.float64): "scipy_cblas_dgemm64_",
    }
    name = names.get(np.dtype(dtype))
    if name is None:
        return None
    library = bundled_openblas()
    function = None if library is None else getattr(library, name, None)
    if function is None:
        return None
    real = ctypes.c_float if np.dtype(dtype) == np.float32 else ctypes.c_double
    index, pointer = ctypes.c_int64, ctypes.c_void_p
    function.argtypes = [index] * 6 + [real, pointer, index, pointer, index, real, pointer, index]
    function.restype = None
    return function


def openblas_threads(library: ctypes.CDLL | None) -> int:
    """How many threads numpy's bundled OpenBLAS uses now (what ``OPENBLAS_NUM_THREADS``,
    threadpoolctl or ``--seeds`` set), or 1 without that library."""
    getter = (
        None if library is None else getattr(library, "scipy_openblas_get_num_threads64_", None)
    )
    if getter is None:
        return 1
    getter.restype = ctypes.c_int
    return max(1, int(getter()))


def set_openblas_threads(library: ctypes.CDLL | None, threads: int) -> bool:
    """Let numpy's bundled OpenBLAS use ``threads`` threads from now on (process-wide, as
    threadpoolctl's limit, which calls the same function); False without that library."""
    setter = (
        None if library is None else getattr(library, "scipy_openblas_set_num_threads64_", None)
    )
    if setter is None:
        return False
    setter.argtypes = [ctypes.c_int]
    setter(threads)
    return True


@contextmanager
def openblas_limited(library: ctypes.CDLL, threads: int) -> Iterator[None]:
    """Let numpy's bundled OpenBLAS use at most ``threads`` threads inside the block, then
    restore the count it had.

    For callers that run their own threads, each making small GEMMs: OpenBLAS would
    otherwise share every call among its own threads as well."""
    with openblas_limited_while(library, threads, lambda: True):
        yield


@contextmanager
def openblas_limited_while(
    library: ctypes.CDLL | None, threads: int, busy: Callable[[], bool]
) -> Iterator[Callable[[], None]]:
    """Let numpy's bundled OpenBLAS use at most ``threads`` threads while ``busy()`` (another
    process of ours using a core), restoring its count once ``busy()`` is False: the block
    gets a ``check`` to call between steps (cheap: it asks ``busy`` only while limited).

    Why: ``initcli run`` forks a helper that imports matplotlib while the network runs.
    Beside it, two OpenBLAS threads on two cores wait for each other at every GEMM: on
    mlp_tanh the computation took 0.28-0.35 s instead of 0.11 s; with one thread until
    the helper is ready, 0.15 s, and the plots' overhead went from +0.54-0.63 s to
    +0.46-0.47 s (bench/RESULTS.md). The thread count does not change a number: OpenBLAS
    splits the output of a GEMM between threads, never its sums (the pins and `--json` are
    byte-identical on 1 and 2 threads)."""
    before = openblas_threads(library)
    limited = before > threads and busy() and set_openblas_threads(library, threads)

    def check() -> None:
        nonlocal limited
        if limited and not busy():
            set_openblas_threads(library, before)
            limited = False

    try:
        yield check
    finally:
        if limited:
            set_openblas_threads(library, before)
