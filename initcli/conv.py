"""Convolution (1-D and 2-D, any stride, dilation and padding) as large matrix products.

Wide stride-1 layers (at least 64 input channels, a padded grid close to the output) go to
:mod:`initcli.conv_implicit` instead, an implicit GEMM with no column matrix, where that
measured faster and numpy's bundled OpenBLAS is there; everything below is the im2col
route, which every other layer takes.

Layouts: input ``x`` is ``(B, C, *spatial)``, weight ``(O, C, *k)`` (PyTorch), output
``(B, O, *out)``; ``pads`` holds ``(before, after)`` per spatial dimension. The operation is
cross-correlation, as in ``torch.nn.functional.conv1d/conv2d`` and Keras::

    z[b, o, p] = bias[o] + sum_{c, i} W[o, c, i] * xp[b, c, p * stride + i * dilation]

where ``xp`` is ``x`` zero-padded by ``pads``.

im2col: a strided view of ``xp`` (no copy) is copied once into the column matrix
``cols`` of shape ``(K, N)``, ``K = C * prod(k)`` rows ordered like the weight's
``(C, *k)`` axes and ``N = batch * prod(out)`` columns. Then

- forward:  ``Z_b = W2 @ cols_b`` with ``W2 = W.reshape(O, K)`` (a view), one batched GEMM
  over the examples of a chunk, each ``cols_b`` ``(K, P)``, written straight into z's
  ``(B, O, P)`` layout (no transposed copy of the product);
- backward: ``dW2 = dZ @ cols.T`` (one GEMM on the ``(K, n P)`` columns) and
  ``dcols_b = W2.T @ dZ_b`` (one batched GEMM from dL/dz's own layout), then col2im scatters
  ``dcols`` back with one strided slice-add per kernel offset (``prod(k)`` vectorised adds,
  no loop over positions, no axis swap), a cache-sized block of examples at a time.

Threads: with more than one OpenBLAS thread, a call whose chunks are large enough shares
each chunk's examples among that many threads of its own (:mod:`initcli.sharing`), since
these small per-example GEMMs, copies and col2im are what OpenBLAS's threads do not speed
up. The values do not change with the thread count.

Memory: the column matrix holds ``C * prod(k) * prod(out)`` values per example, ``prod(k)``
times the input when stride is 1 (9x for a 3x3 kernel). So that this temporary does not
dominate a run's peak memory, the batch is processed in chunks whose columns fit in
``budget`` bytes (:data:`COLUMN_BUDGET`). :func:`workspace_bytes` gives the exact temporary
memory one call needs.

Chunk size (64 channels 3x3 on 32x32, batch 64, forward + backward, 2-core EPYC; see
bench/RESULTS.md): with one BLAS thread 4 MiB and 16 MiB chunks are within 5% of each
other, about 70% of the GEMM rate; with two threads on an idle machine 16 MiB is 10%
faster (52% of the 2-thread rate), and while another process holds a core a 4 MiB chunk's
GEMM (1024 columns) so often waits on its second thread that 4 MiB fell to 34% where
16 MiB kept 49%. A 16 MiB chunk is 7 examples of that layer, 16 of a 64-channel conv1d on
1024 steps; the workspace is then 8% (conv2d) and 16% (conv1d) of the benchmark
networks' memory floors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from initcli import blas, conv_implicit
from initcli.sharing import shares_for

if TYPE_CHECKING:
    from initcli.blas import Gemm

COLUMN_BUDGET = 16 * 2**20  # bytes of column matrix per chunk of the batch
# bytes of dL/dcols per col2im block (2 MiB: 1.1-1.6x faster col2im than a whole 16 MiB
# chunk on the benchmark layers, Zen 5 L2 1 MiB + L3; 0.5 and 1 MiB measured slower)
COL2IM_BLOCK = 2 * 2**20
_ALL = slice(None)

Pads = tuple[tuple[int, int], ...]


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow/Keras ``padding="same"``: output ``ceil(size / stride)``, extra pad after.

    Total pad = max((ceil(size/stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0),
    split with the odd element on the right/bottom (TF ``GetWindowedOutputSize``). With stride 1
    this equals PyTorch's ``padding="same"`` (total ``dilation * (kernel - 1)``, left half
    rounded down); PyTorch refuses ``"same"`` with stride > 1, so there we follow TF.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def causal_padding(kernel: int, dilation: int) -> tuple[int, int]:
    """Keras ``Conv1D(padding="causal")``: ``dilation * (kernel - 1)`` zeros on the left only."""
    return dilation * (kernel - 1), 0


def output_size(size: int, kernel: int, stride: int, dilation: int, pad: tuple[int, int]) -> int:
    """PyTorch's ``floor((size + pad - dilation * (kernel - 1) - 1) / stride) + 1``.

    Below 1 when the dilated kernel does not fit the padded input (the caller reports it).
    """
    return (size + pad[0] + pad[1] - dilation * (kernel - 1) - 1) // stride + 1


def _chunk(batch: int, per_example: int, budget: int) -> int:
    """Examples per chunk: as many as fit ``budget``, at least one, chunks of equal size."""
    fit = max(1, min(batch, budget // max(per_example, 1)))
    chunks = -(-batch // fit)
    return -(-batch // chunks)


def _geometry(
    x_shape: Sequence[int], weight_shape: Sequence[int], out: Sequence[int], pads: Pads
) -> tuple[int, int, int, int, tuple[int, ...], bool]:
    channels, kernel = weight_shape[1], tuple(weight_shape[2:])
    rows = channels * math.prod(kernel)  # K
    positions = math.prod(out)  # P
    padded = tuple(n + a + b for n, (a, b) in zip(x_shape[2:], pads, strict=True))
    return rows, positions, channels, weight_shape[0], padded, any(a or b for a, b in pads)


def workspace_bytes(
    batch: int,
    in_shape: Sequence[int],
    weight_shape: Sequence[int],
    out_shape: Sequence[int],
    pads: Pads,
    itemsize: int,
    budget: int = COLUMN_BUDGET,
    stride: Sequence[int] | None = None,
    dilation: Sequence[int] | None = None,
) -> int:
    """Peak temporary bytes of one :func:`conv_forward` or :func:`conv_backward` call.

    im2col, per chunk of ``n`` examples: the column matrix ``K * n * P``, the GEMM result
    ``O * n * P``, the padded input ``n * C * prod(padded)`` when padding is non-zero, and
    ``2 * O * K`` for the weight gradient and one chunk's share of it. A layer that takes
    the implicit GEMM (``stride`` and ``dilation`` given, as ``method="auto"`` decides)
    needs one example's grids instead: the padded input and its gradient, the output grid,
    and three copies of the weight (by offset, its gradient, the result). Excludes the
    call's output arrays (``z``, or ``dL/dx`` and ``dL/dW``), and what every thread, the
    calling one included, needs of its own when threads share a call
    (:mod:`initcli.sharing`): im2col's backward, a col2im block (the dcols of
    max(1, :data:`COL2IM_BLOCK` // one example's) examples and their padded grid); the
    implicit GEMM, one example's grids.
    """
    if stride is not None and dilation is not None:
        implicit = _implicit_workspace(in_shape, weight_shape, stride, dilation, pads, itemsize)
        if implicit is not None:
            return implicit
    rows, positions, channels, filters, padded, has_pad = _geometry(
        (batch, *in_shape), weight_shape, out_shape[1:], pads
    )
    n = _chunk(batch, rows * positions * itemsize, budget)
    elements = rows * n * positions + filters * n * positions + 2 * filters * rows
    if has_pad:
        elements += n * channels * math.prod(padded)
    return elements * itemsize


def _implicit_workspace(
    in_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
    itemsize: int,
) -> int | None:
    """:func:`workspace_bytes` of a layer that :func:`_implicit` sends to the implicit GEMM,
    or None for an im2col layer."""
    dtype = {4: np.float32, 8: np.float64}.get(itemsize)
    if dtype is None:
        return None
    found = _implicit_for((1, *in_shape), weight_shape, np.dtype(dtype), stride, dilation, pads)
    if found is None:
        return None
    p = found[0]
    grid = p.channels * math.prod(p.padded)
    weights = p.filters * p.channels * math.prod(p.kernel)
    return (2 * grid + p.filters * p.out[0] * p.padded[1] + 3 * weights) * itemsize


class _Workspace:
    """Buffers reused across the chunks of one call (the last chunk may be smaller)."""

    def __init__(
        self, x: np.ndarray, weight_shape: Sequence[int], out: Sequence[int], pads: Pads, n: int
    ) -> None:
        self.rows, self.positions, channels, filters, self.padded, self.has_pad = _geometry(
            x.shape, weight_shape, out, pads
        )
        self.pads = pads
        self.kernel = tuple(weight_shape[2:])
        self.out = tuple(out)
        dtype = x.dtype
        self.cols = np.empty(self.rows * n * self.positions, dtype=dtype)
        # dL/dz in (O, n * P) for the weight gradient: backward only, allocated on first use
        self.product_size = filters * n * self.positions
        self.product: np.ndarray | None = None
        # Zeroed once: chunks only overwrite the interior, so the borders stay zero.
        self.xp = np.zeros((n, channels, *self.padded), dtype=dtype) if self.has_pad else None
        self.interior = tuple(
            slice(a, a + size) for (a, _), size in zip(pads, x.shape[2:], strict=True)
        )
        self.dirty = False  # True once col2im has written gradients into the borders
        # per thread, when threads share the call: dcols and padded grid of a col2im block
        self.scratches: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}

    def begin_chunk(self) -> None:
        """Zero the padded buffer's borders again if col2im wrote gradients into them."""
        if self.xp is not None and self.dirty:
            self.xp[...] = 0
            self.dirty = False

    def padded_input(self, xc: np.ndarray, part: slice = _ALL) -> np.ndarray:
        """The chunk ``xc`` zero-padded, ``(m, C, *padded)``; only the examples ``part`` are
        copied in (one thread's share), the whole chunk's buffer is returned."""
        if self.xp is None:
            return xc
        xp = self.xp[: len(xc)]
        xp[(part, slice(None), *self.interior)] = xc[part]
        return xp

    def columns(
        self,
        xp: np.ndarray,
        stride: Sequence[int],
        dilation: Sequence[int],
        per_example: bool = False,
        part: slice = _ALL,
    ) -> np.ndarray:
        """im2col of the chunk's padded input ``xp`` (m examples): ``(K, m * P)`` with rows
        in ``(C, *k)`` order, columns in ``(m, *out)``; with ``per_example`` one ``(K, P)``
        matrix per example instead, ``(m, K, P)``. Only the examples ``part`` are written
        (one thread's share of the chunk); the whole chunk's matrix is returned."""
        m, channels = xp.shape[:2]
        first, stop, _ = part.indices(m)
        sb, sc, *ss = xp.strides
        kernel_strides = tuple(d * s for d, s in zip(dilation, ss, strict=True))
        out_strides = tuple(st * s for st, s in zip(stride, ss, strict=True))
        chunk = self.cols[: self.rows * m * self.positions]
        count = stop - first
        if per_example:
            shape = (count, channels, *self.kernel, *self.out)
            strides = (sb, sc, *kernel_strides, *out_strides)
            size = self.rows * self.positions
            target = chunk[first * size : stop * size].reshape(shape)
        else:
            shape = (channels, *self.kernel, count, *self.out)
            strides = (sc, *kernel_strides, sb, *out_strides)
            whole = chunk.reshape(channels, *self.kernel, m, *self.out)
            target = whole[(*[slice(None)] * (1 + len(self.kernel)), slice(first, stop))]
        window = np.lib.stride_tricks.as_strided(
            xp[first:stop], shape=shape, strides=strides, writeable=False
        )
        np.copyto(target, window)
        if per_example:
            return chunk.reshape(m, self.rows, self.positions)
        return chunk.reshape(self.rows, m * self.positions)

    def product_buffer(self, filters: int, n: int) -> np.ndarray:
        if self.product is None:
            self.product = np.empty(self.product_size, dtype=self.cols.dtype)
        return self.product[: filters * n * self.positions].reshape(filters, n * self.positions)

    def scratch(
        self, thread: int, block: int, shared: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Where a thread's col2im block of ``block`` examples works: dcols (flat) and the
        padded grid it is summed into (None without padding: straight into dL/dx). On one
        thread the start of the column and padded buffers (free once dW is done); shared,
        buffers of the thread's own, since dW's GEMM reads the columns meanwhile."""
        if not shared:
            return self.cols, None if self.xp is None else self.xp[:block]
        size = self.rows * block * self.positions
        if thread not in self.scratches or self.scratches[thread][0].size < size:
            dcols = np.empty(size, dtype=self.cols.dtype)
            padded = None if self.xp is None else np.empty_like(self.xp[:block])
            self.scratches[thread] = (dcols, padded)
        dcols, padded = self.scratches[thread]
        return dcols, None if padded is None else padded[:block]


def _check(
    x: np.ndarray, weight: np.ndarray, stride: Sequence[int], dilation: Sequence[int]
) -> None:
    if x.dtype != weight.dtype:
        raise TypeError(f"conv: input is {x.dtype} but weight is {weight.dtype}; cast one")
    if x.ndim != weight.ndim or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv: input {x.shape} does not match weight {weight.shape}")
    if not len(stride) == len(dilation) == x.ndim - 2:
        raise ValueError(f"conv: stride {stride} / dilation {dilation} for input {x.shape}")


def conv_output_shape(
    x_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
) -> tuple[int, ...]:
    """Spatial output sizes (no batch or channel axis)."""
    return tuple(
        output_size(n, k, s, d, p)
        for n, k, s, d, p in zip(x_shape[2:], weight_shape[2:], stride, dilation, pads, strict=True)
    )


def _implicit(
    x: np.ndarray,
    weight: np.ndarray,
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
    method: str,
) -> tuple[conv_implicit.Plan, Gemm] | None:
    """The implicit-GEMM plan and BLAS call for this layer, or None for im2col.

    ``method``: "auto" (implicit where it measured faster and numpy's OpenBLAS is there),
    "im2col", or "implicit" (wherever the stride allows: the tests' switch)."""
    return _implicit_for(x.shape, weight.shape, x.dtype, stride, dilation, pads, method)


def _implicit_for(
    x_shape: Sequence[int],
    weight_shape: Sequence[int],
    dtype: np.dtype,
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
    method: str = "auto",
) -> tuple[conv_implicit.Plan, Gemm] | None:
    """:func:`_implicit` from shapes and dtype alone (also what workspace_bytes asks)."""
    if method not in ("auto", "im2col", "implicit"):
        raise ValueError(f"conv: method {method!r}")
    if method == "im2col":
        return None
    plan = conv_implicit.plan(
        x_shape, weight_shape, stride, dilation, pads, only_where_faster=method == "auto"
    )
    if plan is None:
        return None
    call = blas.gemm(dtype)
    return None if call is None else (plan, call)


def _implied_columns(x: np.ndarray, weight: np.ndarray, plan: conv_implicit.Plan) -> int:
    """Elements of the column matrix im2col would build for this call (its work's size)."""
    return x.shape[0] * math.prod(weight.shape[1:]) * math.prod(plan.out)


def conv_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
    budget: int = COLUMN_BUDGET,
    method: str = "auto",
    threads: int | None = None,
) -> np.ndarray:
    """``z = conv(x, W) + b``, shape ``(B, O, *out)``, in ``x``'s dtype; by implicit GEMM
    where :mod:`initcli.conv_implicit` applies, else by im2col (``method``: see _implicit).

    ``threads``: how many threads share the examples (None: as many as
    OpenBLAS uses; see :class:`initcli.sharing.Shares`). The result is the same for any count."""
    _check(x, weight, stride, dilation)
    implicit = _implicit(x, weight, stride, dilation, pads, method)
    if implicit is not None:
        plan, call = implicit
        with shares_for(threads, _implied_columns(x, weight, plan)) as shares:
            return conv_implicit.forward(x, weight, bias, plan, call, shares)
    out = conv_output_shape(x.shape, weight.shape, stride, dilation, pads)
    batch, filters = x.shape[0], weight.shape[0]
    z = np.empty((batch, filters, *out), dtype=x.dtype)
    rows = math.prod(weight.shape[1:])
    n = _chunk(batch, rows * math.prod(out) * x.itemsize, budget)
    work = _Workspace(x, weight.shape, out, pads, n)
    w2 = weight.reshape(filters, rows)
    with shares_for(threads, rows * n * work.positions) as shares:
        for start in range(0, batch, n):
            xc = x[start : start + n]
            work.begin_chunk()
            target = z[start : start + len(xc)].reshape(len(xc), filters, work.positions)
            share = partial(_forward_share, work, xc, w2, bias, target, stride, dilation)
            shares.run(share, len(xc))
    return z


def conv_backward(
    x: np.ndarray,
    weight: np.ndarray,
    grad_z: np.ndarray,
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
    need_grad_x: bool = True,
    budget: int = COLUMN_BUDGET,
    method: str = "auto",
    threads: int | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """``(dL/dx, dL/dW)`` from ``dL/dz``; ``dL/dx`` is None when ``need_grad_x`` is False.

    ``threads``: as in :func:`conv_forward`."""
    _check(x, weight, stride, dilation)
    implicit = _implicit(x, weight, stride, dilation, pads, method)
    if implicit is not None:
        plan, call = implicit
        with shares_for(threads, _implied_columns(x, weight, plan)) as shares:
            return conv_implicit.backward(x, weight, grad_z, plan, need_grad_x, call, shares)
    out = tuple(grad_z.shape[2:])
    batch, filters = x.shape[0], weight.shape[0]
    rows = math.prod(weight.shape[1:])
    n = _chunk(batch, rows * math.prod(out) * x.itemsize, budget)
    # dL/dx before the workspace, so that it can take a freed block of its size before a
    # smaller buffer splits it (see conv_implicit.backward)
    grad_x = np.empty_like(x) if need_grad_x else None
    work = _Workspace(x, weight.shape, out, pads, n)
    w2 = weight.reshape(filters, rows)
    # dW^T = cols @ dZ^T, (K, O): the batch is the GEMM's inner dimension either way, but
    # OpenBLAS shares this orientation's K = C * prod(k) rows among its threads better than
    # O rows (0.16 s against 0.24 s for 64 channels 3x3, batch 64, on 2 cores).
    grad_w_t = np.empty((rows, filters), dtype=x.dtype)
    grad_w_chunk = np.empty_like(grad_w_t) if n < batch else grad_w_t
    with shares_for(threads, rows * n * work.positions) as shares:
        for start in range(0, batch, n):
            xc = x[start : start + n]
            m = len(xc)
            gz_chunk = grad_z[start : start + m].reshape(m, filters, work.positions)
            work.begin_chunk()
            # dZ as (O, m * P), the layout of the forward GEMM's result, for dW.
            gz = work.product_buffer(filters, m)
            shares.run(partial(_gather_share, work, xc, gz_chunk, gz, stride, dilation), m)
            cols = work.cols[: rows * m * work.positions].reshape(rows, m * work.positions)
            into = grad_w_t if start == 0 else grad_w_chunk
            # dW^T = cols @ dZ^T in one GEMM (shared: on the calling thread, OpenBLAS held
            # to one thread, so it is one thread's result); meanwhile the others do dL/dx.
            weight_grad = partial(np.matmul, cols, gz.T, out=into)
            if grad_x is None:
                weight_grad()
            else:
                block = _chunk(m, rows * work.positions * x.itemsize, COL2IM_BLOCK)
                blocks = [(first, min(block, m - first)) for first in range(0, m, block)]
                gx_chunk = grad_x[start : start + m]
                each = partial(
                    _grad_x_block, work, w2, gz_chunk, gx_chunk, stride, dilation, shares.shared
                )
                shares.after(weight_grad, each, blocks)
            if start > 0:
                grad_w_t += grad_w_chunk
            # col2im's scratch on one thread is the padded buffer itself
            work.dirty = work.xp is not None and grad_x is not None and not shares.shared
    return grad_x, np.ascontiguousarray(grad_w_t.T).reshape(weight.shape)


def _forward_share(
    work: _Workspace,
    xc: np.ndarray,
    w2: np.ndarray,
    bias: np.ndarray | None,
    target: np.ndarray,
    stride: Sequence[int],
    dilation: Sequence[int],
    part: slice,
) -> None:
    """z for the examples ``part`` of the chunk ``xc``: one ``(K, P)`` column matrix per
    example and ``W2 @ cols_b`` written straight into z's ``(m, O, P)`` layout (a batched
    GEMM; no transposed copy of the product)."""
    xp = work.padded_input(xc, part)
    cols = work.columns(xp, stride, dilation, per_example=True, part=part)
    np.matmul(w2, cols[part], out=target[part])
    if bias is not None:
        target[part] += bias[:, None]


def _gather_share(
    work: _Workspace,
    xc: np.ndarray,
    gz_chunk: np.ndarray,
    gz: np.ndarray,
    stride: Sequence[int],
    dilation: Sequence[int],
    part: slice,
) -> None:
    """What dW's GEMM reads, for the examples ``part``: their columns of the ``(K, m * P)``
    matrix and of dL/dz as ``(O, m * P)``."""
    work.columns(work.padded_input(xc, part), stride, dilation, part=part)
    m, filters, positions = gz_chunk.shape
    gz.reshape(filters, m, positions)[:, part] = gz_chunk[part].transpose(1, 0, 2)


def _grad_x_block(
    work: _Workspace,
    w2: np.ndarray,
    gz_chunk: np.ndarray,
    gx_chunk: np.ndarray,
    stride: Sequence[int],
    dilation: Sequence[int],
    shared: bool,
    thread: int,
    block: tuple[int, int],
) -> None:
    """dL/dx for the ``k`` examples from ``first`` of the chunk, ``block = (first, k)``:
    dcols per example, ``(k, K, P)``, straight from dL/dz's own ``(k, O, P)`` layout (one
    batched GEMM, ``W2^T @ dZ_b`` for each example b), then col2im adds whole ``(k, C)``
    planes with no axis swap, into the thread's scratch (:meth:`_Workspace.scratch`), read
    back while still in cache. Each example's GEMM and sum are the same for any block, so
    the result does not depend on the blocks (or on which thread takes one)."""
    first, k = block
    filters, positions = gz_chunk.shape[1], work.positions
    dcols_flat, padded = work.scratch(thread, k, shared)
    dcols = dcols_flat[: work.rows * k * positions].reshape(k, work.rows, positions)
    np.matmul(w2.T, gz_chunk[first : first + k].reshape(k, filters, positions), out=dcols)
    if padded is None:
        _col2im(dcols, gx_chunk[first : first + k], work.kernel, work.out, stride, dilation)
        return
    target = padded[:k]
    _col2im(dcols, target, work.kernel, work.out, stride, dilation)
    gx_chunk[first : first + k] = target[(slice(None), slice(None), *work.interior)]


def _col2im(
    dcols: np.ndarray,
    target: np.ndarray,
    kernel: Sequence[int],
    out: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> None:
    """Overwrite ``target`` (m, C, *padded) with the sum of ``dcols`` (m, C * prod(k), P)
    over overlapping windows.

    One strided slice-add per kernel offset: offset ``i`` touches input positions
    ``i * dilation + p * stride`` for every output position ``p``.
    """
    m, channels = target.shape[:2]
    cols = dcols.reshape(m, channels, *kernel, *out)
    target[...] = 0
    for offset in np.ndindex(*kernel):
        region = tuple(
            slice(i * d, i * d + (o - 1) * s + 1, s)
            for i, d, o, s in zip(offset, dilation, out, stride, strict=True)
        )
        target[(slice(None), slice(None), *region)] += cols[(slice(None), slice(None), *offset)]
