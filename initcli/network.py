"""Layers of a network: shapes, weight shapes (PyTorch layout) and the linear part's math.

:func:`build_network` turns a validated :class:`~initcli.spec.NetworkSpec` into layers with
their input/output shapes, resolved initializers and activations, and fans. Each
:class:`Layer` computes ``z = W x + b`` on a batch and its backward products; the
activation is applied by :mod:`initcli.propagate`.

Conventions: the batch axis first, channels first (``(B, F)``, ``(B, C, L)``,
``(B, C, H, W)``); weights ``(out, in, *kernel)``. Output sizes follow PyTorch and Keras:
``floor((n + pad_before + pad_after - dilation * (k - 1) - 1) / stride) + 1`` with

- ``valid``: no padding;
- ``same``: TensorFlow/Keras padding, output ``ceil(n / stride)``, the odd pad element after
  (for stride 1 identical to PyTorch's ``padding="same"``; PyTorch refuses ``"same"`` with
  stride > 1, so there initcli follows TensorFlow);
- ``causal`` (conv1d only): ``dilation * (k - 1)`` zeros before, as Keras ``Conv1D``;
- an int ``p``: ``p`` zeros on both sides of each spatial axis, as PyTorch ``padding=p``.

A dense layer needs a flat input: after a convolution the spec must say ``flatten``
(Keras's ``Dense`` and PyTorch's ``nn.Linear`` would act on the last axis only, which is
rarely what a spec means), so initcli refuses rather than guess.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from initcli import conv
from initcli.activations import Activation, resolve_activation
from initcli.errors import EXIT_BAD_DATA, InitcliError
from initcli.fans import Fans, compute_fans
from initcli.initializers import Initializer, resolve_initializer
from initcli.spec import LayerSpec, Location, NetworkSpec

_CONV_RANK = {"conv1d": 1, "conv2d": 2}
_INPUT_AXES = {1: "(features)", 2: "(channels, length)", 3: "(channels, height, width)"}


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer with its shapes; ``linear_forward``/``linear_backward`` do its linear part.

    ``in_shape``/``out_shape`` are per example (no batch axis). ``stride``, ``dilation`` and
    ``pads`` (``(before, after)`` zeros per spatial axis) are set for convolutions only.
    """

    spec: LayerSpec
    index: int  # 1-based
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    weight_shape: tuple[int, ...] | None  # (out, in, *kernel); None for flatten
    activation: Activation | None
    init: Initializer | None
    bias_init: Initializer | None  # None when the layer has no bias
    fans: Fans | None
    stride: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    pads: conv.Pads = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def has_bias(self) -> bool:
        return self.weight_shape is not None and self.spec.bias

    def linear_forward(
        self,
        x: np.ndarray,
        weight: np.ndarray | None,
        bias: np.ndarray | None,
        *,
        column_budget: int = conv.COLUMN_BUDGET,
    ) -> np.ndarray:
        """``z = W x + b`` for a batch ``x`` of shape ``(B, *in_shape)``, in ``x``'s dtype.

        Dense: ``x @ W.T + b`` (one GEMM, no copy of ``W``). Convolutions: im2col GEMMs, see
        :mod:`initcli.conv`. Flatten: a reshaped view of ``x``.
        """
        self._check_input(x)
        if self.weight_shape is None:
            return x.reshape(x.shape[0], *self.out_shape)
        assert weight is not None
        _check_dtype(self, x, weight, bias)
        if self.type == "dense":
            z = np.matmul(x, weight.T)
            if bias is not None:
                z += bias
            return z
        return conv.conv_forward(
            x, weight, bias, self.stride, self.dilation, self.pads, column_budget
        )

    def linear_backward(
        self,
        x: np.ndarray,
        weight: np.ndarray | None,
        grad_z: np.ndarray,
        *,
        need_grad_x: bool = True,
        column_budget: int = conv.COLUMN_BUDGET,
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(dL/dx, dL/dW)`` from ``dL/dz``, the weight gradient in PyTorch layout.

        ``dL/dx`` is None when ``need_grad_x`` is False (the first layer: saves a GEMM);
        ``dL/dW`` is None for flatten. ``dL/db`` is :meth:`bias_grad`.
        """
        self._check_input(x)
        if self.weight_shape is None:
            return (grad_z.reshape(grad_z.shape[0], *self.in_shape) if need_grad_x else None), None
        assert weight is not None
        _check_dtype(self, x, weight, grad_z)
        if self.type == "dense":
            grad_w = np.matmul(grad_z.T, x)
            return (np.matmul(grad_z, weight) if need_grad_x else None), grad_w
        return conv.conv_backward(
            x, weight, grad_z, self.stride, self.dilation, self.pads, need_grad_x, column_budget
        )

    def bias_grad(self, grad_z: np.ndarray) -> np.ndarray:
        """``dL/db``: ``dL/dz`` summed over the batch and every spatial position."""
        return grad_z.sum(axis=(0, *range(2, grad_z.ndim)))

    def workspace_bytes(
        self, batch: int, itemsize: int, column_budget: int = conv.COLUMN_BUDGET
    ) -> int:
        """Temporary bytes of one forward or backward call beyond its inputs and outputs.

        Dense and flatten: none. Convolutions: the column matrix of one chunk of the batch
        and its companions (:func:`initcli.conv.workspace_bytes`).
        """
        if self.weight_shape is None or self.type == "dense":
            return 0
        return conv.workspace_bytes(
            batch,
            self.in_shape,
            self.weight_shape,
            self.out_shape,
            self.pads,
            itemsize,
            column_budget,
        )

    def _check_input(self, x: np.ndarray) -> None:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(
                f"{self.name}: input batch has shape {x.shape}, expected (B, *{self.in_shape})"
            )


@dataclasses.dataclass(frozen=True)
class Network:
    name: str
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    notes: tuple[str, ...] = ()  # one line each, for the report: choices a reader should know

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].out_shape if self.layers else self.input_shape

    def parameter_count(self) -> int:
        return sum(parameter_count(layer) for layer in self.layers)


def _check_dtype(layer: Layer, x: np.ndarray, *others: np.ndarray | None) -> None:
    # A float64 weight would silently turn a float32 run into float64 (twice the memory).
    for other in others:
        if other is not None and other.dtype != x.dtype:
            raise TypeError(f"{layer.name}: input is {x.dtype} but a parameter is {other.dtype}")


def macs(layer: Layer, batch: int) -> int:
    """Multiply-accumulates of the forward product ``W x`` over a batch."""
    if layer.weight_shape is None:
        return 0
    positions = math.prod(layer.out_shape[1:])  # 1 for dense
    return batch * positions * math.prod(layer.weight_shape)


def flops(layer: Layer, batch: int) -> int:
    """FLOPs of the forward product and both backward products (dL/dx, dL/dW): 3 * 2 * MACs."""
    return 6 * macs(layer, batch)


def parameter_count(layer: Layer) -> int:
    if layer.weight_shape is None:
        return 0
    return math.prod(layer.weight_shape) + (layer.weight_shape[0] if layer.has_bias else 0)


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _fmt_pair(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values)


def _padding_text(padding: str | tuple[int, ...]) -> str:
    return repr(padding) if isinstance(padding, str) else _fmt_pair(padding)


def _error(spec: LayerSpec, message: str) -> InitcliError:
    return InitcliError(f"{spec.location}: {spec.name}: {message}", EXIT_BAD_DATA)


def _per_axis(spec: LayerSpec, key: str, values: tuple[int, ...], rank: int) -> tuple[int, ...]:
    if len(values) == 1:
        values = values * rank
    if len(values) != rank or any(v < 1 for v in values):
        raise InitcliError(
            f"{spec.where(key)}: {spec.name}: {key} {list(values)} must be {rank} positive "
            f"int(s) for {spec.type} (one per spatial axis)",
            EXIT_BAD_DATA,
        )
    return values


def _conv_pads(
    spec: LayerSpec,
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> conv.Pads:
    padding = spec.padding
    if padding == "valid":
        return tuple((0, 0) for _ in spatial)
    if padding == "same":
        return tuple(
            conv.same_padding(*args) for args in zip(spatial, kernel, stride, dilation, strict=True)
        )
    if padding == "causal":
        if spec.type != "conv1d":
            raise InitcliError(
                f"{spec.where('padding')}: {spec.name}: padding 'causal' is for conv1d only "
                f"(as in Keras); use 'valid', 'same' or an int for {spec.type}",
                EXIT_BAD_DATA,
            )
        return (conv.causal_padding(kernel[0], dilation[0]),)
    if isinstance(padding, str):
        raise InitcliError(
            f"{spec.where('padding')}: {spec.name}: unknown padding {padding!r}; "
            "use 'valid', 'same', 'causal' (conv1d) or an int",
            EXIT_BAD_DATA,
        )
    amounts = tuple(padding) * len(spatial) if len(padding) == 1 else tuple(padding)
    if len(amounts) != len(spatial) or any(p < 0 for p in amounts):
        raise InitcliError(
            f"{spec.where('padding')}: {spec.name}: padding {list(padding)} must be "
            f"{len(spatial)} non-negative int(s) for {spec.type}",
            EXIT_BAD_DATA,
        )
    return tuple((p, p) for p in amounts)


def infer_layer(
    spec: LayerSpec, index: int, in_shape: tuple[int, ...], source: str = "the input"
) -> Layer:
    """One layer's shapes and convolution geometry, without activation or initializers.

    ``source`` names what produces ``in_shape`` in error messages (the previous layer).
    Raises :class:`InitcliError` (exit 1) naming the layer, its location and both shapes.
    """
    kind = spec.type
    if kind == "flatten":
        return Layer(spec, index, in_shape, (math.prod(in_shape),), None, None, None, None, None)
    if spec.units is None or spec.units < 1:
        key = "units" if kind == "dense" else "filters"
        raise _error(spec, f"{kind} needs a positive '{key}' (got {spec.units})")
    if kind == "dense":
        if len(in_shape) != 1:
            raise _error(
                spec,
                f"dense needs a flat input (features) but {source} gives {_fmt(in_shape)}; "
                "add '- {type: flatten}' before it (Keras and PyTorch would apply dense to "
                "the last axis only)",
            )
        weight_shape = (spec.units, in_shape[0])
        return Layer(spec, index, in_shape, (spec.units,), weight_shape, None, None, None, None)
    if kind not in _CONV_RANK:
        raise _error(spec, f"unknown layer type {kind!r}; use dense, conv1d, conv2d or flatten")
    rank = _CONV_RANK[kind]
    if len(in_shape) != rank + 1:
        hint = {
            1: "convolutions must come before any dense or flatten layer",
            2: "use conv1d for (channels, length) inputs",
            3: "use conv2d for (channels, height, width) inputs",
        }[len(in_shape)]
        raise _error(
            spec,
            f"{kind} needs input {_INPUT_AXES[rank + 1]} but {source} gives {_fmt(in_shape)}; "
            f"{hint}",
        )
    kernel = _per_axis(spec, "kernel_size", spec.kernel_size, rank)
    stride = _per_axis(spec, "stride", spec.stride or (1,), rank)
    dilation = _per_axis(spec, "dilation", spec.dilation or (1,), rank)
    spatial = in_shape[1:]
    pads = _conv_pads(spec, spatial, kernel, stride, dilation)
    out = tuple(
        conv.output_size(*args)
        for args in zip(spatial, kernel, stride, dilation, pads, strict=True)
    )
    if any(n < 1 for n in out):
        span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
        padded = tuple(n + a + b for n, (a, b) in zip(spatial, pads, strict=True))
        raise _error(
            spec,
            f"kernel {_fmt_pair(kernel)} with dilation {_fmt_pair(dilation)} spans "
            f"{_fmt_pair(span)}, larger than the input {_fmt(in_shape)} from {source}, "
            f"padded to {_fmt_pair(padded)} (padding {_padding_text(spec.padding)}); "
            "use padding 'same', a smaller kernel_size or dilation, or a larger input",
        )
    return Layer(
        spec,
        index,
        in_shape,
        out_shape=(spec.units, *out),
        weight_shape=(spec.units, in_shape[0], *kernel),
        activation=None,
        init=None,
        bias_init=None,
        fans=None,
        stride=stride,
        dilation=dilation,
        pads=pads,
    )


T = TypeVar("T")


def _resolver(resolve: Callable[[str], T]) -> Callable[[str, str, int | None], T]:
    """``resolve`` with a per-build cache and the source of the text prefixed to its errors."""
    cache: dict[str, T] = {}

    def resolved(text: str, where: str, exit_code: int | None) -> T:
        if text not in cache:
            try:
                cache[text] = resolve(text)
            except InitcliError as err:
                raise err.with_context(where, exit_code) from None
        return cache[text]

    return resolved


def build_network(
    spec: NetworkSpec, init: str | None = None, bias_init: str | None = None
) -> Network:
    """Layers with shapes, initializers, activations and fans.

    Initializer precedence (issue 3): a layer's own ``init``/``bias_init`` wins; otherwise
    the ``init``/``bias_init`` override (``--init``/``--bias-init``); otherwise the spec's
    default. Errors name where the offending text came from (``file:line: key`` or the flag).
    """
    initializer = _resolver(resolve_initializer)
    activation = _resolver(resolve_activation)

    def default(override: str | None, key: str, value: str) -> tuple[str, str, int | None]:
        if override is not None:
            return override, f"--{key.replace('_', '-')}", None
        where = spec.key_locations.get(key, Location(spec.path, key=key))
        return value, str(where), EXIT_BAD_DATA

    # Resolved up front so a bad flag or default is reported even if every layer overrides it.
    default_init = default(init, "init", spec.init)
    default_bias = default(bias_init, "bias_init", spec.bias_init)
    initializer(*default_init)
    initializer(*default_bias)

    def own_or(
        own: str | None, where: Location, default: tuple[str, str, int | None]
    ) -> Initializer:
        if own is None:
            return initializer(*default)
        return initializer(own, str(where), EXIT_BAD_DATA)

    if not 1 <= len(spec.input_shape) <= 3 or any(n < 1 for n in spec.input_shape):
        where = spec.key_locations.get("input", Location(spec.path, key="input"))
        raise InitcliError(
            f"{where}: input shape {list(spec.input_shape)} must be [features], "
            "[channels, length] or [channels, height, width] of positive ints",
            EXIT_BAD_DATA,
        )
    layers: list[Layer] = []
    shape, source = spec.input_shape, "the input"
    for index, layer_spec in enumerate(spec.layers, start=1):
        layer = infer_layer(layer_spec, index, shape, source)
        if layer.weight_shape is not None:
            w_init = own_or(layer_spec.init, layer_spec.where("init"), default_init)
            b_init = own_or(layer_spec.bias_init, layer_spec.where("bias_init"), default_bias)
            act = activation(
                layer_spec.activation, str(layer_spec.where("activation")), EXIT_BAD_DATA
            )
            layer = dataclasses.replace(
                layer,
                activation=act,
                init=w_init,
                bias_init=b_init if layer_spec.bias else None,
                fans=compute_fans(layer.weight_shape, "torch"),
            )
        layers.append(layer)
        shape, source = layer.out_shape, layer_spec.name
    notes = tuple(note for note in map(_note, layers) if note)
    return Network(spec.name, spec.input_shape, tuple(layers), notes)


def _note(layer: Layer) -> str | None:
    if layer.spec.padding != "same" or max(layer.stride, default=1) == 1:
        return None
    pads = ", ".join(f"{a}+{b}" for a, b in layer.pads)
    return (
        f"{layer.name}: padding 'same' with stride {_fmt_pair(layer.stride)} pads {pads} as "
        "TensorFlow/Keras do (the odd zero after); PyTorch allows 'same' only at stride 1"
    )
