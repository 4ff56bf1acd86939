"""Layers: shapes against PyTorch and Keras, linear math against finite differences and torch."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import threading
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "numpy")  # before any keras import

import numpy as np
import pytest

from initcli import blas, conv, sharing
from initcli.activations import resolve_activation
from initcli.errors import InitcliError
from initcli.fans import compute_fans
from initcli.initializers import resolve_initializer
from initcli.network import Layer, build_network, flops, infer_layer, macs, parameter_count
from initcli.network_spec import LayerSpec, Location, NetworkSpec

LOC = Location("net.yaml", 7, "layers[2]")


def layer_spec(kind: str, units: int | None = 3, **kw) -> LayerSpec:
    rank = {"conv1d": 1, "conv2d": 2}.get(kind, 0)
    for key in ("kernel_size", "stride", "dilation"):
        value = kw.get(key, 1 if key != "kernel_size" or rank else None)
        kw[key] = () if value is None else (value if isinstance(value, tuple) else (value,))
    padding = kw.pop("padding", "valid")
    if isinstance(padding, int):
        padding = (padding,)
    return LayerSpec(kind, f"{kind}2", LOC, units=units, padding=padding, **kw)


def make(kind: str, in_shape: tuple[int, ...], units: int | None = 3, **kw) -> Layer:
    return infer_layer(layer_spec(kind, units, **kw), 2, in_shape, "dense1")


# (in_shape, kernel, stride, dilation, padding); every padding mode, odd and even kernels.
CONV1D = [
    ((2, length), k, s, d, pad)
    for pad, k, s, d in itertools.product(
        ["valid", "same", "causal", 0, 2], [1, 2, 3, 5], [1, 2], [1, 2]
    )
    for length in [9]
]
CONV2D = [
    ((2, 7, 6), (3, 3), (1, 1), (1, 1), "valid"),
    ((2, 7, 6), (3, 3), (1, 1), (1, 1), "same"),
    ((2, 7, 6), (3, 3), (2, 2), (1, 1), "same"),
    ((2, 7, 6), (5, 5), (2, 2), (1, 1), "same"),
    ((2, 7, 6), (2, 2), (2, 2), (1, 1), "same"),
    ((2, 7, 6), (4, 2), (1, 1), (1, 1), "same"),
    ((2, 7, 6), (3, 2), (2, 1), (1, 2), "same"),
    ((2, 7, 6), (3, 1), (1, 2), (2, 1), "valid"),
    ((2, 7, 6), (1, 1), (2, 3), (1, 1), "valid"),
    ((2, 7, 6), (3, 3), (2, 2), (2, 2), "valid"),
    ((2, 7, 6), (3, 3), (1, 1), (2, 2), "same"),
    ((2, 7, 6), (5, 3), (3, 2), (1, 1), 1),
    ((2, 7, 6), (3, 3), (2, 2), (2, 1), (2, 1)),
    ((2, 7, 6), (2, 4), (1, 2), (1, 1), 2),
    ((2, 8, 8), (3, 3), (2, 2), (1, 1), "same"),
    ((1, 5, 9), (5, 1), (1, 1), (1, 3), "valid"),
]
CASES = [("conv1d", *c) for c in CONV1D] + [("conv2d", *c) for c in CONV2D]


def as_tuple(v: int | tuple[int, ...]) -> tuple[int, ...]:
    return v if isinstance(v, tuple) else (v,)


def conv_layer(kind, in_shape, k, s, d, pad, units=3) -> Layer:
    return make(
        kind, in_shape, units, kernel_size=as_tuple(k), stride=as_tuple(s),
        dilation=as_tuple(d), padding=pad,
    )  # fmt: skip


def params(layer: Layer, rng: np.random.Generator, dtype=np.float64):
    assert layer.weight_shape is not None
    w = rng.standard_normal(layer.weight_shape).astype(dtype)
    b = rng.standard_normal(layer.weight_shape[0]).astype(dtype)
    return w, b


def case_id(case) -> str:
    return "-".join(str(v).replace(" ", "") for v in case)


# ---------------------------------------------------------------- gradient check


def finite_difference(f, a: np.ndarray, g: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """d(sum(g * f(a)))/da by central differences, coordinate by coordinate."""
    grad = np.empty_like(a)
    for i in np.ndindex(*a.shape):
        keep = a[i]
        a[i] = keep + eps
        up = np.sum(g * f(a))
        a[i] = keep - eps
        down = np.sum(g * f(a))
        a[i] = keep
        grad[i] = (up - down) / (2 * eps)
    return grad


def gradient_check(layer: Layer, batch: int, seed: int, budget: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *layer.in_shape))
    w, b = params(layer, rng)
    g = rng.standard_normal((batch, *layer.out_shape))
    grad_x, grad_w = layer.linear_backward(x, w, g, column_budget=budget)
    assert grad_x is not None and grad_w is not None
    assert grad_x.shape == x.shape and grad_w.shape == w.shape
    # z is linear in x, W and b: central differences are exact up to rounding.
    np.testing.assert_allclose(
        grad_x, finite_difference(lambda a: layer.linear_forward(a, w, b), x, g), atol=1e-8
    )
    np.testing.assert_allclose(
        grad_w, finite_difference(lambda a: layer.linear_forward(x, a, b), w, g), atol=1e-8
    )
    np.testing.assert_allclose(
        layer.bias_grad(g), finite_difference(lambda a: layer.linear_forward(x, w, a), b, g),
        atol=1e-8,
    )  # fmt: skip
    skipped, grad_w2 = layer.linear_backward(x, w, g, need_grad_x=False, column_budget=budget)
    assert skipped is None
    np.testing.assert_allclose(grad_w2, grad_w, atol=1e-12)


@pytest.mark.parametrize("budget", [1, conv.COLUMN_BUDGET], ids=["chunked", "whole"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conv_gradient_matches_finite_differences(case, budget):
    layer = conv_layer(*case)
    # budget 1 byte: one example per chunk; the default: the whole batch in one GEMM.
    gradient_check(layer, batch=2, seed=len(CASES), budget=budget)


def test_dense_gradient_matches_finite_differences():
    gradient_check(make("dense", (5,), 4), batch=3, seed=1, budget=0)


def _finish(generator):
    """Run a layer's forward or backward generator; its steps and its return value."""
    steps = []
    try:
        while True:
            steps.append(next(generator))
    except StopIteration as stop:
        return steps, stop.value


