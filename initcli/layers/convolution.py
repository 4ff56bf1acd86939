"""``conv1d`` / ``conv2d``: cross-correlation as ``torch.nn.Conv1d/2d`` and Keras ``ConvND``.

The math (im2col GEMMs, col2im) is :mod:`initcli.conv`. Output sizes follow PyTorch and
Keras: ``floor((n + pad_before + pad_after - dilation * (k - 1) - 1) / stride) + 1`` with

- ``valid``: no padding;
- ``same``: TensorFlow/Keras padding, output ``ceil(n / stride)``, the odd pad element after
  (for stride 1 identical to PyTorch's ``padding="same"``; PyTorch refuses ``"same"`` with
  stride > 1, so there initcli follows TensorFlow);
- ``causal`` (conv1d only): ``dilation * (k - 1)`` zeros before, as Keras ``Conv1D``;
- an int ``p``: ``p`` zeros on both sides of each spatial axis, as PyTorch ``padding=p``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from initcli import conv
from initcli.layers.base import CHANNELS, SEQUENCE, Array, BuildContext, fmt_shape, layer_error
from initcli.layers.common import COMMON_KEYS, WEIGHTED_KEYS, parse_weighted, with_initializers
from initcli.layers.weighted import WeightedLayer
from initcli.yamlnodes import STR, Fields, closest_hint, error, read_sizes, show

if TYPE_CHECKING:
    from initcli.network_spec import LayerSpec
    from initcli.theory import LayerParams

CONV_KEYS = ("filters", "kernel_size", "stride", "dilation", "padding")
_INPUT_AXES = {1: "(features)", 2: "(channels, length)", 3: "(channels, height, width)"}


def _fmt_pair(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values)


def _padding_text(padding: str | tuple[int, ...]) -> str:
    return repr(padding) if isinstance(padding, str) else _fmt_pair(padding)


@dataclasses.dataclass(frozen=True)
class ConvLayer(WeightedLayer):
    """``stride``, ``dilation`` and ``pads`` (``(before, after)`` zeros per spatial axis)."""

    stride: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    pads: conv.Pads = ()

    def linear_forward(
        self,
        x: Array,
        weight: Array,
        bias: Array | None,
        *,
        column_budget: int = conv.COLUMN_BUDGET,
    ) -> Array:
        """im2col GEMMs (:func:`initcli.conv.conv_forward`), in ``x``'s dtype."""
        from initcli.layers.dense import check_batch

        check_batch(self, x, weight, bias)
        return conv.conv_forward(
            x, weight, bias, self.stride, self.dilation, self.pads, column_budget
        )

    def linear_backward(
        self,
        x: Array,
        weight: Array,
        grad_z: Array,
        *,
        need_grad_x: bool = True,
        column_budget: int = conv.COLUMN_BUDGET,
    ) -> tuple[Array | None, Array]:
        from initcli.layers.dense import check_batch

        check_batch(self, x, weight, grad_z)
        grad_x, grad_w = conv.conv_backward(
            x, weight, grad_z, self.stride, self.dilation, self.pads, need_grad_x, column_budget
        )
        assert grad_w is not None
        return grad_x, grad_w

    def workspace_bytes(
        self, batch: int, itemsize: int, column_budget: int = conv.COLUMN_BUDGET
    ) -> int:
        """The column matrix of one chunk of the batch and its companions, or one example's
        grids for a layer that takes the implicit GEMM (:func:`initcli.conv.workspace_bytes`)."""
        return conv.workspace_bytes(
            batch,
            self.in_shape,
            self.weight_shape,
            self.out_shape,
            self.pads,
            itemsize,
            column_budget,
            stride=self.stride,
            dilation=self.dilation,
        )

    def mean_field_params(
        self, weight_var: float, bias_var: float, bias_mean: float, weight_mean: float
    ) -> LayerParams:
        from initcli.theory import conv_layer

        assert self.activation is not None
        out_channels, in_channels, *kernel = self.weight_shape
        return conv_layer(
            self.activation,
            in_channels,
            out_channels,
            kernel,
            self.stride or (1,) * len(kernel),
            weight_var,
            bias_var=bias_var,
            bias_mean=bias_mean,
            weight_mean=weight_mean,
        )

    def notes(self) -> list[str]:
        if self.spec.padding != "same" or max(self.stride, default=1) == 1:
            return []
        pads = ", ".join(f"{a}+{b}" for a, b in self.pads)
        uneven = any(a != b for a, b in self.pads)
        return [
            f"{self.name}: padding 'same' with stride {_fmt_pair(self.stride)} pads {pads} as "
            f"TensorFlow/Keras do{' (the odd zero after)' if uneven else ''}; PyTorch allows "
            "'same' only at stride 1"
        ]


