"""A chain of layers run one after the other: the network itself, and the body of any
composite kind (a repeatable group, a residual branch).

Backward pops what each layer saved, so a layer's tensors are freed as soon as its
gradient is computed. A layer's input gradient is computed only when something before it
needs it (a layer with parameters or statistics), which spares the first layer's
dL/dx product.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from initcli.layers.base import (
    AllParameters,
    Array,
    Backward,
    Forward,
    GradientState,
    Layer,
    TheoryRecord,
)


def needs_gradient(layer: Layer) -> bool:
    """Whether backward through ``layer`` does work of its own (parameters or statistics)."""
    return any(part.reports or part.parameter_shapes() for part in layer.walk())


@dataclasses.dataclass(frozen=True)
class Chain(Layer):
    layers: tuple[Layer, ...] = ()

    def children(self) -> tuple[Layer, ...]:
        return self.layers

    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        saved: list[Any] = []
        for layer in self.layers:
            x, kept = yield from layer.forward(x, params, keep)
            saved.append(kept)
        return x, saved

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        before = [False]  # before[i]: does a layer before position i need a gradient?
        for layer in self.layers[:-1]:
            before.append(before[-1] or needs_gradient(layer))
        result: Array | None = grad
        for position in range(len(self.layers) - 1, -1, -1):
            assert result is not None
            # Popped straight into the call, so the layer holds the only reference to what it
            # saved and can free each tensor (phi'(z), its input) as soon as it is used.
            result = yield from self.layers[position].backward(
                result, params, saved.pop(), need_grad_x or before[position]
            )
            if result is None:
                return None
        return result

    def saved_elements(self, batch: int) -> int:
        total = sum(layer.saved_elements(batch) for layer in self.layers)
        # A relu-like layer keeps phi(z), its output; when the next layer (past views such as
        # flatten) keeps its input, that is the same array, counted once.
        for position, layer in enumerate(self.layers):
            if not layer.keeps_output:
                continue
            following = (later for later in self.layers[position + 1 :] if not later.output_is_view)
            after = next(following, None)
            if after is not None and after.keeps_input:
                total -= batch * math.prod(layer.out_shape)
        return total

    def transient_bytes(self, batch: int, itemsize: int, previous: int) -> int:
        return max(transients(self.layers, batch, itemsize, previous), default=0)

    def theory_forward(self, input_square: float, records: list[TheoryRecord]) -> float:
        for layer in self.layers:
            input_square = layer.theory_forward(input_square, records)
        return input_square

    def theory_backward(
        self, grad: GradientState, records: dict[str, TheoryRecord]
    ) -> GradientState:
        for layer in reversed(self.layers):
            grad = layer.theory_backward(grad, records)
        return grad

    def theory_output_mean(self, records: dict[str, TheoryRecord]) -> float | None:
        return self.layers[-1].theory_output_mean(records) if self.layers else None


def transients(layers: Sequence[Layer], batch: int, itemsize: int, previous: int) -> list[int]:
    """Each working layer's peak temporary bytes, ``previous`` being the elements of the
    tensor the last working layer (one with parameters or statistics) produced."""
    import math

    peaks = []
    for layer in layers:
        if needs_gradient(layer):
            peaks.append(layer.transient_bytes(batch, itemsize, previous))
            previous = batch * math.prod(layer.out_shape)
    return peaks
