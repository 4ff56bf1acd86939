"""What batchnorm, layernorm and rmsnorm share: normalize over some axes, scale by gamma
(``weight``, ones at init) and shift by beta (``bias``, zeros at init; rmsnorm has none),
then an optional activation. Each kind module says which axes it normalizes over.

Forward (as PyTorch, training mode, biased variance, eps inside the square root)::

    xhat = (x - mean) / sqrt(var + eps)        batchnorm, layernorm
    xhat = x / sqrt(mean(x^2) + eps)           rmsnorm
    z = gamma * xhat + beta;   y = phi(z)

Backward, exact (the statistics depend on every value they are taken over; ``n`` values
per group, ``g = gamma * dL/dz``, means over the group)::

    dL/dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps)
    dL/dx = (g - xhat * mean(g * xhat)) / sqrt(mean(x^2) + eps)          rmsnorm
    dL/dgamma = sum(dL/dz * xhat),  dL/dbeta = sum(dL/dz)  over the axes gamma is shared on

The statistics are accumulated in float64 whatever the run's dtype (then cast back), so a
float32 run's normalization is as exact as its storage.

Mean-field theory (gamma = 1, beta = 0 at init). Over one group the identities
``mean(xhat^2) = v / (v + eps)`` (``v`` its biased variance; rmsnorm: its mean square) are
exact, so with ``v`` the predicted input variance ``E[x^2] - E[x]^2`` (rmsnorm: ``E[x^2]``)
the normalized output has second moment ``r = v / (v + eps)``, mean 0 (rmsnorm: mean
``E[x] / sqrt(E[x^2] + eps)``). The input mean is the predicted output mean of the last
reporting layer before this one (flatten and average pooling keep means; 0 at the network
input); it enters only through ``v``, i.e. through the eps correction. An activation after
normalizing is predicted by Gaussian quadrature, which needs a Gaussian ``xhat``: true when
the norm's input is a linear layer's output (conv -> batchnorm -> relu); otherwise the
layer raises NoPrediction. Backward: with ``dL/dz = phi'(z) u``, ``u`` zero-mean and
independent of the forward values (the gradient-independence assumption of Schoenholz et
al. 2017), ``|h|^2 = |g|^2 - n mean(g)^2 - n (2 - r) mean(g xhat)^2`` for
``h = g - mean(g) - xhat mean(g xhat)`` gives, per element,

    Var(dL/dx) = Var(dL/dz) / (v + eps) * (1 - (1 + (2 - r) k) / n)     batchnorm, layernorm
    Var(dL/dx) = Var(dL/dz) / (E[x^2] + eps) * (1 - (2 - r) k / n)       rmsnorm

with ``k = E[z^2 phi'(z)^2] / E[phi'(z)^2]`` (= r for a linear activation): the projection
removes O(1/n) of the gradient's variance and divides the rest by the input's variance.
Tested against measured runs in tests/test_layers_norm.py.
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
    NoPrediction,
    RowInfo,
    TheoryRecord,
)
from initcli.layers.common import COMMON_KEYS, WEIGHTED_KEYS

if TYPE_CHECKING:
    from initcli.activations import Activation
    from initcli.network_spec import LayerSpec
    from initcli.yamlnodes import Fields

DEFAULT_EPS = 1e-5  # torch.nn.BatchNorm*/LayerNorm default; used for rmsnorm too (issue 11)
NORM_KEYS = (*COMMON_KEYS, "eps", "activation")


@dataclasses.dataclass
class NormRecord(TheoryRecord):
    """A norm layer's theory record, plus the input variance ``v`` it normalizes by and the
    output second moment ``r = v / (v + eps)`` (its backward step needs both)."""

    v: float = math.nan
    r: float = math.nan


@dataclasses.dataclass(frozen=True)
class NormLayer(Layer):
    """A normalization over ``norm_axes`` of the batched input with a per-``param_shape``
    gamma (and beta when ``has_beta``), then ``activation``."""

    eps: float = DEFAULT_EPS
    activation: Activation | None = None
    param_shape: tuple[int, ...] = ()
    norm_axes: tuple[int, ...] = ()  # axes of (B, *in_shape) one group's statistics span
    centered: bool = True  # False: rmsnorm (no mean subtracted, no beta)

    @property
    def reports(self) -> bool:
        return True

    @property
    def per_token(self) -> bool:
        """On a sequence (tokens, features): statistics per token over the features."""
        return self.norm_axes == (2,) and len(self.param_shape) == 1 < len(self.in_shape)

    @property
    def group_size(self) -> int:
        """Values per group for a batch of one (batchnorm multiplies by the batch)."""
        return math.prod(self.in_shape[a - 1] for a in self.norm_axes if a > 0)

    def groups(self, batch: int) -> int:
        """How many (mean, 1/sigma) pairs one batch has."""
        return batch * math.prod(self.in_shape) // self.values_per_group(batch)

    def values_per_group(self, batch: int) -> int:
        return self.group_size * (batch if 0 in self.norm_axes else 1)

    def row_info(self) -> RowInfo:
        return RowInfo(
            activation=self.activation,
            weight_shape=self.param_shape,
            init="ones",
            bias_init="zeros" if self.centered else None,
            reports_input=True,
        )

    # --- parameters ------------------------------------------------------------------------

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {"weight": self.param_shape}
        if self.centered:
            shapes["bias"] = self.param_shape
        return shapes

    def sample_parameters(self, rng: np.random.Generator, dtype: DType) -> dict[str, Array]:
        # Constants at init, as PyTorch: nothing is drawn, so the generator is untouched.
        params: dict[str, Array] = {"weight": np.ones(self.param_shape, dtype=dtype)}
        if self.centered:
            params["bias"] = np.zeros(self.param_shape, dtype=dtype)
        return params

    def _broadcast(self, value: Array, ndim: int) -> Array:
        """gamma/beta shaped to multiply a batched (B, *in_shape) tensor."""
        if len(self.param_shape) == len(self.in_shape) or self.per_token:
            return value  # layernorm, rmsnorm: over in_shape, or per token over features
        return value.reshape((-1,) + (1,) * (ndim - 2))  # batchnorm: per channel

    def _param_axes(self, ndim: int) -> tuple[int, ...]:
        """Axes of the batched tensor gamma is shared over (summed for its gradient)."""
        if self.per_token:
            return (0, 1)  # every token of every example
        if len(self.param_shape) == len(self.in_shape):
            return (0,)
        return (0, *range(2, ndim))

    def check_batch(self, x: Array) -> None:
        """Refuse a batch whose groups hold one value (batchnorm: batch 1 on a flat input)."""

    # --- propagation -----------------------------------------------------------------------

    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        own = params.of(self)
        gamma, beta = own["weight"], own.get("bias")
        self.check_batch(x)
        axes = self.norm_axes
        if self.centered:
            mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
            centered = x - mean.astype(x.dtype)
            # squares in x's dtype, summed in float64 (numpy casts in buffered chunks: no
            # float64 copy of the tensor)
            var = np.mean(np.square(centered), axis=axes, keepdims=True, dtype=np.float64)
            inv = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
            xhat = centered
            xhat *= inv
            del centered
        else:
            square = np.mean(np.square(x), axis=axes, keepdims=True, dtype=np.float64)
            inv = (1.0 / np.sqrt(square + self.eps)).astype(x.dtype)
            xhat = x * inv
        z = xhat * self._broadcast(gamma, x.ndim)
        if beta is not None:
            z += self._broadcast(beta, x.ndim)
        assert self.activation is not None
        a = self.activation.forward(z)
        yield ForwardStep(self, gamma, beta, x, z, a)
        saved: tuple[Array, Array, Array | None, bool] | None = None
        if keep:
            # phi' is not kept for linear (1) or relu-like (read from a = phi(z) in backward,
            # which the next layer keeps as its input): see WeightedLayer.forward
            if self.activation.name == "linear":
                saved = (xhat, inv, None, False)
            elif self.activation.reads_derivative_from_output:
                saved = (xhat, inv, a, True)
            else:
                saved = (xhat, inv, self.activation.derivative(z), False)
        return a, saved

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        xhat, inv, kept, from_output = saved
        del saved
        assert self.activation is not None
        grad_z = self.activation.grad_preact(
            grad.reshape(xhat.shape), kept, from_output, overwrite_grad=True
        )
        del kept, grad
        own = params.of(self)
        gamma = own["weight"]
        param_axes = self._param_axes(xhat.ndim)
        grad_weight = np.sum(grad_z * xhat, axis=param_axes).reshape(self.param_shape)
        grad_bias = None
        if own.get("bias") is not None:
            grad_bias = grad_z.sum(axis=param_axes).reshape(self.param_shape)
        yield BackwardStep(self, grad_z, grad_weight, grad_bias)
        if not need_grad_x:
            return None
        g = grad_z * self._broadcast(gamma, xhat.ndim)
        del grad_z
        axes = self.norm_axes
        projection = np.mean(g * xhat, axis=axes, keepdims=True, dtype=np.float64)
        grad_x = g
        if self.centered:
            grad_x -= np.mean(g, axis=axes, keepdims=True, dtype=np.float64).astype(g.dtype)
        xhat *= projection.astype(xhat.dtype)
        grad_x -= xhat
        grad_x *= inv
        return grad_x

    # --- memory ----------------------------------------------------------------------------

    @property
    def keeps_output(self) -> bool:  # type: ignore[override]
        assert self.activation is not None
        return self.activation.reads_derivative_from_output

    def saved_elements(self, batch: int) -> int:
        # xhat, 1/sigma per group, and phi'(z) unless the activation is linear (for relu-like,
        # phi(z): see Chain.saved_elements).
        n = batch * math.prod(self.in_shape)
        assert self.activation is not None
        derivative = 0 if self.activation.name == "linear" else n
        return n + self.groups(batch) + derivative

    def transient_bytes(self, batch: int, itemsize: int, previous: int) -> int:
        # Forward: the input, x - mean (becomes xhat), its square, then z, phi(z) and
        # phi'(z); backward: the incoming gradient, dL/dz, dL/dz * xhat and g (becomes
        # dL/dx). As a weighted layer's: three tensors of the layer's size and two of its
        # input's, plus float64 statistics per group.
        n = batch * math.prod(self.in_shape)
        return (3 * n + 2 * max(n, previous)) * itemsize + 2 * self.groups(batch) * 8

    # --- mean-field theory -----------------------------------------------------------------

    def _input_mean(self, records: list[TheoryRecord]) -> float:
        return records[-1].act_mean if records else 0.0

    def _gaussian_input(self, records: list[TheoryRecord]) -> bool:
        if not records:
            return False
        last = records[-1]
        linear = getattr(last.params.activation, "name", "") == "linear"
        return linear and not isinstance(last.layer, NormLayer)

    def theory_forward(self, input_square: float, records: list[TheoryRecord]) -> float:
        from initcli.theory import (
            LayerParams,
            activation_mean,
            derivative_second_moment,
            second_moment,
        )

        assert self.activation is not None
        input_mean = self._input_mean(records)
        if self.centered:
            v = max(input_square - input_mean**2, 0.0)
            mean = 0.0
        else:
            v = input_square
            mean = input_mean / math.sqrt(input_square + self.eps)
        r = v / (v + self.eps)
        var = r - mean**2 if not self.centered else r
        act = self.activation
        if act.name == "linear":
            mean_a, square, dsquare = mean, r, 1.0
        else:
            if not self._gaussian_input(records):
                raise NoPrediction(
                    f"{self.name}: activation {act.spec} after normalizing is predicted only "
                    "when the norm's input is a linear layer's output (as in conv -> "
                    f"{self.type} -> relu), which keeps it Gaussian; give the layer before "
                    "activation: linear, or move the activation to its own layer"
                )
            mean_a = activation_mean(act, var, mean)
            square = second_moment(act, var, mean)
            dsquare = derivative_second_moment(act, var, mean)
        params = LayerParams(act, sigma_w2=1.0, sigma_w2_back=1.0, kind="norm")
        records.append(
            NormRecord(self, params, mean, var, mean_a, square, dsquare, input_square, v=v, r=r)
        )
        return square

    def theory_output_mean(self, records: dict[str, TheoryRecord]) -> float | None:
        return records[self.name].act_mean

    def theory_group(self) -> int | None:
        """n of the backward formula; None where the theory does not know it (batchnorm:
        batch x positions, the batch being the run's), dropping the O(1/n) term."""
        return self.group_size

    def theory_backward(
        self, grad: GradientState, records: dict[str, TheoryRecord]
    ) -> GradientState:
        record = records[self.name]
        assert isinstance(record, NormRecord)
        record.grad_var = grad.factor * record.derivative_square * grad.upstream
        n = self.theory_group()
        removed = 0.0
        if n is not None:
            k = self._derivative_weighted_square(record)
            removed = ((1.0 if self.centered else 0.0) + (2.0 - record.r) * k) / n
        return GradientState((1.0 - removed) / (record.v + self.eps), record.grad_var)

    def _derivative_weighted_square(self, record: NormRecord) -> float:
        """k = E[z^2 phi'(z)^2] / E[phi'(z)^2] for z ~ N(mean, Var z); r when linear."""
        from initcli.quadrature import gaussian_expectation

        assert self.activation is not None
        act = self.activation
        if act.name == "linear":
            return record.r
        var, mean = record.preact_var, record.preact_mean
        kinks = tuple(k - mean for k in act.kinks)

        def weighted(u: np.ndarray) -> np.ndarray:
            z = u + mean
            return np.asarray(z * z * np.square(act.derivative(z)))

        if record.derivative_square == 0:
            return 0.0
        return gaussian_expectation(weighted, var, kinks) / record.derivative_square


# --- the YAML side, shared by the three kinds ----------------------------------------------


def parse_norm(fields: Fields) -> dict[str, Any]:
    parsed: dict[str, Any] = {"bias": False}
    eps = fields.number("eps", "eps: 1e-5", DEFAULT_EPS, minimum=0.0, exclusive_minimum=True)
    parsed["options"] = {"eps": eps}
    if fields.has("activation"):
        parsed["activation"] = fields.text("activation", "an activation SPEC", "activation: relu")
    return parsed


def norm_wrong_key(kind: str, key: str) -> str | None:
    if key in ("init", "bias_init"):
        return (
            f"{kind} has no initializer: its weight (gamma) starts at 1 and its bias (beta) "
            f"at 0, as in PyTorch; remove {key}"
        )
    if key in ("units", "filters"):
        return f"{kind} keeps its input's shape (it has no {key}); remove {key}"
    if key in WEIGHTED_KEYS or key in ("kernel_size", "stride", "dilation", "padding"):
        return f"{kind} takes only {', '.join(NORM_KEYS)}; remove {key}"
    return None


def norm_eps(spec: LayerSpec) -> float:
    return float(spec.options.get("eps", DEFAULT_EPS))
