"""One-pass mean and variance of large float32/float64 arrays, accumulated in float64.

``np.var(x, dtype=np.float64)`` would materialise a float64 copy of the whole tensor
(twice the memory of a float32 activation). Instead the array is read in cache-sized
chunks; each chunk's mean and sum of squared deviations are computed in float64 and merged
with Chan, Golub & LeVeque's (1979) pairwise update, which stays accurate when the mean is
large against the spread (sigmoid activations: mean 0.5, std 1e-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_CHUNK = 1 << 16  # elements; 512 KiB in float64, stays in L2


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
    """Mean and variance of all elements of ``values`` in float64, in one pass over memory."""
    flat = values.reshape(-1)
    count = flat.size
    if count == 0:
        return Moments(0, math.nan, math.nan, True)
    buffer = np.empty(min(_CHUNK, count), dtype=np.float64)
    with np.errstate(all="ignore"):  # inf/NaN propagate into `finite` below; no warnings
        mean, m2 = _accumulate(flat, buffer)
    finite = math.isfinite(mean) and math.isfinite(m2)
    var = m2 / count if finite else math.nan
    if not finite:
        mean = _nonfinite_mean(flat)
    return Moments(count, mean, var, finite)


def _accumulate(flat: np.ndarray, buffer: np.ndarray) -> tuple[float, float]:
    total_n = 0
    mean = 0.0
    m2 = 0.0
    for start in range(0, flat.size, _CHUNK):
        chunk = flat[start : start + _CHUNK]
        n = chunk.size
        work = buffer[:n]
        np.copyto(work, chunk, casting="unsafe")
        chunk_mean = float(work.sum()) / n
        work -= chunk_mean
        chunk_m2 = float(np.dot(work, work))
        delta = chunk_mean - mean
        new_n = total_n + n
        mean += delta * n / new_n
        m2 += chunk_m2 + delta * delta * total_n * n / new_n
        total_n = new_n
    return mean, m2


def _nonfinite_mean(flat: np.ndarray) -> float:
    """Report +-inf when every non-finite value agrees in sign, NaN otherwise."""
    with np.errstate(all="ignore"):
        total = float(np.add.reduce(flat, dtype=np.float64))
    return total / flat.size