def test_flatten_is_a_view_both_ways():
    layer = make("flatten", (2, 3, 4), None)
    assert layer.out_shape == (24,) and layer.parameter_shapes() == {} and not layer.reports
    x = np.arange(48.0).reshape(2, 2, 3, 4)
    steps, (z, saved) = _finish(layer.forward(x, None, keep=True))
    assert steps == [] and z.shape == (2, 24) and np.shares_memory(z, x)
    steps, grad_x = _finish(layer.backward(z, None, saved, need_grad_x=True))
    assert steps == [] and grad_x is not None and np.array_equal(grad_x, x)
    assert _finish(layer.backward(z, None, saved, need_grad_x=False)) == ([], None)


# ---------------------------------------------------------------- chunking and dtypes


@pytest.mark.parametrize("case", [CASES[40], CASES[-4], CASES[-5]], ids=case_id)
def test_chunked_equals_whole_batch(case):
    layer = conv_layer(*case)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, *layer.in_shape))
    w, b = params(layer, rng)
    g = rng.standard_normal((5, *layer.out_shape))
    whole = layer.linear_forward(x, w, b, column_budget=1 << 30)
    chunked = layer.linear_forward(x, w, b, column_budget=1)
    np.testing.assert_allclose(chunked, whole, atol=1e-12)
    for a, c in zip(
        layer.linear_backward(x, w, g, column_budget=1 << 30),
        layer.linear_backward(x, w, g, column_budget=1),
        strict=True,
    ):
        np.testing.assert_allclose(a, c, atol=1e-12)


@pytest.mark.parametrize("case", [CASES[40], CASES[-4], CASES[-5]], ids=case_id)
def test_col2im_blocks_equal_one_block(case, monkeypatch):
    # One example per col2im block inside one whole-batch chunk: each example's GEMM and
    # sum are unchanged, so the input gradient is bit-identical, borders included.
    layer = conv_layer(*case)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, *layer.in_shape))
    w, _ = params(layer, rng)
    g = rng.standard_normal((5, *layer.out_shape))
    whole, _ = layer.linear_backward(x, w, g, column_budget=1 << 30)
    monkeypatch.setattr(conv, "COL2IM_BLOCK", 1)
    blocked, _ = layer.linear_backward(x, w, g, column_budget=1 << 30)
    assert whole is not None and np.array_equal(blocked, whole)
    # and chunks of 2, 2 and 1 examples: col2im wrote into the padded buffer's borders,
    # which the next chunk's input must find zero again
    assert layer.weight_shape is not None
    columns = math.prod(layer.weight_shape[1:]) * math.prod(layer.out_shape[1:]) * x.itemsize
    again, _ = layer.linear_backward(x, w, g, column_budget=2 * columns)
    assert again is not None and again.tobytes() == whole.tobytes()


SHARED = [CASES[40], CASES[-4], CASES[-5], CASES[-14], CASES[3]]


