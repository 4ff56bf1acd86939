"""YAML keys and build steps that dense and convolution kinds share."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from initcli.yamlnodes import Fields, error

if TYPE_CHECKING:
    from initcli.layers.base import BuildContext
    from initcli.layers.weighted import WeightedLayer
    from initcli.network_spec import LayerSpec

COMMON_KEYS = ("type", "name")
WEIGHTED_KEYS = ("activation", "init", "bias_init", "bias", "repeat")


def parse_weighted(fields: Fields) -> dict[str, Any]:
    """activation, init, bias_init and bias: what dense and conv layers share."""
    parsed: dict[str, Any] = {}
    texts = (
        ("activation", "an activation SPEC", "activation: relu"),
        ("init", "an initializer SPEC", "init: he_normal"),
        ("bias_init", "an initializer SPEC", "bias_init: zeros"),
    )
    for key, what, example in texts:
        if fields.has(key):
            parsed[key] = fields.text(key, what, example)
    if fields.has("bias"):
        parsed["bias"] = fields.boolean("bias", "bias: false")
        if fields.has("bias_init") and not parsed["bias"]:
            raise error(
                fields.where("bias_init"),
                "bias_init is given but bias: false (the layer has no bias); remove one of the two",
            )
    return parsed


def with_initializers(
    layer: WeightedLayer, spec: LayerSpec, context: BuildContext
) -> WeightedLayer:
    """The shape-inferred ``layer`` with its initializers, activation and fans resolved."""
    from initcli.fans import compute_fans

    weight_init = context.weight_init(spec)
    bias_init = context.bias_init(spec)
    activation = context.activation(spec)
    return dataclasses.replace(
        layer,
        activation=activation,
        init=weight_init,
        bias_init=bias_init if spec.bias else None,
        fans=compute_fans(layer.weight_shape, "torch"),
    )
