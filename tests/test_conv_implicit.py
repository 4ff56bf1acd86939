"""The implicit-GEMM convolution (initcli.conv_implicit) against im2col, central finite
differences and PyTorch; and the rule that picks it."""

from __future__ import annotations

import numpy as np
import pytest

from initcli import blas, conv, conv_implicit
from tests.test_network import CASES, case_id, conv_layer, finite_difference

STRIDE_ONE = [case for case in CASES if max(np.atleast_1d(case[3])) == 1]

needs_blas = pytest.mark.skipif(
    blas.gemm(np.dtype(np.float64)) is None, reason="numpy's bundled OpenBLAS is not here"
)


def _geometry(case):
    layer = conv_layer(*case)
    return layer, (layer.stride, layer.dilation, layer.pads)


@needs_blas
@pytest.mark.parametrize("case", STRIDE_ONE, ids=case_id)
def test_implicit_equals_im2col_forward_and_backward(case):
    layer, (stride, dilation, pads) = _geometry(case)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, *layer.in_shape))
    w = rng.standard_normal(layer.weight_shape)
    b = rng.standard_normal(layer.weight_shape[0])
    g = rng.standard_normal((3, *layer.out_shape))
    for method in ("implicit", "im2col"):
        assert conv._implicit(x, w, stride, dilation, pads, method) is not None or (
            method == "im2col"
        )
    z = conv.conv_forward(x, w, b, stride, dilation, pads, method="implicit")
    np.testing.assert_allclose(
        z, conv.conv_forward(x, w, b, stride, dilation, pads, method="im2col"), atol=1e-12
    )
    got = conv.conv_backward(x, w, g, stride, dilation, pads, method="implicit")
    want = conv.conv_backward(x, w, g, stride, dilation, pads, method="im2col")
    for ours, theirs in zip(got, want, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)
    skipped, grad_w = conv.conv_backward(
        x, w, g, stride, dilation, pads, need_grad_x=False, method="implicit"
    )
    assert skipped is None
    np.testing.assert_allclose(grad_w, want[1], atol=1e-12)


@needs_blas
@pytest.mark.parametrize("case", STRIDE_ONE[::6], ids=case_id)
def test_shared_among_threads_the_implicit_gemm_gives_the_same_bytes(case):
    # initcli.sharing: examples shared in forward; in backward the caller sums dW over the
    # examples in order while the others compute dL/dx (3 threads: two share dL/dx).
    layer, geometry = _geometry(case)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((5, *layer.in_shape), dtype=np.float32)
    w = rng.standard_normal(layer.weight_shape).astype(np.float32)
    b = rng.standard_normal(layer.weight_shape[0]).astype(np.float32)
    g = rng.standard_normal((5, *layer.out_shape), dtype=np.float32)

    def both(threads):
        z = conv.conv_forward(x, w, b, *geometry, method="implicit", threads=threads)
        grads = conv.conv_backward(x, w, g, *geometry, method="implicit", threads=threads)
        return z, *grads

    alone = both(1)
    for threads in (2, 3):
        for mine, reference in zip(both(threads), alone, strict=True):
            assert mine.tobytes() == reference.tobytes()


@needs_blas
@pytest.mark.parametrize("case", STRIDE_ONE[::4], ids=case_id)
def test_implicit_gradient_matches_finite_differences(case):
    layer, (stride, dilation, pads) = _geometry(case)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, *layer.in_shape))
    w = rng.standard_normal(layer.weight_shape)
    g = rng.standard_normal((2, *layer.out_shape))

    def forward(xx, ww):
        return conv.conv_forward(xx, ww, None, stride, dilation, pads, method="implicit")

    grad_x, grad_w = conv.conv_backward(x, w, g, stride, dilation, pads, method="implicit")
    np.testing.assert_allclose(grad_x, finite_difference(lambda a: forward(a, w), x, g), atol=1e-8)
    np.testing.assert_allclose(grad_w, finite_difference(lambda a: forward(x, a), w, g), atol=1e-8)