@pytest.mark.parametrize("case", SHARED, ids=case_id)
@pytest.mark.parametrize("col2im_block", [conv.COL2IM_BLOCK, 1])
def test_any_thread_count_gives_the_one_thread_result_bit_for_bit(case, col2im_block, monkeypatch):
    # Threads share each chunk's examples (initcli.sharing): every example's values are
    # computed as on one thread and dW on one thread, in float32 as in a run, with
    # OpenBLAS at 2 threads (each call holds it to one). 7 examples in chunks of 3 (the
    # last of 1), shared 2 and 3 ways: shares of one example, a chunk with fewer examples
    # than threads, dW summed over three chunks; with one example per col2im block the
    # other threads take blocks while the caller computes dW.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(conv, "COL2IM_BLOCK", col2im_block)
    layer = conv_layer(*case)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, *layer.in_shape), dtype=np.float32)
    w, b = params(layer, rng, np.float32)
    g = rng.standard_normal((7, *layer.out_shape), dtype=np.float32)
    geometry = (layer.stride, layer.dilation, layer.pads)
    budget = 3 * math.prod(w.shape[1:]) * math.prod(layer.out_shape[1:]) * 4

    def both(threads):
        z = conv.conv_forward(x, w, b, *geometry, budget, "im2col", threads)
        grads = conv.conv_backward(x, w, g, *geometry, True, budget, "im2col", threads)
        _, grad_w_only = conv.conv_backward(x, w, g, *geometry, False, budget, "im2col", threads)
        return z, *grads, grad_w_only

    block = conv._grad_x_block
    takers: set[str] = set()

    def taking(*args):
        takers.add(threading.current_thread().name)
        block(*args)

    monkeypatch.setattr(conv, "_grad_x_block", taking)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        alone = both(1)
        for threads in (2, 3):
            for mine, reference in zip(both(threads), alone, strict=True):
                assert mine.tobytes() == reference.tobytes()
    if col2im_block == 1:
        assert any(name.startswith("initcli-conv") for name in takers)


def test_a_large_chunk_is_shared_among_as_many_threads_as_openblas_has(monkeypatch):
    # threads=None: as many threads as OpenBLAS uses, for a chunk of at least SHARED_MIN
    # column elements (here 64 examples x 144 rows x 256 positions, one chunk); the same
    # bytes as one thread, and no sharing for a chunk below the limit.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if blas.bundled_openblas() is None:
        pytest.skip("numpy is not using its bundled OpenBLAS")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 16, 16, 16), dtype=np.float32)
    w = rng.standard_normal((32, 16, 3, 3), dtype=np.float32)
    g = rng.standard_normal((64, 32, 16, 16), dtype=np.float32)
    geometry = ((1, 1), (1, 1), ((1, 1), (1, 1)))
    assert 64 * 144 * 256 >= sharing.SHARED_MIN > 8 * 144 * 256
    counts: list[int] = []
    shares = sharing.Shares

    def spy(threads, library):
        counts.append(threads)
        return shares(threads, library)

    alone = conv.conv_backward(x, w, g, *geometry, method="im2col", threads=1)
    monkeypatch.setattr(sharing, "Shares", spy)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        shared = conv.conv_backward(x, w, g, *geometry, method="im2col")
        part = conv.conv_backward(x[:8], w, g[:8], *geometry, method="im2col")
        z = conv.conv_forward(x, w, None, *geometry, method="im2col")
        z_part = conv.conv_forward(x[:8], w, None, *geometry, method="im2col")
    assert counts == [2, 1, 2, 1]
    for mine, reference in zip(shared, alone, strict=True):
        assert mine is not None and reference is not None
        assert mine.tobytes() == reference.tobytes()
    # an example's values do not depend on the batch it came in (shared or not)
    assert z_part.tobytes() == z[:8].tobytes()
    assert part[0] is not None and shared[0] is not None
    assert part[0].tobytes() == shared[0][:8].tobytes()


def test_an_example_gives_the_same_bytes_in_a_small_batch_and_a_large_one():
    # 20 channels 5x5 (K = 500): OpenBLAS rounds this product differently on 1 and 2
    # threads, so the unshared call (4 examples, below SHARED_MIN) must hold it to one
    # thread as the shared one (32 examples) does.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 20, 16, 16), dtype=np.float32)
    w = rng.standard_normal((64, 20, 5, 5), dtype=np.float32)
    geometry = ((1, 1), (1, 1), ((2, 2), (2, 2)))
    assert 4 * 500 * 256 < sharing.SHARED_MIN <= 32 * 500 * 256
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        small = conv.conv_forward(x[:4], w, None, *geometry, method="im2col")
        large = conv.conv_forward(x, w, None, *geometry, method="im2col")
    assert small.tobytes() == large[:4].tobytes()


