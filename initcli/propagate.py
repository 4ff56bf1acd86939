"""Sample a network's parameters, push one batch forward and one random gradient backward.

``propagate`` yields the raw tensors of each layer as it goes (a :class:`ForwardStep` per
weighted layer from first to last, then a :class:`BackwardStep` per weighted layer from last
to first) and keeps only what the backward pass needs: each layer's input and phi'(z). A
consumer (``initcli.stats``) reduces every step to numbers before asking for the next, so a
step's tensors are freed as soon as propagation moves on.

Memory floor (what backward cannot do without): all weights and biases, and per weighted
layer its input activation and phi'(z) — two tensors of the layer's size. See
:func:`estimate_memory`.

Randomness: one ``numpy.random.Generator`` draws, in order, every layer's weight then bias
(first layer first), then the input batch, then the output gradient G ~ N(0, 1). The same
seed gives the same numbers whatever the rest of the run does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from initcli.initializers import sample_bias, sample_weight
from initcli.network import Layer, Network

SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class Parameters:
    """Weights (PyTorch layout) and biases of every layer; None where a layer has none."""

    weights: tuple[np.ndarray | None, ...]
    biases: tuple[np.ndarray | None, ...]


@dataclass(frozen=True)
class ForwardStep:
    layer: Layer
    weight: np.ndarray
    bias: np.ndarray | None
    inputs: np.ndarray  # x, the layer's input batch
    preact: np.ndarray  # z = W x + b
    act: np.ndarray  # phi(z)


@dataclass(frozen=True)
class BackwardStep:
    layer: Layer
    grad_preact: np.ndarray  # dL/dz
    grad_weight: np.ndarray  # dL/dW, PyTorch layout
    grad_bias: np.ndarray | None  # dL/db


def weighted_layers(network: Network) -> list[Layer]:
    return [layer for layer in network.layers if layer.weight_shape is not None]


def sample_parameters(network: Network, rng: np.random.Generator, dtype: type) -> Parameters:
    weights: list[np.ndarray | None] = []
    biases: list[np.ndarray | None] = []
    for layer in network.layers:
        if layer.weight_shape is None or layer.init is None or layer.fans is None:
            weights.append(None)
            biases.append(None)
            continue
        weights.append(sample_weight(layer.init, layer.weight_shape, rng, dtype))
        if layer.bias_init is None:
            biases.append(None)
        else:
            units = layer.weight_shape[0]
            biases.append(sample_bias(layer.bias_init, units, layer.fans, rng, dtype))
    return Parameters(tuple(weights), tuple(biases))


def sample_input(
    shape: tuple[int, ...], batch: int, distribution: str, rng: np.random.Generator, dtype: type
) -> np.ndarray:
    """A batch of unit-variance, zero-mean examples: N(0, 1) or U(-sqrt(3), sqrt(3))."""
    full = (batch, *shape)
    if distribution == "uniform":
        x = rng.random(full, dtype=dtype)
        x *= 2 * SQRT3
        x -= SQRT3
        return x
    return rng.standard_normal(full, dtype=dtype)


def propagate(
    network: Network,
    params: Parameters,
    inputs: np.ndarray,
    output_grad: np.ndarray | None,
) -> Iterator[ForwardStep | BackwardStep]:
    """Forward ``inputs`` through ``network``; then, if ``output_grad`` is given, backward.

    ``output_grad`` is dL/d(output) and must have the network output's shape. Overflow to
    inf and NaN propagate silently (the statistics find where they first appear).
    """
    saved: list[tuple[int, np.ndarray, np.ndarray]] = []  # (layer position, x, phi'(z))
    x = inputs
    with np.errstate(all="ignore"):
        for position, layer in enumerate(network.layers):
            weight = params.weights[position]
            if weight is None:  # flatten: a reshape, no statistics
                x = x.reshape(x.shape[0], *layer.out_shape)
                continue
            bias = params.biases[position]
            assert layer.activation is not None
            z = layer.linear_forward(x, weight, bias)
            a, dphi = layer.activation.forward_and_derivative(
                z, need_derivative=output_grad is not None
            )
            yield ForwardStep(layer, weight, bias, x, z, a)
            if dphi is not None:
                saved.append((position, x, dphi))
            del z, dphi
            x = a
        if output_grad is None:
            return
        grad = output_grad.reshape(x.shape)
        del x
        while saved:
            position, x_in, dphi = saved.pop()  # popping frees this layer's tensors after use
            layer = network.layers[position]
            grad_z = grad.reshape(dphi.shape) * dphi
            del dphi
            weight = params.weights[position]
            assert weight is not None
            grad_x, grad_weight = layer.linear_backward(
                x_in, weight, grad_z, need_grad_x=bool(saved)
            )
            assert grad_weight is not None
            del x_in
            grad_bias = None
            if params.biases[position] is not None:
                grad_bias = layer.bias_grad(grad_z)
            yield BackwardStep(layer, grad_z, grad_weight, grad_bias)
            if grad_x is None:
                break
            grad = grad_x


def estimate_memory(network: Network, batch: int, itemsize: int, with_grad: bool) -> int:
    """Bytes the run will hold at its peak, from shapes alone (before allocating anything).

    Weights + biases; for backward, each weighted layer's input and phi'(z); plus the
    largest transient working set of one layer (z, phi(z), gradients, and for convolutions
    the column matrix of one chunk of the batch, see ``Layer.workspace_bytes``).
    """
    total = 0
    peak_transient = 0
    previous = batch * math.prod(network.input_shape)
    for layer in weighted_layers(network):
        assert layer.weight_shape is not None
        n_weight = math.prod(layer.weight_shape)
        out = batch * math.prod(layer.out_shape)
        inp = batch * math.prod(layer.in_shape)
        total += (n_weight + layer.weight_shape[0]) * itemsize
        if with_grad:
            total += (inp + out) * itemsize
        workspace = layer.workspace_bytes(batch, itemsize)  # conv: one chunk's columns
        transient = (3 * out + 2 * max(inp, previous) + n_weight) * itemsize + workspace
        peak_transient = max(peak_transient, transient)
        previous = out
    return total + peak_transient
