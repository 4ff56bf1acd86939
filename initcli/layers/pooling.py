"""Pooling: ``avgpool2d`` and ``maxpool2d`` on ``(C, H, W)``, as ``torch.nn.AvgPool2d`` /
``torch.nn.MaxPool2d`` with their defaults (``stride`` defaults to ``kernel_size``,
``padding`` 0, floor mode; avgpool counts padded zeros in its divisor, PyTorch's
``count_include_pad=True``; maxpool pads with -inf), and ``global_avgpool`` on ``(C, L)``
or ``(C, H, W)``, returning ``(C,)`` as ``torch.nn.AdaptiveAvgPool1d/2d(1)`` followed by a
flatten (Keras ``GlobalAveragePooling1D/2D``).

Output size per spatial axis: ``floor((n + 2 * padding - kernel_size) / stride) + 1``.
maxpool's gradient goes to the argmax of each window, the first maximum in row-major
order within the window on ties (as PyTorch's CPU kernel, which keeps the first value
that is greater); overlapping windows add up.

No parameters and no row of the statistics, like ``flatten``. Mean-field theory: a pool
averages (or takes the maximum of) neighbouring positions of one channel, and conv outputs
at neighbouring positions are correlated (a random per-channel offset ``mean(x) * sum(W)``
is shared by every position); the per-channel theory of :mod:`initcli.network_theory` does
not track that covariance, so every pooling layer raises NoPrediction with that reason.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from initcli.errors import InitcliError
from initcli.layers.base import (
    AllParameters,
    Array,
    Backward,
    BuildContext,
    Forward,
    GradientState,
    Layer,
    NoPrediction,
    TheoryRecord,
    fmt_shape,
    layer_error,
)
from initcli.layers.common import COMMON_KEYS
from initcli.yamlnodes import Fields

if TYPE_CHECKING:
    from initcli.spec import LayerSpec

POOL_KEYS = (*COMMON_KEYS, "kernel_size", "stride", "padding")
_NO_THEORY = (
    "{name}: {type} pools neighbouring positions of a channel, whose correlation the "
    "per-channel mean-field theory does not track (conv outputs share a per-channel offset)"
)


def _pair(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values)


@dataclasses.dataclass(frozen=True)
class Pool2dLayer(Layer):
    """avgpool2d / maxpool2d; ``mode`` "avg" or "max"."""

    mode: str = "avg"
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    def _padded(self, x: Array) -> Array:
        ph, pw = self.padding
        if ph == 0 and pw == 0:
            return x
        fill = -np.inf if self.mode == "max" else 0.0
        return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)

    def _windows(self, x: Array) -> Array:
        """(B, C, Ho, Wo, kh, kw) view of the padded input."""
        from numpy.lib.stride_tricks import sliding_window_view

        view = sliding_window_view(self._padded(x), self.kernel, axis=(2, 3))
        sh, sw = self.stride
        ho, wo = self.out_shape[1:]
        return view[:, :, : ho * sh : sh, : wo * sw : sw]

    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        windows = self._windows(x)
        b, c, ho, wo = windows.shape[:4]
        if self.mode == "avg":
            out = windows.sum(axis=(4, 5), dtype=np.float64) / math.prod(self.kernel)
            return out.astype(x.dtype), None
        flat = windows.reshape(b, c, ho, wo, -1)
        arg = np.argmax(flat, axis=-1)  # the first maximum (NaN counts as the maximum)
        out = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
        saved = arg.astype(np.min_scalar_type(math.prod(self.kernel) - 1)) if keep else None
        return np.ascontiguousarray(out), saved
        yield  # a generator that reports nothing

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        if not need_grad_x:
            return None
        grad = grad.reshape(grad.shape[0], *self.out_shape)
        (ph, pw), (sh, sw), (kh, kw) = self.padding, self.stride, self.kernel
        h, w = self.in_shape[1:]
        ho, wo = self.out_shape[1:]
        grad_x = np.zeros((grad.shape[0], self.in_shape[0], h + 2 * ph, w + 2 * pw), grad.dtype)
        area = kh * kw
        for i in range(kh):
            for j in range(kw):
                target = grad_x[:, :, i : i + ho * sh : sh, j : j + wo * sw : sw]
                if self.mode == "avg":
                    target += grad / grad.dtype.type(area)
                else:
                    target += np.where(saved == i * kw + j, grad, 0)
        return grad_x[:, :, ph : ph + h, pw : pw + w]
        yield  # a generator that reports nothing

    def saved_elements(self, batch: int) -> int:
        # maxpool keeps the argmax of each window (stored as small ints, counted as one
        # element each: an upper bound); avgpool needs only the shapes.
        return batch * math.prod(self.out_shape) if self.mode == "max" else 0

    def transient_bytes(self, batch: int, itemsize: int, previous: int) -> int:
        # forward: the padded input and the output in float64 (avg); backward: the padded
        # gradient and one window offset's masked gradient.
        inp = (
            batch
            * math.prod(self.in_shape[:1])
            * math.prod(n + 2 * p for n, p in zip(self.in_shape[1:], self.padding, strict=True))
        )
        out = batch * math.prod(self.out_shape)
        return (2 * inp + 2 * out) * itemsize + out * 8

    def theory_forward(self, input_square: float, records: list[TheoryRecord]) -> float:
        raise NoPrediction(_NO_THEORY.format(name=self.name, type=self.type))

    def theory_backward(
        self, grad: GradientState, records: dict[str, TheoryRecord]
    ) -> GradientState:  # pragma: no cover - theory_forward already refused
        raise NoPrediction(_NO_THEORY.format(name=self.name, type=self.type))


@dataclasses.dataclass(frozen=True)
class GlobalAvgPoolLayer(Layer):
    """The mean over every position of each channel: ``(C, *spatial) -> (C,)``."""

    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        axes = tuple(range(2, x.ndim))
        return x.mean(axis=axes, dtype=np.float64).astype(x.dtype), None
        yield  # a generator that reports nothing

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        if not need_grad_x:
            return None
        positions = math.prod(self.in_shape[1:])
        spread = (grad / grad.dtype.type(positions)).reshape(
            grad.shape[0], self.in_shape[0], *(1,) * (len(self.in_shape) - 1)
        )
        return np.broadcast_to(spread, (grad.shape[0], *self.in_shape)).copy()
        yield  # a generator that reports nothing

    def transient_bytes(self, batch: int, itemsize: int, previous: int) -> int:
        return batch * math.prod(self.in_shape) * itemsize + batch * self.in_shape[0] * 8

    def theory_forward(self, input_square: float, records: list[TheoryRecord]) -> float:
        raise NoPrediction(_NO_THEORY.format(name=self.name, type=self.type))


def _flat_refusal(
    spec: LayerSpec, kind: str, wants: str, in_shape: tuple[int, ...], source: str
) -> InitcliError:
    return layer_error(
        spec,
        f"{kind} needs input {wants} but {source} gives {fmt_shape(in_shape)}; "
        f"put {kind} after a convolution and before any flatten or dense layer",
    )


class Pool2dKind:
    keys = POOL_KEYS

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.type = f"{mode}pool2d"
        self.default_name = self.type

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        if key in other_keys:
            return (
                f"{self.type} takes only {', '.join(POOL_KEYS)} (it has no weights); remove {key}"
            )
        return None

    def parse(self, fields: Fields) -> dict[str, Any]:
        if not fields.has("kernel_size"):
            raise fields.missing("kernel_size", "kernel_size: 2")
        kernel = fields.sizes("kernel_size", 2, 1)
        return {
            "bias": False,
            "kernel_size": kernel,
            "stride": fields.sizes("stride", 2, 1, default=kernel),
            "padding": fields.sizes("padding", 2, 0, default=(0, 0)),
        }

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> Pool2dLayer:
        if len(in_shape) != 3:
            raise _flat_refusal(spec, self.type, "(channels, height, width)", in_shape, source)
        kernel = tuple(spec.kernel_size)
        stride = tuple(spec.stride) or kernel
        padding = spec.padding if isinstance(spec.padding, tuple) else (0, 0)
        if any(2 * p > k for p, k in zip(padding, kernel, strict=True)):
            raise layer_error(
                spec,
                f"padding {_pair(padding)} is more than half of kernel_size {_pair(kernel)}, "
                "which PyTorch refuses (a window could hold only padding); lower padding",
                "padding",
            )
        spatial = in_shape[1:]
        out = tuple(
            (n + 2 * p - k) // s + 1
            for n, k, s, p in zip(spatial, kernel, stride, padding, strict=True)
        )
        if any(n + 2 * p < k for n, k, p in zip(spatial, kernel, padding, strict=True)):
            padded = "" if padding == (0, 0) else f" (padded by {_pair(padding)})"
            raise layer_error(
                spec,
                f"kernel_size {_pair(kernel)} is larger than the input {fmt_shape(in_shape)} "
                f"from {source}{padded}; use a smaller kernel_size or a larger input",
                "kernel_size",
            )
        return Pool2dLayer(
            spec,
            index,
            in_shape,
            (in_shape[0], *out),
            mode=self.mode,
            kernel=(kernel[0], kernel[1]),
            stride=(stride[0], stride[1]),
            padding=(padding[0], padding[1]),
        )


class GlobalAvgPoolKind:
    type = "global_avgpool"
    keys = COMMON_KEYS
    default_name = "global_avgpool"

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        if key in other_keys:
            return (
                "global_avgpool takes only type and name (it averages every position of "
                f"each channel); remove {key}"
            )
        return None

    def parse(self, fields: Fields) -> dict[str, Any]:
        return {"bias": False}

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> GlobalAvgPoolLayer:
        if len(in_shape) not in (2, 3):
            raise _flat_refusal(
                spec,
                self.type,
                "(channels, length) or (channels, height, width)",
                in_shape,
                source,
            )
        return GlobalAvgPoolLayer(spec, index, in_shape, (in_shape[0],))


AVGPOOL2D = Pool2dKind("avg")
MAXPOOL2D = Pool2dKind("max")
GLOBAL_AVGPOOL = GlobalAvgPoolKind()