def test_shared_threads_end_with_the_call_and_openblas_gets_its_threads_back(monkeypatch):
    # While shares run, OpenBLAS is held to one thread; after the call, also one whose
    # col2im raises on the other thread (one example per block, so it takes some), no
    # thread is left, the error reaches the caller and OpenBLAS has its count back.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(conv, "COL2IM_BLOCK", 1)
    library = blas.bundled_openblas()
    if library is None:
        pytest.skip("numpy is not using its bundled OpenBLAS")
    layer = conv_layer(*CASES[-4])
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, *layer.in_shape), dtype=np.float32)
    w, _ = params(layer, rng, np.float32)
    g = rng.standard_normal((6, *layer.out_shape), dtype=np.float32)
    geometry = (layer.stride, layer.dilation, layer.pads)
    inside: list[int] = []
    col2im = conv._col2im

    def counting(*args):
        inside.append(blas.openblas_threads(library))
        col2im(*args)

    taken = threading.Event()

    def failing(*args):
        if threading.current_thread() is not threading.main_thread():
            taken.set()
            raise RuntimeError("share failed")
        taken.wait(10)  # so that the other thread surely takes a block
        col2im(*args)

    before = threading.active_count()
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        monkeypatch.setattr(conv, "_col2im", counting)
        conv.conv_backward(x, w, g, *geometry, threads=2, method="im2col")
        assert inside and set(inside) == {1}
        assert threading.active_count() == before and blas.openblas_threads(library) == 2
        monkeypatch.setattr(conv, "_col2im", failing)
        with pytest.raises(RuntimeError, match="share failed"):
            conv.conv_backward(x, w, g, *geometry, threads=2, method="im2col")
        assert threading.active_count() == before and blas.openblas_threads(library) == 2


@pytest.mark.parametrize(
    "layer",
    [
        make("dense", (6,), 4),
        make("conv1d", (2, 9), 3, kernel_size=(3,), padding="causal", dilation=(2,)),
        make("conv2d", (2, 6, 5), 3, kernel_size=(3, 3), padding="same", stride=(2, 2)),
    ],
    ids=lambda layer: layer.type,
)
def test_float32_stays_float32(layer):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, *layer.in_shape), dtype=np.float32)
    w, b = params(layer, rng, np.float32)
    z = layer.linear_forward(x, w, b)
    grad_x, grad_w = layer.linear_backward(x, w, z)
    assert {a.dtype for a in (z, grad_x, grad_w, layer.bias_grad(z))} == {np.dtype(np.float32)}
    with pytest.raises(TypeError, match="float64"):
        layer.linear_forward(x, w.astype(np.float64), b)


# ---------------------------------------------------------------- against PyTorch


def torch_pad(layer: Layer) -> list[int]:
    """Our (before, after) pads in F.pad's order: last axis first."""
    return [p for pair in reversed(layer.pads) for p in pair]


def torch_conv(layer: Layer, x, w, b, pad: list[int] | None = None, padding=0):
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    conv_fn = f.conv1d if layer.type == "conv1d" else f.conv2d
    xt = f.pad(x, torch_pad(layer) if pad is None else pad)
    return conv_fn(xt, w, b, stride=layer.stride, dilation=layer.dilation, padding=padding)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conv_forward_matches_torch(case):
    torch = pytest.importorskip("torch")
    layer = conv_layer(*case)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, *layer.in_shape))
    w, b = params(layer, rng)
    xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
    ours = layer.linear_forward(x, w, b)
    # Asymmetric pads ('same' with stride > 1, even kernels, 'causal') via an explicit F.pad.
    np.testing.assert_allclose(ours, torch_conv(layer, xt, wt, bt).numpy(), atol=1e-12)
    padding = case[-1]
    if isinstance(padding, int | tuple) or (padding == "same" and max(layer.stride) == 1):
        # Where PyTorch has the padding mode itself, its own padding agrees with ours.
        native = torch_conv(layer, xt, wt, bt, pad=[], padding=padding)
        np.testing.assert_allclose(ours, native.numpy(), atol=1e-12)


@pytest.mark.parametrize("case", [CASES[i] for i in (13, 45, 60, 70)] + CASES[-6:], ids=case_id)
def test_conv_backward_matches_torch_autograd(case):
    torch = pytest.importorskip("torch")
    layer = conv_layer(*case)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, *layer.in_shape))
    w, b = params(layer, rng)
    g = rng.standard_normal((3, *layer.out_shape))
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    torch_conv(layer, xt, wt, torch.from_numpy(b)).backward(torch.from_numpy(g))
    grad_x, grad_w = layer.linear_backward(x, w, g)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grad_w, wt.grad.numpy(), atol=1e-12)


