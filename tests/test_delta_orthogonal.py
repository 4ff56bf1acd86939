"""delta_orthogonal (Xiao et al. 2018) against jax.nn.initializers.delta_orthogonal exactly:
the same zero pattern and centre tap (k-1)//2 for odd and even kernels, an orthogonal
(in x out) matrix there with the same scale, the same refusals, and the same law of the
centre matrix (a Haar-random orthogonal matrix's first `in` rows).

TensorFlow 1's ``tf.contrib.framework.convolutional_delta_orthogonal`` (init_ops.py,
``ConvolutionDeltaOrthogonal``) takes the first ``in`` rows of the QR factor of an
``out x out`` Gaussian with signs fixed by diag(R): the same law, the same centre
``(k-1)//2``, the same ``in <= out`` and rank 3-5 rules, with ``gain`` for JAX's ``scale``.
initcli's bare ``delta_orthogonal(gain)`` is that law, drawn in JAX's layout.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from initcli.errors import InitcliError
from initcli.initializers import resolve_initializer, sample_weight

jax = pytest.importorskip("jax")

SHAPES = [(3, 8, 16), (4, 8, 8), (3, 3, 4, 6), (4, 4, 5, 5), (2, 3, 4, 3, 7)]


@pytest.mark.parametrize("shape", SHAPES)
def test_same_structure_and_scale_as_jax(shape: tuple[int, ...]) -> None:
    scale = 1.7
    theirs = np.asarray(
        jax.nn.initializers.delta_orthogonal(scale)(jax.random.PRNGKey(0), shape, "float32"),
        dtype=np.float64,
    )
    mine = resolve_initializer(f"jax.delta_orthogonal(scale={scale})").sample(
        shape, np.random.default_rng(0), "jax"
    )
    mine = np.asarray(mine, dtype=np.float64)
    assert mine.shape == theirs.shape
    # the same taps are non-zero (JAX's centre (k-1)//2, also for even kernels)
    assert np.array_equal(mine != 0, theirs != 0)
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    for weight in (mine, theirs):
        matrix = weight[centre]  # (in, out), orthonormal rows times scale
        np.testing.assert_allclose(matrix @ matrix.T, scale**2 * np.eye(shape[-2]), atol=1e-5)


@pytest.mark.parametrize("shape", [(3, 16, 8), (8, 8), (1, 1, 1, 1, 2, 2)])
def test_refuses_where_jax_refuses(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        jax.nn.initializers.delta_orthogonal()(jax.random.PRNGKey(0), shape)
    with pytest.raises(InitcliError):
        resolve_initializer("jax.delta_orthogonal").sample(shape, np.random.default_rng(0), "jax")


def test_centre_matrix_has_jax_law() -> None:
    """Haar rows: compare a non-linear statistic (the largest |entry| of each draw) and the
    entries themselves between 300 draws of each (two-sample KS)."""
    shape = (3, 3, 4, 6)
    theirs = [
        np.asarray(jax.nn.initializers.delta_orthogonal()(jax.random.PRNGKey(s), shape))[1, 1]
        for s in range(300)
    ]
    rng = np.random.default_rng(5)
    init = resolve_initializer("jax.delta_orthogonal")
    mine = [init.sample(shape, rng, "jax")[1, 1] for _ in range(300)]
    a, b = np.stack(mine), np.stack(theirs)
    assert stats.ks_2samp(np.abs(a).max(axis=(1, 2)), np.abs(b).max(axis=(1, 2))).pvalue > 1e-3
    assert stats.ks_2samp(a[:, 0, 0], b[:, 0, 0]).pvalue > 1e-3
    assert stats.ks_2samp(a[:, 0, :2].prod(axis=1), b[:, 0, :2].prod(axis=1)).pvalue > 1e-3


def test_bare_name_in_pytorch_layout_is_an_isometry_per_tap() -> None:
    """Bare delta_orthogonal(gain) on a PyTorch (out, in, kh, kw) weight: W[:, :, 1, 1] has
    orthonormal columns (x -> W x is gain x an isometry), zeros at every other tap."""
    weight = sample_weight(
        resolve_initializer("delta_orthogonal(gain=2.0)"),
        (12, 5, 3, 3),
        np.random.default_rng(0),
        np.float64,
    )
    centre = weight[:, :, 1, 1]
    np.testing.assert_allclose(centre.T @ centre, 4 * np.eye(5), atol=1e-12)
    weight[:, :, 1, 1] = 0
    assert not weight.any()
