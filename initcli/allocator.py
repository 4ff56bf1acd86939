"""Let the console program reuse the memory numpy frees, instead of faulting in new pages.

A run allocates and frees tensors of a few sizes, layer after layer. glibc's malloc serves
each request over its mmap threshold (128 KiB at start, raised as mmapped blocks are freed,
up to 32 MiB) with a fresh ``mmap`` and hands the block back to the kernel on ``free``; a
freed heap top over the trim threshold is handed back too. Every new tensor then has its
pages faulted in and zeroed by the kernel again. With mmap off for malloc
(``M_MMAP_MAX = 0``) and trimming only above 1 GiB, freed tensors stay in malloc's heap and
the next tensor of that size reuses them: the memory stays counted once in the peak, it is
just not returned to the system until the process exits.

Measured on the 2-core EPYC (bench/RESULTS.md, section "malloc": whole ``initcli run
--no-plots`` processes, interleaved): minor page faults fell from 18,600 to 13,900 on
``configs/cnn_relu.yaml --batch 256`` and from 74,700 to 29,500 on ``configs/skipinit.yaml``;
wall time 0.89 to 0.94 of glibc's default in that run (0.87 to 1.16 in two earlier ones, the
machine's noise being 10-30%), peak RSS within 3 MiB.

Only the console program calls :func:`keep_freed_memory`: an allocator is a process's
setting, and a host process that calls ``initcli.cli.main`` keeps its own. Not with
``--seeds K`` either: the draws' threads allocate from arenas of their own, which then hold
their freed blocks apart, and the peak rose by 7% (``cnn_relu --batch 256 --seeds 4``: 426
to 455 MiB). glibc only (the ``mallopt`` parameters are glibc's; musl and other systems are
left as they are).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

# glibc <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**30  # bytes of free heap top kept before any is handed back


def _glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc (``mallopt``'s parameters are glibc's)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None


def is_glibc() -> bool:
    return _glibc() is not None


def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep and reuse freed blocks; False where that is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    import ctypes

    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; the order does not matter, both are needed.
    return bool(mallopt(_M_MMAP_MAX, 0)) & bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