def test_dense_matches_torch_linear():
    torch = pytest.importorskip("torch")
    layer = make("dense", (5,), 4)
    rng = np.random.default_rng(7)
    x, g = rng.standard_normal((3, 5)), rng.standard_normal((3, 4))
    w, b = params(layer, rng)
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    zt = torch.nn.functional.linear(xt, wt, torch.from_numpy(b))
    zt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(layer.linear_forward(x, w, b), zt.detach().numpy(), atol=1e-12)
    grad_x, grad_w = layer.linear_backward(x, w, g)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grad_w, wt.grad.numpy(), atol=1e-12)


# ---------------------------------------------------------------- output shapes

# (kind, in_shape, kernel, stride, dilation, padding, expected out per example)
SHAPES = [
    ("conv2d", (3, 32, 32), (3, 3), (1, 1), (1, 1), "same", (8, 32, 32)),
    ("conv2d", (3, 32, 32), (3, 3), (2, 2), (1, 1), "same", (8, 16, 16)),
    ("conv2d", (3, 33, 31), (3, 3), (2, 2), (1, 1), "same", (8, 17, 16)),
    ("conv2d", (3, 224, 224), (7, 7), (2, 2), (1, 1), 3, (8, 112, 112)),  # ResNet stem
    ("conv2d", (3, 224, 224), (7, 7), (2, 2), (1, 1), "valid", (8, 109, 109)),
    ("conv2d", (3, 32, 32), (3, 3), (1, 1), (2, 2), "valid", (8, 28, 28)),
    ("conv2d", (3, 32, 32), (3, 3), (1, 1), (4, 4), "same", (8, 32, 32)),
    ("conv2d", (3, 10, 12), (3, 5), (3, 2), (1, 1), "valid", (8, 3, 4)),
    ("conv2d", (3, 10, 12), (4, 2), (1, 1), (1, 1), "same", (8, 10, 12)),
    ("conv2d", (3, 10, 12), (3, 3), (2, 3), (1, 1), "same", (8, 5, 4)),
    ("conv2d", (3, 10, 12), (3, 2), (1, 1), (2, 3), "valid", (8, 6, 9)),
    ("conv2d", (3, 5, 5), (5, 5), (1, 1), (1, 1), "valid", (8, 1, 1)),
    ("conv1d", (4, 100), (5,), (1,), (2,), "causal", (8, 100)),
    ("conv1d", (4, 100), (2,), (1,), (8,), "causal", (8, 100)),
    ("conv1d", (4, 100), (3,), (2,), (1,), "causal", (8, 50)),
    ("conv1d", (4, 101), (3,), (2,), (1,), "causal", (8, 51)),
    ("conv1d", (4, 100), (4,), (3,), (1,), "same", (8, 34)),
    ("conv1d", (4, 100), (4,), (3,), (1,), "valid", (8, 33)),
    ("conv1d", (4, 100), (3,), (1,), (16,), "valid", (8, 68)),
    ("conv1d", (4, 100), (3,), (2,), (2,), 2, (8, 50)),
    ("conv1d", (4, 7), (1,), (1,), (1,), "valid", (8, 7)),
]


@pytest.mark.parametrize("row", SHAPES, ids=case_id)
def test_output_shape_table(row):
    kind, in_shape, k, s, d, pad, expected = row
    layer = make(kind, in_shape, 8, kernel_size=k, stride=s, dilation=d, padding=pad)
    assert layer.out_shape == expected
    assert layer.weight_shape == (8, in_shape[0], *k)


@pytest.mark.parametrize("row", SHAPES, ids=case_id)
def test_output_shape_equals_torch(row):
    torch = pytest.importorskip("torch")
    kind, in_shape, k, s, d, pad, _ = row
    layer = make(kind, in_shape, 8, kernel_size=k, stride=s, dilation=d, padding=pad)
    module = {"conv1d": torch.nn.Conv1d, "conv2d": torch.nn.Conv2d}[kind]
    # PyTorch pads symmetrically (or 'same' at stride 1); 'causal' and strided 'same' are
    # an explicit F.pad in front of a valid convolution, as a PyTorch user writes them.
    native = isinstance(pad, int) or (pad == "same" and max(s) == 1) or pad == "valid"
    net = module(in_shape[0], 8, k, stride=s, dilation=d, padding=pad if native else 0)
    x = torch.zeros(1, *in_shape)
    if not native:
        x = torch.nn.functional.pad(x, torch_pad(layer))
    assert tuple(net(x).shape[1:]) == layer.out_shape
    assert tuple(net.weight.shape) == layer.weight_shape
    assert sum(p.numel() for p in net.parameters()) == parameter_count(layer)


