"""Stride-1 convolution as an implicit GEMM (initcli/conv_implicit.py) against im2col.

Times ``conv_forward`` + ``conv_backward`` of single layers with ``method="im2col"`` and
``method="implicit"`` (the implicit GEMM forced, whatever :func:`initcli.conv_implicit.plan`
would choose), and the largest difference of z, dL/dx and dL/dW between the two. These
shapes set the rule that ``method="auto"`` follows (bench/RESULTS.md).

    python bench/implicit_gemm.py [--threads N] [--repeats R]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from initcli import conv

# (name, x shape, weight shape, dilation, pads): the stride-1 layers of the benchmark cases
SHAPES = [
    ("conv2d bench layer, 64ch 32x32, batch 64", (64, 64, 32, 32), (64, 64, 3, 3), (1, 1), 1),
    ("cnn_relu layer 3, 32->64ch 16x16 d2, b256", (256, 32, 16, 16), (64, 32, 3, 3), (2, 2), 2),
    ("cnn_relu layer 1, 3->32ch 32x32, b256", (256, 3, 32, 32), (32, 3, 3, 3), (1, 1), 1),
]


def compare_layer(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    dilation: tuple[int, ...],
    pad: int,
    repeats: int,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """(im2col seconds, implicit seconds, largest difference over the largest value) of one
    float32 layer, forward + backward, best of ``repeats`` twice over."""
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    pads = ((pad, pad),) * len(dilation)
    stride = (1,) * len(dilation)
    out = conv.conv_output_shape(x.shape, w.shape, stride, dilation, pads)
    gz = rng.standard_normal((x_shape[0], w_shape[0], *out), dtype=np.float32)

    def layer(method: str) -> tuple[np.ndarray, ...]:
        z = conv.conv_forward(x, w, None, stride, dilation, pads, method=method)
        gx, gw = conv.conv_backward(x, w, gz, stride, dilation, pads, method=method)
        assert gx is not None
        return z, gx, gw

    worst = max(
        float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
        for a, b in zip(layer("im2col"), layer("implicit"), strict=True)
    )
    rounds = [
        (best(lambda: layer("im2col"), repeats), best(lambda: layer("implicit"), repeats))
        for _ in "ab"
    ]
    return min(r[0] for r in rounds), min(r[1] for r in rounds), worst


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

    rng = np.random.default_rng(0)
    with threadpool_limits(args.threads, user_api="blas"):
        for name, x_shape, w_shape, dil, pad in SHAPES:
            ours, theirs, worst = compare_layer(x_shape, w_shape, dil, pad, args.repeats, rng)
            print(
                f"{name}: im2col {ours * 1e3:.1f} ms, implicit GEMM {theirs * 1e3:.1f} ms "
                f"({theirs / ours:.2f}x); largest difference {worst:.1e} of the largest value"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
