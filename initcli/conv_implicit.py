"""Stride-1 convolution as an implicit GEMM: no column matrix, no col2im.

On the padded grid of one example, ``Xp_b`` (C rows of ``Hp * Wp``), the window of kernel
offset ``(i, j)`` starts at ``s_ij = i * d_h * Wp + j * d_w`` and its ``L = (oh - 1) * Wp
+ ow`` columns hold every output position ``(r, c)`` at column ``r * Wp + c`` (the ``Wp -
ow`` columns between output rows are computed and dropped). With ``W_ij = W[:, :, i, j]``
(O x C), one GEMM per example and offset, accumulating (beta = 1) through
:func:`initcli.blas.gemm`:

- forward:  ``Zg_b += W_ij @ Xp_b[:, s_ij : s_ij + L]``, then ``z_b = Zg_b`` at the output
  columns;
- weights:  ``dW_ij += dZg_b @ Xp_b[:, s_ij : s_ij + L]^T`` with ``dZg_b`` = dL/dz on the
  grid, zero in the dropped columns (so they add nothing);
- input:    ``dXp_b[:, s_ij : s_ij + L] += W_ij^T @ dZg_b``, then dL/dx = the interior.

Every product has K = C (or L for dW): measured in bench/implicit_gemm.py against im2col
(bench/RESULTS.md), 0.65-0.72x the time on 64 channels at 32 x 32, but 1.02-1.20x on 32
channels at 16 x 16 with dilation 2 (20 x 20 grid) and 1.5x with 3 input channels. So
:func:`plan` takes it only for at least :data:`MIN_CHANNELS` input channels and a grid
within :data:`MAX_GRID` of the output; elsewhere :mod:`initcli.conv` keeps im2col. Values
agree with im2col to float rounding (the sums run in another order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # initcli.blas loads ctypes: imported where a layer runs, not at start-up
    from initcli.blas import Gemm
    from initcli.sharing import Shares

MIN_CHANNELS = 64
MAX_GRID = 1.15  # computed positions L / output positions oh * ow

Pads = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Plan:
    """One layer on the 2-D padded grid (a conv1d is a 1 x L image)."""

    channels: int
    filters: int
    kernel: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    size: tuple[int, int]  # input H, W
    padded: tuple[int, int]  # Hp, Wp
    out: tuple[int, int]  # oh, ow

    @property
    def length(self) -> int:
        return (self.out[0] - 1) * self.padded[1] + self.out[1]

    @property
    def shifts(self) -> list[tuple[int, int, int]]:
        wp = self.padded[1]
        return [
            (i, j, i * self.dilation[0] * wp + j * self.dilation[1])
            for i in range(self.kernel[0])
            for j in range(self.kernel[1])
        ]


def plan(
    x_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
    only_where_faster: bool = True,
) -> Plan | None:
    """The layer's grid when the implicit GEMM applies (stride 1) and, with
    ``only_where_faster``, pays (see the module doc)."""
    if any(s != 1 for s in stride) or len(x_shape) not in (3, 4):
        return None
    channels, filters = weight_shape[1], weight_shape[0]
    if only_where_faster and channels < MIN_CHANNELS:
        return None
    if len(x_shape) == 3:  # conv1d as a 1 x L image
        size, kernel = (1, x_shape[2]), (1, weight_shape[2])
        dil, pad2 = (1, dilation[0]), ((0, 0), pads[0])
    else:
        size, kernel = (x_shape[2], x_shape[3]), (weight_shape[2], weight_shape[3])
        dil, pad2 = (dilation[0], dilation[1]), (pads[0], pads[1])
    padded = (size[0] + sum(pad2[0]), size[1] + sum(pad2[1]))
    out = (padded[0] - (kernel[0] - 1) * dil[0], padded[1] - (kernel[1] - 1) * dil[1])
    if min(out) < 1:
        return None
    result = Plan(channels, filters, kernel, dil, pad2, size, padded, out)
    if only_where_faster and result.length > MAX_GRID * math.prod(out):
        return None
    return result


def _taps(weight: np.ndarray, p: Plan) -> np.ndarray:
    """W as (kh, kw, O, C): each offset's (O x C) matrix contiguous for the GEMM."""
    by_offset = weight.reshape(p.filters, p.channels, *p.kernel).transpose(2, 3, 0, 1)
    return np.ascontiguousarray(by_offset)


def _interior(p: Plan) -> tuple[slice, slice]:
    (top, _), (left, _) = p.pads
    return slice(top, top + p.size[0]), slice(left, left + p.size[1])


def forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    p: Plan,
    gemm: Gemm,
    shares: Shares | None = None,
) -> np.ndarray:
    """``z = conv(x, W) + b`` in x's layout and dtype (``gemm``: :func:`initcli.blas.gemm`);
    with ``shares``, the examples are shared among its threads (each computed as alone)."""
    batch = x.shape[0]
    x4 = x.reshape(batch, p.channels, *p.size)
    z = np.empty((batch, p.filters, *p.out), dtype=x.dtype)
    examples = partial(_forward_examples, x4, _taps(weight, p), p, gemm, z)
    if shares is None:
        examples(slice(0, batch))
    else:
        shares.run(examples, batch)
    if bias is not None:
        z += bias[:, None, None]
    return z.reshape(batch, p.filters, *([p.out[1]] if x.ndim == 3 else p.out))


