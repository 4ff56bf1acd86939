"""What dense and convolution layers share: ``z = W x + b``, then ``phi(z)``.

A subclass gives the linear part (``linear_forward``, ``linear_backward``, the mean-field
fans); this base samples W and b, runs the activation, reports the layer's statistics
(one row of ``layers``) and keeps the layer input and phi'(z) for backward: the memory
floor of a weighted layer.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from initcli.layers.base import (
    AllParameters,
    Array,
    Backward,
    BackwardStep,
    DType,
    Forward,
    ForwardStep,
    GradientState,
    Layer,
    RowInfo,
    TheoryRecord,
)

if TYPE_CHECKING:
    from initcli.activations import Activation
    from initcli.fans import Fans
    from initcli.initializers import Initializer
    from initcli.theory import LayerParams


@dataclasses.dataclass(frozen=True)
class WeightedLayer(Layer):
    """A layer with a weight (PyTorch layout), an optional bias and an activation."""

    weight_shape: tuple[int, ...] = ()
    activation: Activation | None = None
    init: Initializer | None = None
    bias_init: Initializer | None = None  # None when the layer has no bias
    fans: Fans | None = None

    @property
    def reports(self) -> bool:
        return True

    @property
    def has_bias(self) -> bool:
        return self.spec.bias

    def row_info(self) -> RowInfo:
        assert self.activation is not None and self.fans is not None
        return RowInfo(
            activation=self.activation,
            weight_shape=self.weight_shape,
            fan_in=self.fans.fan_in,
            fan_out=self.fans.fan_out,
            init=self.init.spec if self.init is not None else "",
            bias_init=self.bias_init.spec if self.bias_init is not None else None,
        )

    # --- the linear part, per kind ---------------------------------------------------------

    def linear_forward(self, x: Array, weight: Array, bias: Array | None) -> Array:
        raise NotImplementedError

    def linear_backward(
        self, x: Array, weight: Array, grad_z: Array, *, need_grad_x: bool = True
    ) -> tuple[Array | None, Array]:
        """``(dL/dx, dL/dW)`` from ``dL/dz``; dL/dx is None when not ``need_grad_x``."""
        raise NotImplementedError

    def bias_grad(self, grad_z: Array) -> Array:
        """``dL/db``: ``dL/dz`` summed over the batch and every spatial position."""
        return grad_z.sum(axis=(0, *range(2, grad_z.ndim)))

    def mean_field_params(
        self, weight_var: float, bias_var: float, bias_mean: float, weight_mean: float
    ) -> LayerParams:
        raise NotImplementedError

    # --- parameters ------------------------------------------------------------------------

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {"weight": self.weight_shape}
        if self.spec.bias:
            shapes["bias"] = (self.weight_shape[0],)
        return shapes

    def sample_parameters(self, rng: np.random.Generator, dtype: DType) -> dict[str, Array]:
        from initcli.initializers import sample_bias, sample_weight

        assert self.init is not None and self.fans is not None
        params = {"weight": sample_weight(self.init, self.weight_shape, rng, dtype)}
        if self.bias_init is not None:
            units = self.weight_shape[0]
            params["bias"] = sample_bias(self.bias_init, units, self.fans, rng, dtype)
        return params

    # --- propagation -----------------------------------------------------------------------

    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        own = params.of(self)
        weight, bias = own["weight"], own.get("bias")
        assert self.activation is not None
        z = self.linear_forward(x, weight, bias)
        # relu-like: backward reads phi' from phi(z) (the next layer's input, kept there
        # anyway), so this layer keeps no phi' tensor of its own.
        from_output = keep and self.activation.reads_derivative_from_output
        # phi and phi' in one pass where one follows from the other (bit for bit the same
        # values as forward + derivative, see Activation.forward_and_derivative).
        a, dphi = self.activation.forward_and_derivative(
            z, need_derivative=keep and not from_output
        )
        yield ForwardStep(self, weight, bias, x, z, a)
        return a, ((x, a if from_output else dphi, from_output) if keep else None)

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        x_in, kept, from_output = saved
        del saved
        assert self.activation is not None
        grad_z = self.activation.grad_preact(
            grad.reshape(kept.shape), kept, from_output, overwrite_grad=True
        )
        del kept, grad
        own = params.of(self)
        grad_x, grad_weight = self.linear_backward(
            x_in, own["weight"], grad_z, need_grad_x=need_grad_x
        )
        del x_in
        grad_bias = self.bias_grad(grad_z) if own.get("bias") is not None else None
        yield BackwardStep(self, grad_z, grad_weight, grad_bias)
        return grad_x

    # --- memory and cost -------------------------------------------------------------------

    keeps_input = True

    @property
    def keeps_output(self) -> bool:  # type: ignore[override]
        assert self.activation is not None
        return self.activation.reads_derivative_from_output

    def saved_elements(self, batch: int) -> int:
        """x, and phi'(z) or, for a relu-like activation, phi(z) (which a chain counts once
        when the next layer keeps it as its input: Chain.saved_elements)."""
        return batch * (math.prod(self.in_shape) + math.prod(self.out_shape))

    def workspace_bytes(self, batch: int, itemsize: int) -> int:
        """Temporary bytes of the linear part beyond its inputs and outputs."""
        return 0

    def transient_bytes(self, batch: int, itemsize: int, previous: int) -> int:
        # Beyond what the layers keep (saved_elements): forward's z and phi(z); backward's
        # dL/dz (in dL/dphi's buffer, Activation.grad_preact), two input-sized gradients and
        # dL/dW; and the linear part's workspace (a convolution's column matrix for one chunk).
        out = batch * math.prod(self.out_shape)
        inp = batch * math.prod(self.in_shape)
        n_weight = math.prod(self.weight_shape)
        return (2 * out + 2 * max(inp, previous) + n_weight) * itemsize + self.workspace_bytes(
            batch, itemsize
        )

    def macs(self, batch: int) -> int:
        positions = math.prod(self.out_shape[1:])  # 1 for dense
        return batch * positions * math.prod(self.weight_shape)

    # --- mean-field theory -----------------------------------------------------------------

    def theory_forward(self, input_square: float, records: list[TheoryRecord]) -> float:
        from initcli.initializers import bias_distribution
        from initcli.theory import activation_mean, derivative_second_moment, second_moment

        assert self.init is not None and self.activation is not None and self.fans is not None
        # An initializer without a law per element (e.g. orthogonal) raises InitcliError:
        # the run reports "no mean-field prediction" with its message.
        weight = self.init.distribution(self.weight_shape, "torch", fans=self.fans)
        bias_var = bias_mean = 0.0
        if self.bias_init is not None:
            bias = bias_distribution(self.bias_init, self.weight_shape[0], self.fans)
            bias_std = bias.std()  # x * x: ** 2 raises OverflowError past 1e154
            bias_var, bias_mean = bias_std * bias_std, bias.mean()
        weight_std = weight.std()
        params = self.mean_field_params(weight_std * weight_std, bias_var, bias_mean, weight.mean())
        q = params.sigma_w2 * input_square + params.sigma_b2
        mu = params.bias_mean
        act = params.activation
        mean_a = activation_mean(act, q, mu)
        square = second_moment(act, q, mu)
        dsquare = derivative_second_moment(act, q, mu)
        records.append(TheoryRecord(self, params, mu, q, mean_a, square, dsquare, input_square))
        return square

    def theory_backward(
        self, grad: GradientState, records: dict[str, TheoryRecord]
    ) -> GradientState:
        record = records[self.name]
        record.grad_var = grad.factor * record.derivative_square * grad.upstream
        return GradientState(record.params.sigma_w2_back, record.grad_var)

    def theory_output_mean(self, records: dict[str, TheoryRecord]) -> float | None:
        return records[self.name].act_mean
