"""One-pass mean and variance of large float32/float64 arrays, accumulated in float64.

``np.var(x, dtype=np.float64)`` would materialise a float64 copy of the whole tensor
(twice the memory of a float32 activation). Instead the array is read in blocks of
``_ROWS`` rows of ``_ROW`` elements, copied into one reused float64 buffer. Each row's mean
and sum of squared deviations from that mean are exact-shift two-pass results in float64;
the rows are merged with the law of total variance (Chan, Golub & LeVeque 1979):

    M2 = sum_i M2_i + sum_i n_i (mean_i - mean)^2,    mean = sum_i n_i mean_i / n,

a sum of non-negative terms, so it stays accurate when the mean is large against the spread
(sigmoid activations: mean 0.5, std 1e-3).

Speed: four vectorised passes over a cache-resident block, and no BLAS call longer than
``_ROW`` elements. Row sums and sums of squares are ``np.vecdot`` (one ``ddot`` per row);
OpenBLAS runs level-1 calls of more than 10,000 elements on all its threads
(``kernel/x86_64/ddot.c``), and on a machine whose other core is busy each such call waits
for a descheduled thread: 65,536-element ``np.dot`` chunks measured 11 to 171 ns per element
there, these 8,192-element rows 1.3 to 1.5 ns (2-core EPYC, bench/RESULTS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_ROW = 8192  # elements per BLAS call: at most OpenBLAS's single-thread limit of 10,000
_ROWS = 16  # rows per block: a 1 MiB float64 buffer


@dataclass(frozen=True)
class Moments:
    count: int
    mean: float
    var: float  # population variance (ddof = 0)
    finite: bool  # False when any element is inf or NaN

    @property
    def second_moment(self) -> float:
        return self.var + self.mean**2


def moments(values: np.ndarray) -> Moments:
    """Mean and variance of all elements of ``values`` in float64, one read of the array."""
    flat = values.reshape(-1)
    count = flat.size
    if count == 0:
        return Moments(0, math.nan, math.nan, True)
    with np.errstate(all="ignore"):  # inf/NaN propagate into `finite` below; no warnings
        mean, m2 = _accumulate(flat)
    finite = math.isfinite(mean) and math.isfinite(m2)
    var = m2 / count if finite else math.nan
    if not finite:
        mean = _nonfinite_mean(flat)
    return Moments(count, mean, var, finite)


def _accumulate(flat: np.ndarray) -> tuple[float, float]:
    """(mean, sum of squared deviations) of ``flat``, row by row, merged exactly."""
    count = flat.size
    if count <= _ROW:  # one row: the plain two-pass formula
        work = flat.astype(np.float64)
        mean = float(work.sum()) / count
        work -= mean
        return mean, float(np.dot(work, work))
    full_rows, tail = divmod(count, _ROW)
    row_means = np.empty(full_rows + (tail > 0))
    row_m2 = np.empty_like(row_means)
    block = _ROW * _ROWS
    buffer = np.empty(min(block, full_rows * _ROW) or tail)
    ones = np.ones(_ROW)
    for start in range(0, full_rows * _ROW, block):
        rows = min(_ROWS, full_rows - start // _ROW)
        first = start // _ROW
        work = buffer[: rows * _ROW].reshape(rows, _ROW)
        np.copyto(work, flat[start : start + rows * _ROW].reshape(rows, _ROW), casting="unsafe")
        means = row_means[first : first + rows]
        _row_dot(work, ones, means)
        means /= _ROW
        work -= means[:, None]
        _row_dot(work, work, row_m2[first : first + rows])
    if tail:
        work = buffer[:tail]
        np.copyto(work, flat[count - tail :], casting="unsafe")
        row_means[-1] = work.sum() / tail
        work -= row_means[-1]
        row_m2[-1] = np.dot(work, work)
    weights = np.full(row_means.size, float(_ROW))
    if tail:
        weights[-1] = tail
    mean = float(np.dot(weights, row_means)) / count
    deviation = row_means - mean
    between = float(np.dot(weights, deviation * deviation))
    return mean, float(row_m2.sum()) + between


def _row_dot(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = a[i] . b[i]`` (``b`` may be one row, broadcast), one ``ddot`` per row."""
    if hasattr(np, "vecdot"):  # NumPy >= 2.0
        np.vecdot(a, b, out=out)
    else:  # a stack of (1 x n) @ (n x 1) products: also one ddot each
        rows = np.broadcast_to(b, a.shape)
        np.matmul(a[:, None, :], rows[:, :, None], out=out[:, None, None])


def _nonfinite_mean(flat: np.ndarray) -> float:
    """Report +-inf when every non-finite value agrees in sign, NaN otherwise."""
    with np.errstate(all="ignore"):
        total = float(np.add.reduce(flat, dtype=np.float64))
    return total / flat.size
