"""Moments of large arrays: against np.var in float64, across row and block edges.

Tolerances: float64 arrays are summed in float64, so both sides differ only in summation
order and agree to a few hundred ulps (1e-12 relative) for well-scaled data. With
mean/std = 1e7 the data's own rounding (eps * mean) is 2e-9 of the std, so both can only
agree to about that; 1e-8 is asked. float32 arrays longer than one row are summed per row in
float32 (initcli.moments): 8,192 terms in single precision carry about 1e-7 to 1e-6 relative
error, so 2e-6 is asked of the variance and 2e-6 of the root mean square of the mean;
exploding, vanishing and non-finite rows are redone in float64 and held to 1e-12 again.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from initcli import moments as moments_module
from initcli.moments import Moments, moments

ROW = moments_module._ROW
BLOCK = ROW * moments_module._ROWS

# Every edge of the row/block decomposition: below, at and above one row and one block.
SIZES = [1, 2, 7, ROW - 1, ROW, ROW + 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 3 * ROW + 5]


def reference(x: np.ndarray) -> tuple[float, float]:
    wide = np.asarray(x, dtype=np.float64)
    return float(np.mean(wide)), float(np.var(wide))


def tolerance(x: np.ndarray) -> float:
    """Relative tolerance of the variance (and of the mean, against its rms scale)."""
    single_precision_rows = x.dtype == np.float32 and x.size > ROW
    return 2e-6 if single_precision_rows else 1e-12


def assert_close(result: Moments, x: np.ndarray, rel: float | None = None) -> None:
    mean, var = reference(x)
    rel = tolerance(x) if rel is None else rel
    assert result.mean == pytest.approx(mean, rel=rel, abs=rel * np.sqrt(var + mean**2))
    assert result.var == pytest.approx(var, rel=rel, abs=1e-300)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_numpy_float64(size: int, dtype: type) -> None:
    rng = np.random.default_rng(size)
    x = (3.0 * rng.standard_normal(size) + 1.5).astype(dtype)
    result = moments(x)
    mean, var = reference(x)
    assert result.count == size
    assert result.finite
    assert_close(result, x)
    assert result.second_moment == pytest.approx(var + mean**2, rel=tolerance(x))


def test_rows_with_different_means_merge_exactly() -> None:
    """Each row and the tail has its own mean: the between-row term must be counted."""
    steps = np.repeat(np.arange(5, dtype=np.float64) * 100.0, ROW)
    x = np.concatenate([steps, np.full(17, -250.0)]) + np.linspace(0, 1, 5 * ROW + 17)
    mean, var = reference(x)
    result = moments(x)
    assert result.mean == pytest.approx(mean, rel=1e-13)
    assert result.var == pytest.approx(var, rel=1e-12)


@pytest.mark.parametrize(
    ("loc", "scale", "dtype", "rel"),
    [
        (0.5, 1e-3, np.float32, 2e-6),  # saturated sigmoid: mean / std = 500
        (1e4, 1e-3, np.float64, 1e-8),  # mean / std = 1e7
        (-3e3, 1e-2, np.float32, 2e-6),
        (0.4, 0.58, np.float32, 2e-6),  # ReLU activations: mean^2 / var = 0.47, shifted rows
    ],
)
def test_large_mean_small_spread(loc: float, scale: float, dtype: type, rel: float) -> None:
    """Rows with mean^2 > var / 10 are shifted by their mean before summing squares."""
    rng = np.random.default_rng(7)
    x = (loc + scale * rng.standard_normal(3 * BLOCK + 11)).astype(dtype)
    mean, var = reference(x)
    result = moments(x)
    assert result.mean == pytest.approx(mean, rel=1e-14, abs=rel * np.sqrt(var))
    assert result.var == pytest.approx(var, rel=rel)


@pytest.mark.parametrize("scale", [1e-21, 1e-14, 1e16, 1e21])
def test_float32_extremes_keep_float64_accuracy(scale: float) -> None:
    """Vanishing and exploding signals: float32 sums of squares would underflow or overflow
    (1e-21^2 and 1e21^2 are outside float32), so those arrays are summed in float64."""
    rng = np.random.default_rng(11)
    x = (scale * rng.standard_normal(2 * BLOCK + 5)).astype(np.float32)
    assert np.all(np.isfinite(x)) and np.any(x != 0)
    assert_close(moments(x), x, rel=1e-12 if scale < 1e-12 or scale > 1e15 else 2e-6)


def test_one_out_of_range_row_sends_the_array_to_float64() -> None:
    rng = np.random.default_rng(12)
    x = rng.standard_normal(4 * ROW).astype(np.float32)
    x[ROW : 2 * ROW] *= np.float32(1e-25)  # one vanishing row among ordinary ones
    assert_close(moments(x), x, rel=1e-12)


def test_reads_any_shape_and_leaves_input_alone() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 33, 65)).astype(np.float32)
    before = x.copy()
    transposed = x.transpose(3, 1, 0, 2)  # not contiguous
    for array in (x, transposed):
        assert_close(moments(array), array)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("size", [3, BLOCK + 5])
def test_non_finite(size: int) -> None:
    base = np.zeros(size, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning escapes
        plus = base.copy()
        plus[-1] = np.inf
        result = moments(plus)
        assert not result.finite and result.mean == np.inf and np.isnan(result.var)
        both = plus.copy()
        both[0] = -np.inf
        assert np.isnan(moments(both).mean) and not moments(both).finite
        nan = base.copy()
        nan[size // 2] = np.nan
        result = moments(nan)
        assert not result.finite and np.isnan(result.mean) and np.isnan(result.var)


def test_empty_and_constant() -> None:
    empty = moments(np.zeros(0, dtype=np.float32))
    assert empty.count == 0 and np.isnan(empty.mean) and np.isnan(empty.var) and empty.finite
    constant = moments(np.full(BLOCK + ROW + 1, 0.1, dtype=np.float32))
    assert constant == Moments(BLOCK + ROW + 1, float(np.float32(0.1)), 0.0, True)


def test_without_vecdot(monkeypatch: pytest.MonkeyPatch) -> None:
    """NumPy < 2.0 has no np.vecdot: the stacked-matmul fallback gives the same numbers (to
    float32 summation order for float32 arrays, to float64's for float64 ones)."""
    for dtype, rel in ((np.float32, 2e-6), (np.float64, 1e-14)):
        x = np.random.default_rng(5).standard_normal(BLOCK + 3 * ROW + 9).astype(dtype)
        expected = moments(x)
        with monkeypatch.context() as patch:
            patch.delattr(np, "vecdot", raising=False)
            fallback = moments(x)
        assert fallback.mean == pytest.approx(expected.mean, rel=rel, abs=rel)
        assert fallback.var == pytest.approx(expected.var, rel=rel)
