"""What a compiled kernel would buy on configs/cnn_relu.yaml (issue 15's proposal, measured).

The profile of cnn_relu at batch 256 (bench/RESULTS.md) puts im2col and col2im, strided
numpy copies and slice-adds whose inner loops are one output row (8-32 values), at a third
of the run. This probe swaps exactly those two functions of :mod:`initcli.conv` for numba
loops (same layouts, same summation order, so every statistic is bit for bit the same: the
probe checks it) and times the whole run (propagation + statistics, one BLAS thread)
against numpy's route and the PyTorch twin, interleaved in one process, with malloc set
as the console program sets it (initcli.allocator). Also reported: the
GEMM-only time at the layers' exact shapes, the floor any im2col route has on numpy's BLAS.

numba is not a dependency of initcli: run this in a scratch environment that has it::

    python -m venv /tmp/nbv && /tmp/nbv/bin/pip install numba torch==2.13.0 -e .
    /tmp/nbv/bin/python bench/numba_probe.py [--rounds R]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import cases
from initcli import conv


def _kernels() -> tuple[Callable[..., None], Callable[..., None]]:
    import numba

    @numba.njit(cache=False)
    def gather_rows(
        xp: Any, cols: Any, st_h: int, st_w: int, d_h: int, d_w: int, per: bool
    ) -> None:
        # cols: (n, C, kh, kw, oh, ow) if per else (C, kh, kw, n, oh, ow); one output row
        # per innermost loop, written contiguously
        if per:
            n, c_in, kh, kw, oh, ow = cols.shape
        else:
            c_in, kh, kw, n, oh, ow = cols.shape
        for b in range(n):
            for c in range(c_in):
                for i in range(kh):
                    for j in range(kw):
                        for r in range(oh):
                            source = xp[b, c, r * st_h + i * d_h]
                            target = cols[b, c, i, j, r] if per else cols[c, i, j, b, r]
                            start = j * d_w
                            for s in range(ow):
                                target[s] = source[start + s * st_w]

    gather = gather_rows

    @numba.njit(cache=False)
    def scatter(dcols: Any, target: Any, st_h: int, st_w: int, d_h: int, d_w: int) -> None:
        # dcols: (m, C, kh, kw, oh, ow); target (m, C, Hp, Wp) zeroed here. Offsets are added
        # in np.ndindex order for every element, as conv._col2im does: the same sums.
        m, c_in, kh, kw, oh, ow = dcols.shape
        for b in range(m):
            for c in range(c_in):
                target[b, c] = 0.0
                for i in range(kh):
                    for j in range(kw):
                        for r in range(oh):
                            into = target[b, c, r * st_h + i * d_h]
                            values = dcols[b, c, i, j, r]
                            start = j * d_w
                            for s in range(ow):
                                into[start + s * st_w] += values[s]

    return gather, scatter


def install_numba_route(
    kernels: tuple[Callable[..., None], Callable[..., None]],
) -> Callable[[], None]:
    """Patch conv's im2col and col2im with the numba loops of :func:`_kernels` (compiled
    on their first call); returns the undo."""
    gather, scatter = kernels
    workspace = conv._Workspace
    original_columns, original_col2im = workspace.columns, conv._col2im

    def columns(
        self: Any, xp: np.ndarray, stride: Any, dilation: Any, per_example: bool = False
    ) -> np.ndarray:
        n, channels = xp.shape[:2]
        x4 = xp.reshape(n, channels, *([1] if xp.ndim == 3 else []), *xp.shape[2:])
        kernel = (1, *self.kernel) if xp.ndim == 3 else self.kernel
        out = (1, *self.out) if xp.ndim == 3 else self.out
        st = (1, *stride) if xp.ndim == 3 else tuple(stride)
        dil = (1, *dilation) if xp.ndim == 3 else tuple(dilation)
        shape = (n, channels, *kernel, *out) if per_example else (channels, *kernel, n, *out)
        cols = self.cols[: self.rows * n * self.positions].reshape(shape)
        gather(x4, cols, st[0], st[1], dil[0], dil[1], per_example)
        if per_example:
            return cols.reshape(n, self.rows, self.positions)
        return cols.reshape(self.rows, n * self.positions)

    def col2im(
        dcols: np.ndarray, target: np.ndarray, kernel: Any, out: Any, stride: Any, dilation: Any
    ) -> None:
        m, channels = target.shape[:2]
        flat = len(kernel) == 1
        t4 = target.reshape(m, channels, 1, target.shape[2]) if flat else target
        k2 = (1, *kernel) if flat else tuple(kernel)
        o2 = (1, *out) if flat else tuple(out)
        st = (1, *stride) if flat else tuple(stride)
        dil = (1, *dilation) if flat else tuple(dilation)
        scatter(dcols.reshape(m, channels, *k2, *o2), t4, st[0], st[1], dil[0], dil[1])

    workspace.columns = columns  # type: ignore[method-assign]
    conv._col2im = col2im

    def undo() -> None:
        workspace.columns = original_columns  # type: ignore[method-assign]
        conv._col2im = original_col2im

    return undo


def _stats(prep: cases.Prepared) -> list[tuple[float, ...]]:
    timed = cases.propagate_with_stats(prep)
    return [
        (s.preact_var, s.act_var, s.grad_var, s.weight_grad_var, s.bias_grad_var or 0.0)
        for s in timed.layers
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    # As `initcli run` sets it (and as a heap looks after a training step's first frees,
    # glibc raising its mmap threshold): without it every large tensor is a fresh mmap and
    # PyTorch's step, page-faulting, took 0.51 s here against 0.31 s in bench/run.py.
    from initcli.allocator import keep_freed_memory

    keep_freed_memory()
    case = cases.config_case("cnn_relu", batch=256)
    prep = cases.prepare(case)
    reference = _stats(prep)
    kernels = _kernels()
    started = time.perf_counter()
    undo = install_numba_route(kernels)
    compiled = _stats(prep)  # the first call compiles both kernels for these dtypes
    compile_s = time.perf_counter() - started
    undo()
    assert compiled == reference, "the numba route changed a statistic"
    twin = cases.torch_twin(prep, threads=1)
    twin.step()

    def numpy_run() -> None:
        cases.propagate_with_stats(prep)

    def numba_run() -> None:
        restore = install_numba_route(kernels)
        try:
            cases.propagate_with_stats(prep)
        finally:
            restore()

    best = {"numpy": float("inf"), "numba": float("inf"), "torch": float("inf")}
    for _ in range(args.rounds):  # interleaved: the machine's drift hits all three alike
        for name, run in (("numpy", numpy_run), ("numba", numba_run), ("torch", twin.step)):
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    gemm_only = _gemm_only(prep)
    inside = {"numpy": _time_inside(prep, None), "numba": _time_inside(prep, kernels)}
    print(f"cnn_relu batch 256, 1 thread, best of {args.rounds} interleaved rounds")
    rows = [
        ("numpy route", best["numpy"]),
        ("numba im2col/col2im", best["numba"]),
        ("PyTorch twin", best["torch"]),
        ("GEMMs alone", gemm_only),
    ]
    for label, seconds in rows:
        print(f"  {label:<20} {seconds:.3f} s  ({seconds / best['torch']:.2f}x torch)")
    print(f"  inside im2col + col2im: numpy {inside['numpy']:.3f} s, numba {inside['numba']:.3f} s")
    print(f"  numba first call (compiles the kernels) {compile_s:.2f} s; statistics identical")


def _time_inside(
    prep: cases.Prepared, kernels: tuple[Callable[..., None], Callable[..., None]] | None
) -> float:
    """Seconds spent inside im2col and col2im in one run (best of 3)."""
    undo = install_numba_route(kernels) if kernels is not None else (lambda: None)
    columns, col2im = conv._Workspace.columns, conv._col2im
    spent = [0.0]

    def clocked(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        return call

    conv._Workspace.columns = clocked(columns)  # type: ignore[method-assign]
    conv._col2im = clocked(col2im)
    best = float("inf")
    try:
        for _ in range(3):
            spent[0] = 0.0
            cases.propagate_with_stats(prep)
            best = min(best, spent[0])
    finally:
        conv._Workspace.columns = columns  # type: ignore[method-assign]
        conv._col2im = col2im
        undo()
    return best


def _gemm_only(prep: cases.Prepared, repeats: int = 3) -> float:
    """The conv and dense GEMMs of one forward + backward at cnn_relu's shapes, on
    preallocated operands in the layouts initcli.conv uses (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    batch = prep.inputs.shape[0]
    products: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = []
    for position, layer in enumerate(prep.network.layers):
        if getattr(layer, "weight_shape", None) is None:
            continue
        filters, rows = layer.weight_shape[0], int(np.prod(layer.weight_shape[1:]))
        columns = batch * int(np.prod(layer.out_shape[1:]))
        w = rng.standard_normal((filters, rows), dtype=np.float32)
        cols = rng.standard_normal((rows, columns), dtype=np.float32)
        gz = rng.standard_normal((filters, columns), dtype=np.float32)
        products.append((w, cols, gz, position > 0))  # no dL/dx for the first layer
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for w, cols, gz, grad_x in products:
            np.matmul(w, cols)  # forward
            np.matmul(cols, gz.T)  # dL/dW
            if grad_x:
                np.matmul(w.T, gz)  # dL/dcols
        times.append(time.perf_counter() - start)
    return min(times)


if __name__ == "__main__":
    main()
