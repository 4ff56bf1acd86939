"""Run one built layer forward and backward on its own (for the layer-kind tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from initcli.layers.base import Layer
from initcli.network import Network, build_network
from initcli.network_spec import load_spec_text
from initcli.propagate import Parameters, sample_parameters


def network(yaml_text: str, name: str = "t.yaml") -> Network:
    return build_network(load_spec_text(yaml_text, name, Path(name).stem))


def drive(generator: Any) -> tuple[Any, list[Any]]:
    """Run a layer's forward or backward generator: its return value and its steps."""
    steps = []
    try:
        while True:
            steps.append(next(generator))
    except StopIteration as stop:
        return stop.value, steps


def single(input_shape: list[int], layer: str) -> tuple[Network, Layer]:
    """A network of one layer (given as a YAML flow mapping) on ``input_shape``."""
    net = network(f"input: {{shape: {input_shape}}}\nlayers:\n  - {layer}\n")
    return net, net.layers[0]


def params_for(net: Network, dtype: type = np.float64, **overrides: np.ndarray) -> Parameters:
    params = sample_parameters(net, np.random.default_rng(0), dtype)
    name = net.layers[0].name
    own = dict(params.by_layer[name])
    own.update(overrides)
    return Parameters({**params.by_layer, name: own}, params.order)


def run(layer: Layer, params: Parameters, x: np.ndarray, grad: np.ndarray) -> dict[str, Any]:
    """Output, input gradient and the reported steps of one layer."""
    forward = layer.forward(x, params, True)
    steps = []
    try:
        while True:
            steps.append(next(forward))
    except StopIteration as stop:
        out, saved = stop.value
    backward = layer.backward(grad.reshape(out.shape).copy(), params, saved, True)
    try:
        while True:
            steps.append(next(backward))
    except StopIteration as stop:
        grad_x = stop.value
    return {"out": out, "grad_x": grad_x, "steps": steps}


def output(layer: Layer, params: Parameters, x: np.ndarray) -> np.ndarray:
    forward = layer.forward(x, params, False)
    try:
        while True:
            next(forward)
    except StopIteration as stop:
        return np.asarray(stop.value[0])


def finite_difference(fn: Any, x: np.ndarray, grad: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d(sum(grad * fn(x)))/dx by central differences, element by element."""
    result = np.zeros_like(x)
    flat, out = x.reshape(-1), result.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + h
        up = float(np.sum(grad * fn(x)))
        flat[i] = keep - h
        down = float(np.sum(grad * fn(x)))
        flat[i] = keep
        out[i] = (up - down) / (2 * h)
    return result