@needs_blas
@pytest.mark.parametrize("kind", ["conv1d", "conv2d"])
def test_implicit_matches_torch_autograd_in_float32(kind):
    torch = pytest.importorskip("torch")
    # A layer the "auto" rule takes: 64 input channels, a grid within 1.15x of the output.
    shape, kernel, dilation = ((64, 40), 3, 2) if kind == "conv1d" else ((64, 16, 16), 3, 1)
    layer = conv_layer(kind, shape, kernel, 1, dilation, "same", units=32)
    stride, dil, pads = layer.stride, layer.dilation, layer.pads
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, *layer.in_shape), dtype=np.float32)
    w = rng.standard_normal(layer.weight_shape, dtype=np.float32) / 24
    b = rng.standard_normal(layer.weight_shape[0], dtype=np.float32)
    g = rng.standard_normal((4, *layer.out_shape), dtype=np.float32)
    assert conv._implicit(x, w, stride, dil, pads, "auto") is not None
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    function = torch.nn.functional.conv1d if kind == "conv1d" else torch.nn.functional.conv2d
    zt = function(xt, wt, torch.from_numpy(b), padding="same", dilation=dilation)
    zt.backward(torch.from_numpy(g))
    z = conv.conv_forward(x, w, b, stride, dil, pads)
    grad_x, grad_w = conv.conv_backward(x, w, g, stride, dil, pads)
    for ours, theirs in ((z, zt), (grad_x, xt.grad), (grad_w, wt.grad)):
        reference = theirs.detach().numpy()
        np.testing.assert_allclose(ours, reference, rtol=0, atol=2e-5 * np.abs(reference).max())


def test_the_rule_takes_wide_stride_one_layers_with_a_tight_grid():
    pads1 = ((1, 1), (1, 1))
    assert conv_implicit.plan((8, 64, 32, 32), (64, 64, 3, 3), (1, 1), (1, 1), pads1)
    # too few input channels, a stride, a grid 1.56x the output (16 x 16, dilation 2)
    assert conv_implicit.plan((8, 32, 32, 32), (64, 32, 3, 3), (1, 1), (1, 1), pads1) is None
    assert conv_implicit.plan((8, 64, 32, 32), (64, 64, 3, 3), (2, 2), (1, 1), pads1) is None
    pads2 = ((2, 2), (2, 2))
    assert conv_implicit.plan((8, 64, 16, 16), (64, 64, 3, 3), (1, 1), (2, 2), pads2) is None
    # forced (the tests' switch): any stride-1 layer
    assert conv_implicit.plan(
        (8, 3, 16, 16), (4, 3, 3, 3), (1, 1), (2, 2), pads2, only_where_faster=False
    )
    assert conv_implicit.plan((2, 64, 100), (64, 64, 3), (1,), (4,), ((8, 0),))  # causal


def test_gemm_is_numpy_openblas_or_none():
    assert blas.gemm(np.dtype(np.int64)) is None
    with pytest.raises(ValueError, match="method"):
        conv._implicit(np.zeros((1, 1, 3)), np.zeros((1, 1, 1)), (1,), (1,), ((0, 0),), "fast")


@pytest.mark.skipif(blas.gemm(np.dtype(np.float32)) is None, reason="no bundled OpenBLAS")
def test_workspace_of_an_implicit_layer_covers_its_temporaries() -> None:
    """conv.workspace_bytes with stride and dilation: one example's grids for a layer the
    implicit GEMM takes (tracemalloc's peak of a call, less its inputs and outputs)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 16, 16), dtype=np.float32)
    w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
    pads, stride, dilation = ((1, 1), (1, 1)), (1, 1), (1, 1)
    assert conv_implicit.plan(x.shape, w.shape, stride, dilation, pads) is not None
    out = conv.conv_output_shape(x.shape, w.shape, stride, dilation, pads)
    gz = rng.standard_normal((8, 64, *out), dtype=np.float32)
    args = (8, x.shape[1:], w.shape, (64, *out), pads, 4)
    implicit = conv.workspace_bytes(*args, stride=stride, dilation=dilation)
    im2col = conv.workspace_bytes(*args)
    assert implicit < im2col / 5  # one example's grids, not a chunk of columns
    tracemalloc.start()
    try:
        z = conv.conv_forward(x, w, None, stride, dilation, pads)
        forward = tracemalloc.get_traced_memory()[1] - z.nbytes
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        gx, gw = conv.conv_backward(x, w, gz, stride, dilation, pads)
        assert gx is not None
        backward = tracemalloc.get_traced_memory()[1] - base - gx.nbytes - gw.nbytes
    finally:
        tracemalloc.stop()
    assert 0 < forward <= implicit and 0 < backward <= implicit