def _forward_examples(
    x4: np.ndarray, taps: np.ndarray, p: Plan, gemm: Gemm, z: np.ndarray, examples: slice
) -> None:
    from initcli.blas import NO_TRANS, ROW_MAJOR

    item = x4.itemsize
    xp = np.zeros((p.channels, *p.padded), dtype=x4.dtype)
    grid = np.empty((p.filters, p.out[0], p.padded[1]), dtype=x4.dtype)
    rows, cols = _interior(p)
    grid_size, ld_out = p.padded[0] * p.padded[1], p.out[0] * p.padded[1]
    shifts, length = p.shifts, p.length
    for b in range(examples.start, examples.stop):
        xp[:, rows, cols] = x4[b]
        for n, (i, j, shift) in enumerate(shifts):
            gemm(
                ROW_MAJOR, NO_TRANS, NO_TRANS, p.filters, length, p.channels, 1.0,
                taps[i, j].ctypes.data, p.channels, xp.ctypes.data + shift * item, grid_size,
                1.0 if n else 0.0, grid.ctypes.data, ld_out,
            )  # fmt: skip
        z[b] = grid[:, :, : p.out[1]]


def backward(
    x: np.ndarray,
    weight: np.ndarray,
    grad_z: np.ndarray,
    p: Plan,
    need_grad_x: bool,
    gemm: Gemm,
    shares: Shares | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """``(dL/dx, dL/dW)`` from ``dL/dz``; dL/dx is None when not ``need_grad_x``.

    With ``shares`` of more than one thread, the calling thread sums dW over the examples
    in their order while the others compute dL/dx, each example as alone: the same bytes as
    one thread's interleaved loop."""
    batch = x.shape[0]
    x4 = x.reshape(batch, p.channels, *p.size)
    gz4 = grad_z.reshape(batch, p.filters, *p.out)
    # dL/dx first: it can then take the block this layer's phi(z) has just freed (as large
    # as x in a stack of equal widths) before a smaller buffer splits it.
    grad_x = np.empty_like(x) if need_grad_x else None
    taps = _taps(weight, p)
    dtaps = np.zeros_like(taps)
    gx4 = None if grad_x is None else grad_x.reshape(x4.shape)
    if shares is not None and shares.shared and gx4 is not None:
        weights = partial(_backward_examples, x4, gz4, taps, p, gemm, dtaps, None, slice(0, batch))
        inputs = partial(_backward_examples, x4, gz4, taps, p, gemm, None, gx4)
        shares.beside(weights, inputs, batch)
    else:
        _backward_examples(x4, gz4, taps, p, gemm, dtaps, gx4, slice(0, batch))
    grad_w = np.ascontiguousarray(dtaps.transpose(2, 3, 0, 1)).reshape(weight.shape)
    return grad_x, grad_w


def _backward_examples(
    x4: np.ndarray,
    gz4: np.ndarray,
    taps: np.ndarray,
    p: Plan,
    gemm: Gemm,
    dtaps: np.ndarray | None,
    gx4: np.ndarray | None,
    examples: slice,
) -> None:
    """For the examples in order: add their dW into ``dtaps`` and/or write their dL/dx into
    ``gx4`` (whichever is given)."""
    from initcli.blas import NO_TRANS, ROW_MAJOR, TRANS

    item = x4.itemsize
    xp = np.zeros((p.channels, *p.padded), dtype=x4.dtype) if dtaps is not None else None
    dgrid = np.zeros((p.filters, p.out[0], p.padded[1]), dtype=x4.dtype)  # zero columns stay
    dxp = np.empty((p.channels, *p.padded), dtype=x4.dtype) if gx4 is not None else None
    rows, cols = _interior(p)
    grid_size, ld_out = p.padded[0] * p.padded[1], p.out[0] * p.padded[1]
    shifts, length = p.shifts, p.length
    for b in range(examples.start, examples.stop):
        if xp is not None:
            xp[:, rows, cols] = x4[b]
        dgrid[:, :, : p.out[1]] = gz4[b]
        if dxp is not None:
            dxp[...] = 0
        for i, j, shift in shifts:
            if xp is not None and dtaps is not None:
                gemm(
                    ROW_MAJOR, NO_TRANS, TRANS, p.filters, p.channels, length, 1.0,
                    dgrid.ctypes.data, ld_out, xp.ctypes.data + shift * item, grid_size,
                    1.0, dtaps[i, j].ctypes.data, p.channels,
                )  # fmt: skip
            if dxp is not None:
                gemm(
                    ROW_MAJOR, TRANS, NO_TRANS, p.channels, length, p.filters, 1.0,
                    taps[i, j].ctypes.data, p.channels, dgrid.ctypes.data, ld_out,
                    1.0, dxp.ctypes.data + shift * item, grid_size,
                )  # fmt: skip
        if dxp is not None and gx4 is not None:
            gx4[b] = dxp[:, rows, cols]
