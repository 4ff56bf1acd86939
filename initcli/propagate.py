"""Sample a network's parameters, push one batch forward and one random gradient backward.

``propagate`` yields the raw tensors of each reporting layer as it goes (a
:class:`ForwardStep` per layer from first to last, then a :class:`BackwardStep` per layer
from last to first) and keeps only what the backward pass needs. The walk itself is the
layers' own: each built layer (:mod:`initcli.layers`) runs forward returning what its
backward needs and yields its steps; composites run their children. A consumer
(``initcli.stats``) reduces every step to numbers before asking for the next, so a step's
tensors are freed as soon as propagation moves on (and backward may reuse their buffers:
a step is valid only until the next one, see :func:`propagate`).

Memory floor (what backward cannot do without): all parameters, and what each layer keeps
for backward (a weighted layer: its input activation and phi'(z), two tensors of the
layer's size). See :func:`estimate_memory`.

Randomness: one ``numpy.random.Generator`` draws, in order, every layer's parameters
(weight then bias; layers depth first, first layer first), then the input batch, then the
output gradient G ~ N(0, 1). The same seed gives the same numbers whatever the rest of the
run does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from initcli.layers.base import BackwardStep, ForwardStep, Layer, Step
from initcli.network import Network, parameter_bytes

__all__ = [
    "BackwardStep",
    "ForwardStep",
    "Parameters",
    "estimate_memory",
    "propagate",
    "sample_input",
    "sample_parameters",
    "weighted_layers",
]

SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class Parameters:
    """Every layer's parameters by the layer's unique name (``{"weight": W, "bias": b}``)."""

    by_layer: Mapping[str, Mapping[str, np.ndarray]]
    order: tuple[str, ...]  # layer names depth first, as sampled

    def of(self, layer: Layer) -> Mapping[str, np.ndarray]:
        return self.by_layer.get(layer.name, {})

    @property
    def weights(self) -> tuple[np.ndarray | None, ...]:
        """Each layer's weight in sampling order (None where a layer has none)."""
        return tuple(self.by_layer[name].get("weight") for name in self.order)

    @property
    def biases(self) -> tuple[np.ndarray | None, ...]:
        return tuple(self.by_layer[name].get("bias") for name in self.order)

    def astype(self, dtype: type) -> Parameters:
        """The same values in ``dtype`` (float32 draws cast up, to compare with float64)."""
        cast: dict[str, dict[str, np.ndarray]] = {
            name: {key: value.astype(dtype) for key, value in own.items()}
            for name, own in self.by_layer.items()
        }
        return Parameters(cast, self.order)


def weighted_layers(network: Network) -> list[Layer]:
    """The layers that are rows of the statistics (dense and conv layers today)."""
    return network.reporting_layers()


def sample_parameters(network: Network, rng: np.random.Generator, dtype: type) -> Parameters:
    by_layer: dict[str, dict[str, np.ndarray]] = {}
    order = []
    for layer in network.walk():
        by_layer[layer.name] = layer.sample_parameters(rng, dtype)
        order.append(layer.name)
    return Parameters(by_layer, tuple(order))


def sample_input(
    shape: tuple[int, ...],
    batch: int,
    distribution: str,
    rng: np.random.Generator,
    dtype: type,
    vocab: int | None = None,
) -> np.ndarray:
    """A batch of unit-variance, zero-mean examples: N(0, 1) or U(-sqrt(3), sqrt(3)); or,
    for ``distribution == "tokens"``, int64 token ids uniform in [0, vocab)."""
    full = (batch, *shape)
    if distribution == "tokens":
        assert vocab is not None
        return rng.integers(0, vocab, size=full, dtype=np.int64)
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
    output_grad: np.ndarray | Callable[[], np.ndarray] | None,
) -> Iterator[Step]:
    """Forward ``inputs`` through ``network``; then, if ``output_grad`` is given, backward.

    ``output_grad`` is dL/d(output), of the network output's shape, or a function that
    returns it, called once when backward begins: G is then not alive through forward,
    whose last layer holds z and phi(z) at once (conv2d 8x64ch: the run's peak). Backward
    overwrites the gradient it is given (:meth:`Layer.backward`): an array is copied first,
    what the function returns is handed over.

    A step's arrays are valid until the next step is asked for: backward reuses gradient
    buffers (a residual block's incoming gradient becomes its shortcut's dL/dz), so a
    consumer reduces each step, or copies what it keeps, before it moves on. Overflow to
    inf and NaN propagate silently (the statistics find where they first appear).
    """
    root = network.root
    with np.errstate(all="ignore"):
        output, saved = yield from root.forward(inputs, params, output_grad is not None)
        if output_grad is None:
            return
        grad = output_grad() if callable(output_grad) else np.array(output_grad, copy=True)
        grad = grad.reshape(output.shape)
        del output
        yield from root.backward(grad, params, saved, False)


def estimate_memory(network: Network, batch: int, itemsize: int, with_grad: bool) -> int:
    """Bytes the run will hold at its peak, from shapes alone (before allocating anything).

    Every parameter; for backward, what each layer keeps (a weighted layer: its input and
    phi'(z)); plus the largest transient working set of one layer (z, phi(z), gradients,
    and for convolutions the column matrix of one chunk of the batch).
    """
    root = network.root
    total = parameter_bytes(network, itemsize)
    if with_grad:
        total += root.saved_elements(batch) * itemsize
    previous = batch * math.prod(network.input_shape)
    return total + root.transient_bytes(batch, itemsize, previous)
