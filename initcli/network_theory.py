"""Mean-field predictions for a whole :class:`~initcli.network.Network`.

Each weighted layer becomes a :class:`initcli.theory.LayerParams` built from what its
initializers *promise* (the law's variance and mean, not the sampled values): dense layers
with their fans, convolutions per channel ignoring borders. ``flatten`` is transparent.
The predictions fill the ``theory_*`` columns of ``run`` and ``compare``.
"""

from __future__ import annotations

import math

from initcli.initializers import bias_distribution
from initcli.network import Layer, Network
from initcli.theory import LayerParams, LayerPrediction, conv_layer, dense_layer, predict_stack


def _layer_params(layer: Layer) -> LayerParams:
    assert layer.weight_shape is not None and layer.init is not None
    assert layer.activation is not None and layer.fans is not None
    weight = layer.init.distribution(layer.weight_shape, "torch", fans=layer.fans)
    weight_std = weight.std()
    weight_var = weight_std * weight_std  # ** 2 raises OverflowError past 1e154; * gives inf
    bias_var = bias_mean = 0.0
    if layer.bias_init is not None:
        bias = bias_distribution(layer.bias_init, layer.weight_shape[0], layer.fans)
        bias_std = bias.std()
        bias_var, bias_mean = bias_std * bias_std, bias.mean()
    out_channels, in_channels, *kernel = layer.weight_shape
    if not kernel:
        return dense_layer(
            layer.activation,
            in_channels,
            out_channels,
            weight_var,
            bias_var=bias_var,
            bias_mean=bias_mean,
            weight_mean=weight.mean(),
        )
    return conv_layer(
        layer.activation,
        in_channels,
        out_channels,
        kernel,
        layer.stride or (1,) * len(kernel),
        weight_var,
        bias_var=bias_var,
        bias_mean=bias_mean,
        weight_mean=weight.mean(),
    )


def predict_network(
    network: Network, input_second_moment: float = 1.0, output_grad_var: float = 1.0
) -> list[LayerPrediction]:
    """One prediction per weighted layer, in order (index 1 = first weighted layer)."""
    layers = [_layer_params(layer) for layer in network.layers if layer.weight_shape is not None]
    return predict_stack(layers, input_second_moment, output_grad_var)


def weight_grad_var(prediction: LayerPrediction, batch: int) -> float | None:
    """Var(dL/dW) summed over a batch of independent examples (dense layers only)."""
    per_example = prediction.weight_grad_var_per_example
    if per_example is None or not math.isfinite(per_example):
        return None
    return per_example * batch