@pytest.mark.parametrize("row", SHAPES, ids=case_id)
def test_output_shape_equals_keras(row):
    keras = pytest.importorskip("keras")
    kind, in_shape, k, s, d, pad, expected = row
    if max(s) > 1 and max(d) > 1:
        pytest.skip("Keras refuses strides > 1 together with dilation_rate > 1")
    cls = {"conv1d": keras.layers.Conv1D, "conv2d": keras.layers.Conv2D}[kind]
    spatial = in_shape[1:]
    if isinstance(pad, int):  # Keras: ZeroPadding in front of a 'valid' convolution
        spatial, pad = tuple(n + 2 * pad for n in spatial), "valid"
    net = cls(8, k, strides=s, dilation_rate=d, padding=pad, data_format="channels_first")
    assert tuple(net.compute_output_shape((None, in_shape[0], *spatial))[1:]) == expected


def test_same_padding_puts_the_odd_pad_after():
    assert conv.same_padding(32, 3, 2, 1) == (0, 1)  # TF: total 1, on the right/bottom
    assert conv.same_padding(33, 3, 2, 1) == (1, 1)
    assert conv.same_padding(10, 4, 1, 1) == (1, 2)
    assert conv.same_padding(10, 1, 3, 1) == (0, 0)
    assert conv.same_padding(10, 3, 1, 4) == (4, 4)
    assert conv.causal_padding(3, 4) == (8, 0)


# ---------------------------------------------------------------- shape errors


@pytest.mark.parametrize(
    ("kind", "in_shape", "kw", "pieces"),
    [
        (
            "dense",
            (16, 4, 4),
            {},
            ["dense needs a flat input", "dense1 gives (16, 4, 4)", "flatten"],
        ),
        (
            "conv1d",
            (64,),
            {"kernel_size": 3},
            ["needs input (channels, length)", "dense1 gives (64)"],
        ),
        ("conv2d", (64,), {"kernel_size": 3}, ["(channels, height, width)", "(64)", "before"]),
        ("conv2d", (3, 32), {"kernel_size": 3}, ["gives (3, 32)", "use conv1d"]),
        ("conv1d", (3, 8, 8), {"kernel_size": 3}, ["gives (3, 8, 8)", "use conv2d"]),
        (
            "conv2d",
            (3, 4, 4),
            {"kernel_size": 3, "dilation": 2},
            [
                "kernel 3x3 with dilation 2x2 spans 5x5",
                "input (3, 4, 4) from dense1",
                "padded to 4x4",
            ],
        ),
        ("conv1d", (2, 4), {"kernel_size": 3, "padding": 0, "dilation": 3}, ["spans 7"]),
        ("conv2d", (3, 8, 8), {"kernel_size": 3, "padding": "causal"}, ["conv1d only"]),
        ("conv2d", (3, 8, 8), {"kernel_size": (3, 3, 3)}, ["kernel_size [3, 3, 3]"]),
        ("conv2d", (3, 8, 8), {"kernel_size": 3, "padding": (1, 1, 1)}, ["padding [1, 1, 1]"]),
        ("conv1d", (3, 8), {"kernel_size": 3, "stride": 0}, ["stride [0]"]),
    ],
)
def test_shape_errors_name_layer_location_and_shapes(kind, in_shape, kw, pieces):
    with pytest.raises(InitcliError) as info:
        make(kind, in_shape, 8, **kw)
    message = str(info.value)
    assert info.value.exit_code == 1
    assert message.startswith("net.yaml:7: layers[2]: ") and f"{kind}2" in message
    for piece in pieces:
        assert piece in message
    assert "\n" not in message


def test_a_padded_input_can_fit_a_kernel_the_raw_input_cannot():
    layer = make("conv1d", (2, 2), 4, kernel_size=5, padding="same")
    assert layer.out_shape == (4, 2) and layer.pads == ((2, 2),)


# ---------------------------------------------------------------- counts


def test_flops_and_parameters():
    dense = make("dense", (512,), 256)
    assert macs(dense, 32) == 32 * 512 * 256
    assert flops(dense, 32) == 6 * 32 * 512 * 256
    assert parameter_count(dense) == 512 * 256 + 256
    conv2d = make("conv2d", (64, 32, 32), 64, kernel_size=3, padding="same")
    assert flops(conv2d, 64) == 3 * 2 * 64 * 32 * 32 * 64 * 64 * 9
    no_bias = make("conv2d", (3, 8, 8), 4, kernel_size=3, bias=False)
    assert parameter_count(no_bias) == 4 * 3 * 9
    flatten = make("flatten", (2, 3), None)
    assert flops(flatten, 9) == 0 and parameter_count(flatten) == 0