def _per_axis(spec: LayerSpec, key: str, values: tuple[int, ...], rank: int) -> tuple[int, ...]:
    if len(values) == 1:
        values = values * rank
    if len(values) != rank or any(v < 1 for v in values):
        raise layer_error(
            spec,
            f"{key} {list(values)} must be {rank} positive int(s) for {spec.type} "
            "(one per spatial axis)",
            key,
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
            raise layer_error(
                spec,
                "padding 'causal' is for conv1d only (as in Keras); use 'valid', 'same' or an "
                f"int for {spec.type}",
                "padding",
            )
        return (conv.causal_padding(kernel[0], dilation[0]),)
    if isinstance(padding, str):
        raise layer_error(
            spec,
            f"unknown padding {padding!r}; use 'valid', 'same', 'causal' (conv1d) or an int",
            "padding",
        )
    amounts = tuple(padding) * len(spatial) if len(padding) == 1 else tuple(padding)
    if len(amounts) != len(spatial) or any(p < 0 for p in amounts):
        raise layer_error(
            spec,
            f"padding {list(padding)} must be {len(spatial)} non-negative int(s) for {spec.type}",
            "padding",
        )
    return tuple((p, p) for p in amounts)


class ConvKind:
    keys = (*COMMON_KEYS, *CONV_KEYS, *WEIGHTED_KEYS)

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.type = f"conv{rank}d"
        self.default_name = self.type

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        if key == "units":
            return f"{self.type} layers take filters, not units; rename units to filters"
        return None

    def parse(self, fields: Fields) -> dict[str, Any]:
        parsed: dict[str, Any] = {"units": fields.required_int("filters", "filters: 32")}
        if not fields.has("kernel_size"):
            raise fields.missing("kernel_size", "kernel_size: 3")
        for key in ("kernel_size", "stride", "dilation"):
            parsed[key] = fields.sizes(key, self.rank, 1, default=(1,) * self.rank)
        parsed["padding"] = self._padding(fields) if fields.has("padding") else "valid"
        parsed.update(parse_weighted(fields))
        return parsed

    def _padding(self, fields: Fields) -> str | tuple[int, ...]:
        entry = fields.entries["padding"]
        modes = ("valid", "same", "causal") if self.rank == 1 else ("valid", "same")
        ints = "an integer >= 0" + ("" if self.rank == 1 else " or a list of 2 such integers")
        allowed = f"{', '.join(modes)}, {ints}"
        node = entry.value
        from yaml.nodes import ScalarNode, SequenceNode

        from initcli.yamlnodes import INT, describe

        if isinstance(node, ScalarNode) and node.tag == STR:
            mode = str(node.value).strip()
            if mode in modes:
                return mode
            if mode == "causal":
                raise error(
                    entry.loc,
                    "causal padding is for conv1d only (it pads the start of a sequence); "
                    f"for {self.type} use {allowed}",
                )
            raise error(
                entry.loc,
                f"got {show(mode)}, must be {allowed}; {closest_hint(mode, modes)}"
                "e.g. padding: same",
            )
        if isinstance(node, SequenceNode) or (isinstance(node, ScalarNode) and node.tag == INT):
            return read_sizes(node, entry.loc, self.rank, 0, "padding")
        raise error(
            entry.loc, f"expected {allowed}, got {describe(node)}; write e.g. padding: same"
        )

    def infer(
        self, spec: LayerSpec, index: int, in_shape: tuple[int, ...], source: str
    ) -> ConvLayer:
        kind, rank = self.type, self.rank
        if spec.units is None or spec.units < 1:
            raise layer_error(spec, f"{kind} needs a positive 'filters' (got {spec.units})")
        if len(in_shape) != rank + 1:
            hint = {
                1: "convolutions must come before any dense or flatten layer",
                2: "use conv1d for (channels, length) inputs",
                3: "use conv2d for (channels, height, width) inputs",
            }.get(len(in_shape), f"give {kind} a {_INPUT_AXES[rank + 1]} input")
            raise layer_error(
                spec,
                f"{kind} needs input {_INPUT_AXES[rank + 1]} but {source} gives "
                f"{fmt_shape(in_shape)}; {hint}",
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
            raise layer_error(
                spec,
                f"kernel {_fmt_pair(kernel)} with dilation {_fmt_pair(dilation)} spans "
                f"{_fmt_pair(span)}, larger than the input {fmt_shape(in_shape)} from {source}, "
                f"padded to {_fmt_pair(padded)} (padding {_padding_text(spec.padding)}); "
                "use padding 'same', a smaller kernel_size or dilation, or a larger input",
            )
        return ConvLayer(
            spec,
            index,
            in_shape,
            (spec.units, *out),
            CHANNELS if rank == 1 else None,
            weight_shape=(spec.units, in_shape[0], *kernel),
            stride=stride,
            dilation=dilation,
            pads=pads,
        )

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> ConvLayer:
        if self.rank == 1 and context.in_layout == SEQUENCE:
            raise layer_error(
                spec,
                f"{self.type} reads (channels, length) but {source} gives a sequence "
                f"(tokens, features) {fmt_shape(in_shape)}; convolve before the sequence "
                "layers, or set input.layout: channels",
            )
        layer = with_initializers(self.infer(spec, index, in_shape, source), spec, context)
        assert isinstance(layer, ConvLayer)
        return layer


CONV1D = ConvKind(1)
CONV2D = ConvKind(2)
