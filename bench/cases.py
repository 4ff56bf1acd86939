"""The benchmark's networks, the loop it times, and the PyTorch code a user would write instead.

A :class:`Case` is a network spec and a batch. :func:`prepare` samples it exactly as
``initcli.experiment.run_experiment`` does (weights, input, output gradient from one seeded
generator), so the timed part is only ``for step in propagate(...): collector.add(step)``.
:func:`torch_twin` builds the same network in PyTorch with the same weights and collects the
same per-layer variances with hooks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from initcli.experiment import dense_stack_spec
from initcli.network import Network, build_network, flops
from initcli.network_spec import LayerSpec, Location, NetworkSpec, load_spec
from initcli.propagate import (
    Parameters,
    propagate,
    sample_input,
    sample_parameters,
    weighted_layers,
)
from initcli.stats import LayerStats, StatsCollector

WHERE = Location("<bench>")


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    spec: NetworkSpec
    batch: int
    recipe: dict[str, Any]  # {"kind": key, **builder arguments}: rebuilds it in a subprocess


def dense_case(
    depth: int = 20, width: int = 1024, batch: int = 1024, activation: str = "tanh"
) -> Case:
    spec = dense_stack_spec(depth, width, activation, batch)
    title = f"dense {depth}x{width}, batch {batch}, {activation}"
    recipe = {"kind": "dense", "depth": depth, "width": width, "batch": batch}
    return Case("dense", title, spec, batch, {**recipe, "activation": activation})


def _conv_spec(
    name: str, layers: tuple[LayerSpec, ...], input_shape: tuple[int, ...], batch: int
) -> NetworkSpec:
    return NetworkSpec(
        name=name,
        path="<bench>",
        input_shape=input_shape,
        input_distribution="normal",
        batch=batch,
        init="he_normal",
        bias_init="zeros",
        layers=layers,
    )


def conv2d_case(depth: int = 8, channels: int = 64, size: int = 32, batch: int = 64) -> Case:
    layers = tuple(
        LayerSpec(
            type="conv2d",
            name=f"conv{i}",
            location=WHERE,
            units=channels,
            kernel_size=(3, 3),
            padding="same",
            activation="relu",
        )
        for i in range(1, depth + 1)
    )
    spec = _conv_spec("conv2d_stack", layers, (3, size, size), batch)
    title = f"conv2d {depth}x{channels}ch 3x3 same, 3x{size}x{size}, batch {batch}, relu"
    recipe = {"kind": "conv2d", "depth": depth, "channels": channels, "size": size}
    return Case("conv2d", title, spec, batch, {**recipe, "batch": batch})


def conv1d_case(depth: int = 8, channels: int = 64, length: int = 1024, batch: int = 32) -> Case:
    """WaveNet/TCN: causal kernel-3 convolutions with dilations 1, 2, 4, ... (cycling at 128)."""
    layers = tuple(
        LayerSpec(
            type="conv1d",
            name=f"conv{i}",
            location=WHERE,
            units=channels,
            kernel_size=(3,),
            dilation=(2 ** ((i - 1) % 8),),
            padding="causal",
            activation="relu",
        )
        for i in range(1, depth + 1)
    )
    spec = _conv_spec("tcn_stack", layers, (channels, length), batch)
    title = (
        f"conv1d causal {depth}x{channels}ch k3 dil 1..{2 ** min(depth - 1, 7)}, "
        f"L={length}, batch {batch}, relu"
    )
    recipe = {"kind": "conv1d", "depth": depth, "channels": channels, "length": length}
    return Case("conv1d", title, spec, batch, {**recipe, "batch": batch})


CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def config_case(config: str = "cnn_relu", batch: int = 256) -> Case:
    """A shipped config (``configs/<config>.yaml``) with its batch replaced: what a user runs."""
    spec = replace(load_spec(CONFIGS / f"{config}.yaml"), batch=batch)
    title = f"configs/{config}.yaml at batch {batch}"
    return Case("config", title, spec, batch, {"kind": "config", "config": config, "batch": batch})


BUILDERS: dict[str, Callable[..., Case]] = {
    "dense": dense_case,
    "conv2d": conv2d_case,
    "conv1d": conv1d_case,
    "config": config_case,
}


def case_from_recipe(recipe: dict[str, Any]) -> Case:
    arguments = dict(recipe)
    return BUILDERS[arguments.pop("kind")](**arguments)


@dataclass(frozen=True)
class Prepared:
    case: Case
    network: Network
    params: Parameters
    inputs: np.ndarray
    output_grad: np.ndarray


def prepare(case: Case, seed: int = 0, dtype: type = np.float32) -> Prepared:
    """Sample as ``run_experiment`` does: weights and biases, input, then G ~ N(0, 1)."""
    network = build_network(case.spec)
    rng = np.random.default_rng(seed)
    params = sample_parameters(network, rng, dtype)
    inputs = sample_input(network.input_shape, case.batch, case.spec.input_distribution, rng, dtype)
    out_shape = (case.batch, *network.layers[-1].out_shape)
    output_grad = rng.standard_normal(out_shape, dtype=dtype)
    return Prepared(case, network, params, inputs, output_grad)


def in_float64(prep: Prepared) -> Prepared:
    """The same draws cast to float64: both sides of a float64 twin comparison then differ
    only by float64 rounding (float32 can also flip a relu unit whose z is near 0)."""
    return replace(
        prep,
        params=prep.params.astype(np.float64),
        inputs=prep.inputs.astype(np.float64),
        output_grad=prep.output_grad.astype(np.float64),
    )


def flop_count(network: Network, batch: int) -> int:
    """Forward product and both backward products of every layer (initcli.network.flops)."""
    return sum(flops(layer, batch) for layer in network.layers)


def floor_bytes(network: Network, batch: int, itemsize: int) -> int:
    """What backward cannot do without: parameters, per weighted layer its input x, and
    phi'(z) where it is neither the constant 1 (linear) nor read from phi(z) (relu-like:
    phi(z) is the next layer's input, or for the last layer the network's output)."""
    layers = weighted_layers(network)
    total = 0
    for layer in layers:
        assert layer.weight_shape is not None and layer.activation is not None
        total += math.prod(layer.weight_shape) + layer.weight_shape[0]
        total += batch * math.prod(layer.in_shape)
        if layer.activation.name != "linear" and not layer.activation.reads_derivative_from_output:
            total += batch * math.prod(layer.out_shape)
    last = layers[-1]
    assert last.activation is not None
    if last.activation.reads_derivative_from_output:
        total += batch * math.prod(last.out_shape)
    return total * itemsize


def propagate_only(prep: Prepared) -> None:
    for _ in propagate(prep.network, prep.params, prep.inputs, prep.output_grad):
        pass


@dataclass
class Timed:
    seconds: float  # the whole loop
    stats_seconds: float  # of which inside StatsCollector.add
    layers: list[LayerStats]


def propagate_with_stats(prep: Prepared, keep_samples: bool = True) -> Timed:
    """The timed loop of ``initcli run``; also the time spent in the collector alone.

    Written as ``run_experiment`` writes it, freeing each step before the generator computes
    the next (without the ``del``, cnn_relu b256's peak RSS read 182 against 167 MiB), and
    handing backward a G of its own when backward begins (``run_experiment`` draws it then;
    here a copy of ``prep.output_grad``, which backward may overwrite).
    """
    collector = StatsCollector(keep_samples=keep_samples)
    in_stats = 0.0
    clock = time.perf_counter
    start = clock()
    for step in propagate(prep.network, prep.params, prep.inputs, prep.output_grad.copy):
        before = clock()
        collector.add(step)
        in_stats += clock() - before
        del step
    layers = collector.finish()
    return Timed(clock() - start, in_stats, layers)


# --- PyTorch: what a user would write instead -------------------------------------------------

_TORCH_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "linear": "Identity", "sigmoid": "Sigmoid"}


def _torch_layer(torch: Any, layer: Any, weight: np.ndarray, bias: np.ndarray | None) -> list[Any]:
    nn = torch.nn
    out_ch, in_ch = layer.weight_shape[:2]
    if layer.type == "dense":
        module = nn.Linear(in_ch, out_ch, bias=bias is not None)
        modules = [module]
    else:
        conv = nn.Conv1d if layer.type == "conv1d" else nn.Conv2d
        symmetric = all(a == b for a, b in layer.pads)
        module = conv(
            in_ch,
            out_ch,
            tuple(layer.weight_shape[2:]),
            stride=layer.stride,
            dilation=layer.dilation,
            padding=tuple(a for a, _ in layer.pads) if symmetric else 0,
            bias=bias is not None,
        )
        modules = [module]
        if not symmetric:  # causal: pad on the left, as TCN code does with F.pad
            flat = [p for pair in reversed(layer.pads) for p in pair]
            modules.insert(0, nn.ConstantPad1d(tuple(flat), 0.0))
    # Share initcli's arrays (no copy), so both hold the same bytes for the memory comparison.
    module.weight = nn.Parameter(torch.from_numpy(weight))
    if bias is not None:
        module.bias = nn.Parameter(torch.from_numpy(bias))
    name = layer.activation.name
    if name not in _TORCH_ACTIVATIONS:
        raise ValueError(f"no torch twin for activation {name!r}")
    modules.append(getattr(nn, _TORCH_ACTIVATIONS[name])())
    return modules


@dataclass
class TorchTwin:
    """``step()`` runs forward + backward and returns per-layer variances (hooks)."""

    step: Callable[[], dict[str, float]]
    threads: int


def torch_twin(prep: Prepared, threads: int) -> TorchTwin:
    import torch

    torch.set_num_threads(threads)
    nn = torch.nn
    modules: list[Any] = []
    for position, layer in enumerate(prep.network.layers):
        weight = prep.params.weights[position]
        if weight is None:
            modules.append(nn.Flatten())
            continue
        modules.extend(_torch_layer(torch, layer, weight, prep.params.biases[position]))
    model = nn.Sequential(*modules)
    x = torch.from_numpy(prep.inputs)
    grad_out = torch.from_numpy(prep.output_grad)
    found: dict[str, Any] = {}

    # The hooks a user writes: Var of every layer's output (z for linear/conv, phi(z) for the
    # activation), Var of dL/dz through a tensor hook, Var of W and dL/dW after backward.
    def hook(name: str) -> Callable[..., None]:
        def record(module: Any, inputs: Any, output: Any) -> None:
            found[f"{name}.out_var"] = output.detach().var(correction=0)
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)) and output.requires_grad:

                def grad_hook(grad: Any) -> None:
                    found[f"{name}.grad_var"] = grad.var(correction=0)

                output.register_hook(grad_hook)

        return record

    for name, module in model.named_children():
        if not isinstance(module, (nn.Flatten, nn.ConstantPad1d)):
            module.register_forward_hook(hook(name))
    weights = [(n, p) for n, p in model.named_parameters() if n.endswith("weight")]

    def step() -> dict[str, float]:
        for parameter in model.parameters():
            parameter.grad = None
        found.clear()
        out = model(x)
        out.backward(grad_out)
        for name, parameter in weights:
            found[f"{name}.var"] = parameter.detach().var(correction=0)
            assert parameter.grad is not None
            found[f"{name}.grad.var"] = parameter.grad.var(correction=0)
        return {key: float(value) for key, value in found.items()}

    return TorchTwin(step, threads)


def agreement(layers: list[LayerStats], torch_values: dict[str, float]) -> float:
    """Largest relative difference between initcli's and PyTorch's Var z, Var dL/dz, Var dL/dW.

    Same weights and inputs, so the two differ only by float32 rounding and summation order.
    """

    def ordered(suffix: str) -> list[float]:
        # keys are "<child index>.<what>"; backward hooks fire last layer first
        keyed = [(int(k.split(".")[0]), v) for k, v in torch_values.items() if k.endswith(suffix)]
        return [v for _, v in sorted(keyed)]

    # Children alternate (linear/conv, activation); padding and flatten modules have no hook.
    preacts = ordered(".out_var")[0::2]
    grads = ordered(".grad_var")
    weight_grads = ordered(".weight.grad.var")
    pairs = [
        *zip([s.preact_var for s in layers], preacts, strict=True),
        *zip([s.grad_var for s in layers], grads, strict=True),
        *zip([s.weight_grad_var for s in layers], weight_grads, strict=True),
    ]
    worst = 0.0
    for mine, theirs in pairs:
        assert mine is not None
        if theirs != 0:
            worst = max(worst, abs(mine / theirs - 1.0))
    return worst
