"""A convolution's per-example work shared among threads of its own, on the cores OpenBLAS
was given.

A convolution layer is many small GEMMs, one or a few per example (im2col's ``(O, K) @
(K, P)`` products, the implicit GEMM's one per kernel offset), with column copies and col2im
between them: work that OpenBLAS's own threads barely speed up (cnn_relu at batch 256 took
as long on 2 cores as on 1). Shared by examples among threads, each GEMM on one OpenBLAS
thread, a layer ran 1.3-1.7x faster on 2 cores (bench/RESULTS.md).

:class:`Shares` is used inside ``with``: no thread outlives it, and OpenBLAS is held to one
thread meanwhile, whether the call is shared or not (its idle threads would spin on the
cores the shares need, each share's GEMMs would ask for every core again, and a GEMM can
round differently on 1 and 2 OpenBLAS threads). Numerics: the callers give each thread
whole examples and keep every sum across examples (dW) on one thread in its usual order,
so a call gives, bit for bit, what it gives on one thread, whatever the thread count or
the batch it is part of. The price: a call with nothing to share beside dW (a network's
first layer, which needs no dL/dx) computes dW on one core.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING

from initcli import blas

if TYPE_CHECKING:  # concurrent.futures (~6 ms to import) only where a call is shared
    from concurrent.futures import ThreadPoolExecutor

# Elements of (im2col's or the implicit GEMM's implied) column matrix per call below which
# a call stays on one thread: starting the threads costs ~0.2 ms and each hand-off ~0.1 ms,
# so sharing broke even at 2**20 (16 channels 3x3 on 16x16, 2-core EPYC) and was 1.3-1.6x
# faster at 2**21 and 2**22.
SHARED_MIN = 2**21


class Shares:
    """Runs work on ``threads`` threads, the calling thread being thread 0."""

    def __init__(self, threads: int, library: ctypes.CDLL | None) -> None:
        self.threads = threads
        self.library = library
        self.pool: ThreadPoolExecutor | None = None
        self.stack = ExitStack()

    def __enter__(self) -> Shares:
        try:
            # Also on one thread: then a call's values never depend on OpenBLAS's count
            # (some GEMM shapes round differently on 1 and 2 OpenBLAS threads) nor on
            # whether the call was shared (so nor on the batch size).
            if self.library is not None:
                self.stack.enter_context(blas.openblas_limited(self.library, 1))
            if self.threads > 1:
                from concurrent.futures import ThreadPoolExecutor

                self.pool = self.stack.enter_context(
                    ThreadPoolExecutor(self.threads - 1, thread_name_prefix="initcli-conv")
                )
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()  # joins the threads, then restores OpenBLAS's thread count

    @property
    def shared(self) -> bool:
        return self.pool is not None

    def run(self, work: Callable[[slice], None], count: int) -> None:
        """``work(part)`` for contiguous parts of ``range(count)``, one per thread."""
        self._split(None, work, count, self.threads)

    def beside(
        self, first: Callable[[], object], work: Callable[[slice], None], count: int
    ) -> None:
        """``first()`` on the calling thread while the other threads take contiguous parts
        of ``range(count)``; on one thread, ``first()`` and then all of it."""
        if self.pool is None:
            first()
            work(slice(0, count))
            return
        self._split(first, work, count, self.threads - 1)

    def after(
        self,
        first: Callable[[], object],
        each: Callable[[int, tuple[int, int]], None],
        items: Sequence[tuple[int, int]],
    ) -> None:
        """``first()`` on the calling thread, ``each(thread, item)`` for every item on
        whichever thread is free first (the others start at once, the caller once
        ``first`` is done)."""
        if self.pool is None:
            first()
            for item in items:
                each(0, item)
            return
        queue = iter(items)
        lock = threading.Lock()
        failed = threading.Event()  # after an error (or Ctrl-C) the rest is not started

        def drain(thread: int) -> None:
            try:
                while not failed.is_set():
                    with lock:
                        item = next(queue, None)
                    if item is None:
                        return
                    each(thread, item)
            except BaseException:
                failed.set()
                raise

        def mine() -> None:
            try:
                first()
            except BaseException:
                failed.set()
                raise
            drain(0)

        self._wait(mine, [(drain, thread) for thread in range(1, self.threads)])

    def _split(
        self,
        first: Callable[[], object] | None,
        work: Callable[[slice], None],
        count: int,
        ways: int,
    ) -> None:
        ways = max(1, min(ways, count))
        parts = [slice(i * count // ways, (i + 1) * count // ways) for i in range(ways)]
        if self.pool is None or (first is None and ways == 1):
            if first is not None:
                first()
            for part in parts:
                work(part)
            return
        if first is None:  # the caller takes the first part
            mine, theirs = parts[0], parts[1:]
            self._wait(lambda: work(mine), [(work, part) for part in theirs])
        else:
            self._wait(first, [(work, part) for part in parts])

    def _wait(
        self, mine: Callable[[], object], theirs: list[tuple[Callable[..., None], object]]
    ) -> None:
        """``mine()`` here while the pool runs ``theirs``; every one is finished before an
        error (the first) is raised."""
        from concurrent.futures import wait

        assert self.pool is not None
        futures = [self.pool.submit(function, argument) for function, argument in theirs]
        try:
            mine()
        finally:
            wait(futures)
        for future in futures:
            future.result()


def shares_for(threads: int | None, elements: int) -> Shares:
    """``threads`` (None: as many as OpenBLAS uses now, or 1 for a call of fewer than
    :data:`SHARED_MIN` column elements, where hand-offs would cost more than they save)."""
    library = blas.bundled_openblas()
    if threads is None:
        threads = blas.openblas_threads(library) if elements >= SHARED_MIN else 1
    return Shares(max(1, threads), library)