def test_workspace_is_bounded_by_the_column_budget():
    # 32 input channels: an im2col layer (64 would take the implicit GEMM, no columns)
    layer = make("conv2d", (32, 32, 32), 64, kernel_size=3, padding="same")
    per_example = 32 * 9 * 32 * 32 * 4  # column bytes of one float32 example
    assert make("dense", (8,), 4).workspace_bytes(1024, 4) == 0
    whole = layer.workspace_bytes(64, 4, column_budget=1 << 40)
    assert whole >= 64 * per_example
    chunked = layer.workspace_bytes(64, 4, column_budget=4 * per_example)
    assert 4 * per_example <= chunked < whole / 8
    weight_grads = 2 * 64 * 32 * 9 * 4  # dL/dW and one chunk's share, independent of batch
    assert whole - weight_grads == 64 * (layer.workspace_bytes(1, 4) - weight_grads)


# ---------------------------------------------------------------- build_network


def network_spec(layers: list[LayerSpec], input_shape=(3, 16, 16), init="glorot_uniform"):
    return NetworkSpec(
        name="net",
        path="net.yaml",
        input_shape=input_shape,
        input_distribution="normal",
        batch=4,
        init=init,
        bias_init="zeros",
        layers=tuple(layers),
        key_locations={"init": Location("net.yaml", 3, "init")},
    )


def named(spec: LayerSpec, name: str, line: int, **changes) -> LayerSpec:
    where = {key: Location("net.yaml", line, f"layers[{line}].{key}") for key in changes}
    return dataclasses.replace(
        spec,
        name=name,
        location=Location("net.yaml", line, f"layers[{line}]"),
        key_locations=where,
        **changes,
    )


CNN = [
    named(layer_spec("conv2d", 8, kernel_size=(3, 3), padding="same", stride=(2, 2)), "c1", 10),
    named(layer_spec("conv2d", 8, kernel_size=(3, 3), dilation=(2, 2)), "c2", 11, init="he_normal"),
    named(layer_spec("flatten", None), "f3", 12),
    named(layer_spec("dense", 10), "d4", 13, activation="tanh", bias=False),
]


def test_build_network_shapes_and_precedence():
    net = build_network(network_spec(CNN))
    assert [layer.index for layer in net.layers] == [1, 2, 3, 4]
    assert [layer.out_shape for layer in net.layers] == [(8, 8, 8), (8, 4, 4), (128,), (10,)]
    assert [getattr(layer, "weight_shape", None) for layer in net.layers] == [
        (8, 3, 3, 3), (8, 8, 3, 3), None, (10, 128),
    ]  # fmt: skip
    assert net.output_shape == (10,)
    assert net.notes == (
        "c1: padding 'same' with stride 2x2 pads 0+1, 0+1 as TensorFlow/Keras do (the odd "
        "zero after); PyTorch allows 'same' only at stride 1",
    )
    glorot, he = resolve_initializer("glorot_uniform"), resolve_initializer("he_normal")
    assert [getattr(layer, "init", None) for layer in net.layers] == [glorot, he, None, glorot]
    # --init replaces the spec's default; a layer's own init wins over both (issue 3).
    net = build_network(network_spec(CNN), init="lecun_normal", bias_init="ones")
    lecun = resolve_initializer("lecun_normal")
    assert [getattr(layer, "init", None) for layer in net.layers] == [lecun, he, None, lecun]
    ones = resolve_initializer("ones")
    assert [getattr(layer, "bias_init", None) for layer in net.layers] == [ones, ones, None, None]
    first, _, flatten, dense = net.layers
    assert first.fans == compute_fans((8, 3, 3, 3), "torch") and first.fans.fan_in == 27
    assert dense.activation == resolve_activation("tanh")
    assert first.activation == resolve_activation("linear")
    assert flatten.row_info().activation is None and flatten.row_info().fan_in is None
    assert net.parameter_count() == 8 * 27 + 8 + 8 * 72 + 8 + 1280


@pytest.mark.parametrize(
    ("layers", "kw", "start", "code"),
    [
        (
            [named(CNN[0], "c1", 10, activation="tnah")],
            {},
            "net.yaml:10: layers[10].activation: ",
            1,
        ),
        ([named(CNN[0], "c1", 10, init="he_nromal")], {}, "net.yaml:10: layers[10].init: ", 1),
        ([CNN[0]], {"init": "he_nromal"}, "--init: ", 2),
        ([CNN[0]], {"bias_init": "zeroes"}, "--bias-init: ", 2),
    ],
)
def test_resolution_errors_name_their_source(layers, kw, start, code):
    with pytest.raises(InitcliError) as info:
        build_network(network_spec(layers), **kw)
    assert str(info.value).startswith(start) and info.value.exit_code == code
    assert "did you mean" in str(info.value)


def test_bad_default_init_names_the_spec_key():
    with pytest.raises(InitcliError, match=r"^net\.yaml:3: init: ") as info:
        build_network(network_spec(CNN, init="glorot_unifrom"))
    assert info.value.exit_code == 1


