"""``dense``: z = x W^T + b on a flat input, as ``torch.nn.Linear`` / Keras ``Dense``.

A dense layer needs a flat input or a sequence: after a convolution the spec must say
``flatten`` (Keras's ``Dense`` and PyTorch's ``nn.Linear`` would act on the last axis only,
which is rarely what a spec means), so initcli refuses rather than guess. On a sequence
``(tokens, features)`` (layout ``sequence``, see :mod:`initcli.layers.base`: a 2-D input no
convolution reads, an attention's or embedding's output) it acts on the last axis of every
token, as ``torch.nn.Linear`` does: weight ``(units, features)``, output ``(tokens, units)``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from initcli.layers.base import (
    CHANNELS,
    SEQUENCE,
    Array,
    BuildContext,
    fmt_shape,
    layer_error,
)
from initcli.layers.common import COMMON_KEYS, WEIGHTED_KEYS, parse_weighted, with_initializers
from initcli.layers.convolution import CONV_KEYS
from initcli.layers.weighted import WeightedLayer
from initcli.yamlnodes import Fields

if TYPE_CHECKING:
    from initcli.network_spec import LayerSpec
    from initcli.theory import LayerParams


@dataclasses.dataclass(frozen=True)
class DenseLayer(WeightedLayer):
    def linear_forward(
        self, x: Array, weight: Array, bias: Array | None, *, column_budget: int = 0
    ) -> Array:
        """``x @ W.T + b`` (one GEMM, no copy of ``W``), in ``x``'s dtype (``column_budget``
        is a convolution's; a dense layer has no column matrix)."""
        check_batch(self, x, weight, bias)
        if x.ndim == 3:  # a sequence: one GEMM over every token of the batch
            z = np.matmul(x.reshape(-1, x.shape[-1]), weight.T).reshape(*x.shape[:2], -1)
        else:
            z = np.matmul(x, weight.T)
        if bias is not None:
            z += bias
        return z

    def linear_backward(
        self,
        x: Array,
        weight: Array,
        grad_z: Array,
        *,
        need_grad_x: bool = True,
        column_budget: int = 0,
    ) -> tuple[Array | None, Array]:
        check_batch(self, x, weight, grad_z)
        if x.ndim == 3:  # a sequence: every token is one more row of each product
            flat = grad_z.reshape(-1, grad_z.shape[-1])
            grad_w = np.matmul(flat.T, x.reshape(-1, x.shape[-1]))
            if not need_grad_x:
                return None, grad_w
            return np.matmul(flat, weight).reshape(*x.shape[:2], -1), grad_w
        grad_w = np.matmul(grad_z.T, x)
        return (np.matmul(grad_z, weight) if need_grad_x else None), grad_w

    def bias_grad(self, grad_z: Array) -> Array:
        """``dL/db``: summed over the batch and, on a sequence, every token."""
        return grad_z.reshape(-1, grad_z.shape[-1]).sum(axis=0)

    def macs(self, batch: int) -> int:
        tokens = self.out_shape[0] if len(self.out_shape) == 2 else 1
        return batch * tokens * self.weight_shape[0] * self.weight_shape[1]

    def mean_field_params(
        self, weight_var: float, bias_var: float, bias_mean: float, weight_mean: float
    ) -> LayerParams:
        from initcli.theory import dense_layer

        assert self.activation is not None
        out_features, in_features = self.weight_shape
        return dense_layer(
            self.activation,
            in_features,
            out_features,
            weight_var,
            bias_var=bias_var,
            bias_mean=bias_mean,
            weight_mean=weight_mean,
        )


def check_batch(layer: WeightedLayer, x: Array, *parameters: Array | None) -> None:
    """The input batch has the layer's shape and every parameter the input's dtype."""
    if tuple(x.shape[1:]) != layer.in_shape:
        raise ValueError(
            f"{layer.name}: input batch has shape {x.shape}, expected (B, *{layer.in_shape})"
        )
    # A float64 weight would silently turn a float32 run into float64 (twice the memory).
    for other in parameters:
        if other is not None and other.dtype != x.dtype:
            raise TypeError(f"{layer.name}: input is {x.dtype} but a parameter is {other.dtype}")


class DenseKind:
    type = "dense"
    keys = (*COMMON_KEYS, "units", *WEIGHTED_KEYS)
    default_name = "dense"

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        if key == "filters":
            return "dense layers take units, not filters; rename filters to units"
        if key in CONV_KEYS:
            return (
                f"{key} is a conv1d/conv2d key, dense layers take {', '.join(self.keys)}; "
                f"remove {key} or change the type"
            )
        return None

    def parse(self, fields: Fields) -> dict[str, Any]:
        return {"units": fields.required_int("units", "units: 64"), **parse_weighted(fields)}

    def infer(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        layout: str | None = None,
    ) -> DenseLayer:
        """Shapes only; ``layout`` is the input's (a 2-D input not in ``channels`` layout is
        a sequence: dense acts on each token)."""
        if spec.units is None or spec.units < 1:
            raise layer_error(spec, f"dense needs a positive 'units' (got {spec.units})")
        if len(in_shape) == 2 and layout != CHANNELS:
            tokens, features = in_shape
            return DenseLayer(
                spec,
                index,
                in_shape,
                (tokens, spec.units),
                SEQUENCE,
                weight_shape=(spec.units, features),
            )
        if len(in_shape) != 1:
            raise layer_error(
                spec,
                f"dense needs a flat input (features) but {source} gives {fmt_shape(in_shape)}; "
                "add '- {type: flatten}' before it (Keras and PyTorch would apply dense to "
                "the last axis only)",
            )
        return DenseLayer(
            spec, index, in_shape, (spec.units,), weight_shape=(spec.units, in_shape[0])
        )

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> DenseLayer:
        layer = with_initializers(
            self.infer(spec, index, in_shape, source, context.in_layout), spec, context
        )
        assert isinstance(layer, DenseLayer)
        return layer


KIND = DenseKind()
