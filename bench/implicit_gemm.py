"""Probe for issue 15: stride-1 convolution as an implicit GEMM, against initcli's im2col.

Not used by initcli; it measures the route proposed in bench/RESULTS.md before anyone
builds it. For each example and each kernel offset ``(i, j)`` one BLAS call multiplies
``W[:, :, i, j]`` (O x C) by a strided window of the padded input (C x L, the rows of the
padded grid from the offset on, leading dimension = the padded row length), accumulating
into the output grid with beta = 1. Neither im2col nor col2im exists:

- forward:   Zg_b  (O x L)  += W_ij @ Xp_b[:, s_ij : s_ij + L]
- weights:   dW_ij (O x C)  += dZg_b @ Xp_b[:, s_ij : s_ij + L]^T
- input:     dXp_b[:, s_ij : s_ij + L] += W_ij^T @ dZg_b

where ``L = (oh - 1) * Wp + ow`` covers the output positions on the padded grid of row
length ``Wp`` (the ``Wp - ow`` columns between rows are computed and dropped; dZg is zero
there, so they add nothing backward). numpy's matmul cannot accumulate into its output,
so the calls go to numpy's own OpenBLAS through ctypes (``scipy_cblas_sgemm64_``, found
with threadpoolctl).

    python bench/implicit_gemm.py [--threads N] [--repeats R]

prints, per layer shape: the largest difference from initcli's conv_forward/conv_backward
(relative to the largest value) and the time of both, forward + backward.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from initcli import conv

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

# (name, x shape, weight shape, dilation, pads): the stride-1 layers of the benchmark cases
SHAPES = [
    ("conv2d bench layer, 64ch 32x32, batch 64", (64, 64, 32, 32), (64, 64, 3, 3), (1, 1), 1),
    ("cnn_relu layer 3, 32->64ch 16x16 d2, b256", (256, 32, 16, 16), (64, 32, 3, 3), (2, 2), 2),
    ("cnn_relu layer 1, 3->32ch 32x32, b256", (256, 3, 32, 32), (32, 3, 3, 3), (1, 1), 1),
]


def openblas_sgemm() -> Callable[..., None]:
    from threadpoolctl import threadpool_info

    for lib in threadpool_info():
        if lib.get("internal_api") == "openblas" and "scipy_openblas64" in lib["filepath"]:
            sgemm = ctypes.CDLL(lib["filepath"]).scipy_cblas_sgemm64_
            i64, f32, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
            sgemm.argtypes = [i64, i64, i64, i64, i64, i64, f32, ptr, i64, ptr, i64, f32, ptr, i64]
            sgemm.restype = None
            return sgemm  # type: ignore[no-any-return]
    raise SystemExit("numpy's bundled OpenBLAS (scipy_openblas64) not found")


def implicit_forward_backward(
    x: np.ndarray, w: np.ndarray, gz: np.ndarray, dil: tuple[int, int], pad: int, sgemm: Callable
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    batch, channels, height, width = x.shape
    filters, _, kh, kw = w.shape
    hp, wp = height + 2 * pad, width + 2 * pad
    oh, ow = hp - (kh - 1) * dil[0], wp - (kw - 1) * dil[1]
    length = (oh - 1) * wp + ow
    xp = np.zeros((batch, channels, hp, wp), dtype=np.float32)
    xp[:, :, pad : pad + height, pad : pad + width] = x
    taps = np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (kh, kw, O, C)
    shifts = [(i, j, i * dil[0] * wp + j * dil[1]) for i in range(kh) for j in range(kw)]
    item = 4
    z = np.empty((batch, filters, oh, ow), dtype=np.float32)
    grid = np.empty((filters, oh * wp), dtype=np.float32)
    for b in range(batch):
        base = xp[b].ctypes.data
        for n, (i, j, shift) in enumerate(shifts):
            sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, filters, length, channels, 1.0,
                  taps[i, j].ctypes.data, channels, base + shift * item, hp * wp,
                  1.0 if n else 0.0, grid.ctypes.data, oh * wp)  # fmt: skip
        z[b] = grid.reshape(filters, oh, wp)[:, :, :ow]
    # backward
    dgrid = np.zeros((filters, oh, wp), dtype=np.float32)
    dtaps = np.zeros((kh, kw, filters, channels), dtype=np.float32)
    dxp = np.zeros((channels, hp * wp), dtype=np.float32)
    grad_x = np.empty_like(x)
    for b in range(batch):
        dgrid[:, :, :ow] = gz[b]
        base = xp[b].ctypes.data
        dxp[...] = 0
        for i, j, shift in shifts:
            sgemm(ROW_MAJOR, NO_TRANS, TRANS, filters, channels, length, 1.0,
                  dgrid.ctypes.data, oh * wp, base + shift * item, hp * wp,
                  1.0, dtaps[i, j].ctypes.data, channels)  # fmt: skip
            sgemm(ROW_MAJOR, TRANS, NO_TRANS, channels, length, filters, 1.0,
                  taps[i, j].ctypes.data, channels, dgrid.ctypes.data, oh * wp,
                  1.0, dxp.ctypes.data + shift * item, hp * wp)  # fmt: skip
        grad_x[b] = dxp.reshape(channels, hp, wp)[:, pad : pad + height, pad : pad + width]
    return z, grad_x, np.ascontiguousarray(dtaps.transpose(2, 3, 0, 1))


def best(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    sgemm = openblas_sgemm()
    rng = np.random.default_rng(0)
    with threadpool_limits(args.threads, user_api="blas"):
        for name, x_shape, w_shape, dil, pad in SHAPES:
            x = rng.standard_normal(x_shape, dtype=np.float32)
            w = rng.standard_normal(w_shape, dtype=np.float32)
            pads = ((pad, pad), (pad, pad))
            out = conv.conv_output_shape(x.shape, w.shape, (1, 1), dil, pads)
            gz = rng.standard_normal((x_shape[0], w_shape[0], *out), dtype=np.float32)

            def im2col() -> tuple[np.ndarray, ...]:
                z = conv.conv_forward(x, w, None, (1, 1), dil, pads)  # noqa: B023
                gx, gw = conv.conv_backward(x, w, gz, (1, 1), dil, pads)  # noqa: B023
                assert gx is not None
                return z, gx, gw

            def implicit() -> tuple[np.ndarray, ...]:
                return implicit_forward_backward(x, w, gz, dil, pad, sgemm)  # noqa: B023

            worst = max(
                float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
                for a, b in zip(im2col(), implicit(), strict=True)
            )
            rounds = [(best(im2col, args.repeats), best(implicit, args.repeats)) for _ in "ab"]
            ours, theirs = min(r[0] for r in rounds), min(r[1] for r in rounds)
            print(
                f"{name}: im2col {ours * 1e3:.1f} ms, implicit GEMM {theirs * 1e3:.1f} ms "
                f"({theirs / ours:.2f}x); largest difference {worst:.1e} of the largest value"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
