"""Mean and variance of large float32/float64 arrays, merged in float64 row by row.

``np.var(x, dtype=np.float64)`` would materialise a float64 copy of the whole tensor
(twice the memory of a float32 activation). Instead the array is read in blocks of
``_ROWS`` rows of ``_ROW`` elements, copied into one reused float64 buffer. Each row's mean
and sum of squared deviations from that mean are exact-shift two-pass results in float64;
the rows are merged with the law of total variance (Chan, Golub & LeVeque 1979):

    M2 = sum_i M2_i + sum_i n_i (mean_i - mean)^2,    mean = sum_i n_i mean_i / n,

a sum of non-negative terms, so it stays accurate when the mean is large against the spread
(sigmoid activations: mean 0.5, std 1e-3).

Speed (float64 route): four vectorised passes over a cache-resident block, and no BLAS call
longer than ``_ROW`` elements. Row sums and sums of squares are ``np.vecdot`` (one ``ddot``
per row); OpenBLAS runs level-1 calls of more than 10,000 elements on all its threads
(``kernel/x86_64/ddot.c``), and on a machine whose other core is busy each such call waits
for a descheduled thread: 65,536-element ``np.dot`` chunks measured 11 to 171 ns per element
there, these 8,192-element rows 1.3 to 1.5 ns (2-core EPYC, bench/RESULTS.md).

float32 arrays (every tensor of a run) take a faster route, ``_float32_rows``: each row's
sum and sum of squares come straight from single-precision ``vecdot`` calls (no float64
copy), and only the per-row results are widened and merged as above. Single-precision
accumulation of 8,192 terms is accurate to about 1e-6 relative, the size of the float32
rounding already in every GEMM of the run and a thousandth of the sampling noise of a
variance estimated from a batch. Cancellation is what could make it worse, so a row is
taken directly only when mean^2 <= var / 10 (the subtraction S2 - S1^2/n then loses at most
a factor 1.1); other rows are first shifted by their single-precision mean (x - shift is
exact for x within a factor 2 of the shift, Sterbenz) and summed again. Rows whose sum of
squares could have overflowed or underflowed float32 (outside [1e-24, 1e30]: exploding or
vanishing signals, the very cases initcli is asked about) or are not finite send the whole
array down the float64 route, so those keep its range and exactness. Measured on 2^20
standard normal float32 values, one thread: 0.22 ms against 1.05 ms for the float64 route;
0.65 ms when every row needs the shift (ReLU activations).
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
    """Mean and variance of all elements of ``values``, as float64 (see the module doc)."""
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
        return _two_pass(flat)
    full_rows, tail = divmod(count, _ROW)
    fast = None
    if flat.dtype == np.float32:
        fast = _float32_rows(flat[: full_rows * _ROW].reshape(full_rows, _ROW))
    if fast is not None:
        row_means, row_m2 = fast
        if tail:
            tail_mean, tail_m2 = _two_pass(flat[count - tail :])
            row_means = np.append(row_means, tail_mean)
            row_m2 = np.append(row_m2, tail_m2)
        return _merge(row_means, row_m2, count, tail)
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
    return _merge(row_means, row_m2, count, tail)


def _merge(row_means: np.ndarray, row_m2: np.ndarray, count: int, tail: int) -> tuple[float, float]:
    """Chan et al.'s merge of rows of ``_ROW`` elements (the last has ``tail`` if non-zero)."""
    weights = np.full(row_means.size, float(_ROW))
    if tail:
        weights[-1] = tail
    mean = float(np.dot(weights, row_means)) / count
    deviation = row_means - mean
    between = float(np.dot(weights, deviation * deviation))
    return mean, float(row_m2.sum()) + between


def _two_pass(values: np.ndarray) -> tuple[float, float]:
    """(mean, sum of squared deviations) of a short vector in float64."""
    work = values.astype(np.float64)
    mean = float(work.sum()) / work.size
    work -= mean
    return mean, float(np.dot(work, work))


# float32 sums of squares outside this range may have lost terms to underflow or overflowed
# on the way (float32 spans 1.2e-38 to 3.4e38; a row adds 8,192 terms): redo those in float64.
_FLOAT32_SAFE = (1e-24, 1e30)


def _float32_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-row (mean, sum of squared deviations) of a float32 (rows, _ROW) array, as float64.

    None when some row's sum of squares left float32's safe range (the caller redoes the
    whole array in float64).
    """
    ones = np.ones(_ROW, dtype=np.float32)
    sums = np.empty(rows.shape[0], dtype=np.float32)
    squares = np.empty_like(sums)
    _row_dot(rows, ones, sums)
    _row_dot(rows, rows, squares)
    s1 = sums.astype(np.float64)
    s2 = squares.astype(np.float64)
    means = s1 / _ROW
    m2 = s2 - s1 * means
    for chunk in np.array_split(_needs_shift(s1, s2), max(1, rows.shape[0] // _ROWS)):
        if chunk.size == 0:
            continue
        shift = sums[chunk] * np.float32(1.0 / _ROW)  # a power of two: exact
        deviations = rows[chunk]  # a copy of a few rows, reused in cache
        deviations -= shift[:, None]
        chunk_s1 = np.empty(chunk.size, dtype=np.float32)
        chunk_s2 = np.empty_like(chunk_s1)
        _row_dot(deviations, ones, chunk_s1)
        _row_dot(deviations, deviations, chunk_s2)
        wide_s1 = chunk_s1.astype(np.float64)
        s2[chunk] = chunk_s2
        means[chunk] = shift + wide_s1 / _ROW
        m2[chunk] = s2[chunk] - wide_s1 * wide_s1 / _ROW
    if not np.all((s2 >= _FLOAT32_SAFE[0]) & (s2 <= _FLOAT32_SAFE[1])):  # also catches NaN
        return None
    return means, np.maximum(m2, 0.0)


def _needs_shift(s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Indices of rows whose mean^2 > var / 10 (S1^2 > n S2 / 11), where S2 - S1^2/n cancels."""
    return np.flatnonzero(~(s1 * s1 <= _ROW * s2 / 11.0))


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