def test_dense_after_conv_names_both_layers():
    with pytest.raises(InitcliError) as info:
        build_network(network_spec([CNN[0], CNN[3]]))
    assert str(info.value) == (
        "net.yaml:13: layers[13]: d4: dense needs a flat input (features) but c1 gives "
        "(8, 8, 8); add '- {type: flatten}' before it (Keras and PyTorch would apply dense "
        "to the last axis only)"
    )


@pytest.mark.parametrize(
    "activation", ["relu", "leaky_relu", "tanh", "'leaky_relu(negative_slope=-0.5)'"]
)
def test_forward_keeps_phi_prime_only_where_it_cannot_be_read_from_phi(
    tmp_path, activation: str
) -> None:
    """Memory held at the end of forward (tracemalloc sees numpy's buffers): each layer's
    input, plus phi'(z) per layer only for tanh; relu-like layers read phi' from phi(z) in
    backward, and phi(z) is the next layer's input, kept there anyway."""
    import tracemalloc

    from initcli.network_spec import load_spec
    from initcli.propagate import ForwardStep, propagate, sample_parameters

    depth, width, batch = 6, 256, 512  # every activation tensor is 1 MiB in float64
    layers = "\n".join(
        f"  - {{type: dense, units: {width}, activation: {activation}}}" for _ in range(depth)
    )
    path = tmp_path / "net.yaml"
    head = f"name: chain\ninput: {{shape: [{width}]}}\nbatch: {batch}\nlayers:\n"
    path.write_text(head + layers + "\n")
    network = build_network(load_spec(path))
    rng = np.random.default_rng(0)
    params = sample_parameters(network, rng, np.float64)
    inputs = rng.standard_normal((batch, width))
    grad = rng.standard_normal((batch, width))
    tensor = batch * width * 8
    tracemalloc.start()
    try:
        steps = propagate(network, params, inputs, grad)
        held = 0
        for step in steps:
            if isinstance(step, ForwardStep) and step.layer.name == network.layers[-1].name:
                del step
                held = tracemalloc.get_traced_memory()[0]
                break
        steps.close()
    finally:
        tracemalloc.stop()
    # Kept: the inputs of layers 2..depth and the last output (layer 1's input is `inputs`),
    # and z of the last layer, still alive in the generator: depth + 1 tensors.
    kept = depth + 1 if activation in ("relu", "leaky_relu") else 2 * depth + 1
    assert kept * tensor <= held < (kept + 0.5) * tensor


_RELU_THEN_NORM = """name: relu_then_norm
input: {shape: [256]}
batch: 512
layers:
  - {type: dense, units: 256, activation: relu}
  - {type: layernorm}
  - {type: dense, units: 256, activation: relu}
  - {type: flatten}
  - {type: dense, units: 256, activation: relu}
  - {type: dense, units: 10}
"""


@pytest.mark.parametrize(
    "config", ["cnn_relu", "mlp_relu", "resnet_preact", "tcn_causal", "relu_then_norm"]
)
def test_the_memory_estimate_covers_what_a_run_holds(tmp_path, config: str) -> None:
    """estimate_memory counts phi(z) once where a relu-like layer and the next layer both
    keep it (Chain.saved_elements), and twice nowhere it is two arrays (a layernorm keeps
    its own xhat): the estimate stays at or above numpy's peak (tracemalloc) of a run."""
    import tracemalloc

    from initcli.experiment import RunOptions, run_experiment
    from initcli.network_spec import load_spec
    from initcli.propagate import estimate_memory

    if config == "relu_then_norm":
        path = tmp_path / "net.yaml"
        path.write_text(_RELU_THEN_NORM)
    else:
        path = Path(__file__).resolve().parent.parent / "configs" / f"{config}.yaml"
    spec = load_spec(path)
    estimate = estimate_memory(build_network(spec), spec.batch, 4, True)
    tracemalloc.start()
    try:
        run_experiment(spec, RunOptions(seed=0, keep_samples=False))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= estimate < 2.5 * peak


def test_a_chain_counts_a_relu_output_once_where_the_next_layer_keeps_it(tmp_path) -> None:
    from initcli.network_spec import load_spec

    path = tmp_path / "net.yaml"
    path.write_text(_RELU_THEN_NORM)
    network = build_network(load_spec(path))
    per_example = (
        256
        + 256  # dense relu: x and phi(z); a layernorm follows, which keeps its own xhat
        + 256
        + 1  # layernorm: xhat and 1/sigma (linear: no phi')
        + 256  # dense relu: x (its phi(z) is the next dense's x, past the flatten view)
        + 256  # dense relu: x (phi(z): the last dense's x)
        + 256
        + 10  # dense linear: x and its output (an upper bound: phi' = 1 is not stored)
    )
    assert network.root.saved_elements(512) == 512 * per_example
