"""Mean-field theory of signal propagation at initialization.

Poole et al. 2016, "Exponential expressivity in deep neural networks through transient chaos"
(arXiv:1606.05340) and Schoenholz et al. 2017, "Deep information propagation" (ICLR 2017,
arXiv:1611.01232). In an infinitely wide network with i.i.d. zero-mean weights of variance
sigma_w^2 / fan_in and biases of variance sigma_b^2, every pre-activation z of layer l is
Gaussian with variance q_l, and (Schoenholz et al., section "Background")

    variance map      q_{l+1} = sigma_w^2 E[phi(sqrt(q_l) z)^2] + sigma_b^2,   z ~ N(0, 1)
    correlation map   c_{l+1} = (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q*,
                      u1 = sqrt(q*) z1,  u2 = sqrt(q*) (c z1 + sqrt(1 - c^2) z2)
    chi_1           = sigma_w^2 E[phi'(sqrt(q*) z)^2]   (slope of the correlation map at c = 1)

chi_1 < 1 is the ordered phase (inputs converge, gradients vanish), chi_1 > 1 the chaotic one
(inputs decorrelate, gradients explode), chi_1 = 1 the critical line. Near a fixed point
(Schoenholz et al., section "Asymptotic expansions and depth scales")
q_l - q* ~ exp(-l / xi_q) and c_l - c* ~ exp(-l / xi_c) with

    xi_q^-1 = -ln[chi_1 + sigma_w^2 E[phi''(sqrt(q*) z) phi(sqrt(q*) z)]]
    xi_c^-1 = -ln[chi_c],   chi_c = sigma_w^2 E[phi'(u1) phi'(u2)] at c = c*,

and chi_c = chi_1 wherever c* = 1 (the ordered phase). We never form phi'': the bracket of
xi_q^-1 is the slope dq_{l+1}/dq_l of the variance map, which by Stein's lemma
(E[z g(z)] = E[g'(z)]) equals sigma_w^2 E[phi(u) phi'(u) z] / sqrt(q*) — the same number for
smooth phi, and still exact for kinked phi (relu), where phi'' is a Dirac delta.

Backward (Schoenholz et al., section "Gradient backpropagation", which assumes the weights
used forward and backward are independent): for z_{l+1} = W_{l+1} phi(z_l) + b,
dL/dz_l = phi'(z_l) * W_{l+1}^T dL/dz_{l+1}, so

    Var(dL/dz_l) = n_{l+1} Var(W_{l+1}) E[phi'(z_l)^2] Var(dL/dz_{l+1}),

n_{l+1} being how many outputs of layer l+1 each of its inputs feeds (fan_out for dense).

Every expectation is a Gaussian integral cut at phi's kinks into Gauss–Legendre pieces, so
it stays exact for relu: 1-D ones by :func:`initcli.quadrature.gaussian_expectation`; the
2-D correlation map and the phase diagram's q table by the same scheme, vectorised here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol

import numpy as np

from initcli.quadrature import HALF_WIDTH, gaussian_expectation, gaussian_nodes

Array = np.ndarray
Phase = Literal["ordered", "critical", "chaotic"]

# |chi_1 - 1| below this is "critical": the depth scale xi_c = -1/ln(chi_1) is then above
# ~1000 layers, deeper than any network initcli is used on, so the signal propagates as if
# exactly critical.
CRITICAL_TOLERANCE = 1e-3

# The variance map is followed between these bounds: a fixed point below Q_MIN is reported
# as q* = 0, a variance that passes Q_MAX as diverging (q* = inf). Derivative moments at
# q = 0 are the q -> 0+ limit (relu'(0) has no value; the limit does).
Q_MIN = 1e-12
Q_MAX = 1e12
# Where the q -> 0+ limits are evaluated: small enough that O(q) corrections vanish in float64
# (so tanh at q* = 0 gives chi_1 = 1 exactly), large enough that phi(x) x stays normal.
Q_ZERO = 1e-200

_ROUNDING = 1e-12  # relative float error of sigma_w^2 = fan_in * Var(W) and of quadrature
_SCAN_RATIO = 2.0  # geometric step when bracketing a fixed point of the variance map
_TABLE_PER_DECADE = 40  # q-table resolution of the vectorised phase diagram


class ActivationLike(Protocol):
    """What the theory needs of an activation; :class:`initcli.activations.Activation` is one."""

    @property
    def kinks(self) -> Sequence[float]: ...

    def forward(self, z: Array) -> Array: ...

    def derivative(self, z: Array) -> Array: ...


@dataclass(frozen=True)
class Nonlinearity:
    """An activation given as plain callables, e.g. ``Nonlinearity(np.tanh, lambda z: ...)``."""

    phi: Callable[[Array], Array]
    dphi: Callable[[Array], Array]
    kinks: tuple[float, ...] = ()

    def forward(self, z: Array) -> Array:
        return self.phi(z)

    def derivative(self, z: Array) -> Array:
        return self.dphi(z)


# --- one-dimensional moments ---------------------------------------------------------------

# Extra cut points (in x = the activation's argument) for the quadrature. Smooth activations
# bend within |x| ~ 1 of 0 (tanh, sigmoid, gelu, swish, elu); at large q that region is a
# sliver of z a few 1/sqrt(q) wide, which fixed 0.5-wide pieces miss (tanh' at q = 1e4:
# 1% error). Cutting at 0, +-1/4, ..., +-32 gives that sliver its own pieces at every q.
_FEATURES = (0.0, *(sign * 2.0**power for power in range(-2, 6) for sign in (-1.0, 1.0)))


def _cuts(activation: ActivationLike) -> tuple[float, ...]:
    return (*activation.kinks, *_FEATURES)


def _expect(func: Callable[[Array], Array], q: float, mean: float, cuts: Sequence[float]) -> float:
    """E[func(mean + sqrt(q) z)]; NaN when q is not finite (an overflowed variance)."""
    if not math.isfinite(q) or not math.isfinite(mean):
        return math.nan
    if mean == 0.0:
        return gaussian_expectation(func, q, cuts)
    return gaussian_expectation(lambda x: func(mean + x), q, [k - mean for k in cuts])


def _batched_expectations(
    func: Callable[[Array], Array], means: Array, stds: Array, cuts: Sequence[float]
) -> Array:
    """E[func(m_i + s_i z)] for every row i, vectorised, with the accuracy of the 1-D rule.

    Each row's pieces are the union of a fixed grid over [-12, 12] (step 1) and that row's
    cut points (x - m_i) / s_i, so every row has the same number of pieces, none wider
    than 1 or straddling a cut; each gets a 20-point Gauss–Legendre rule.
    """
    legendre_nodes, legendre_weights = _legendre_rule()
    count = means.size
    grid = np.linspace(-HALF_WIDTH, HALF_WIDTH, round(2 * HALF_WIDTH) + 1)
    shifted = (np.asarray(cuts, dtype=float)[None, :] - means[:, None]) / stds[:, None]
    edges = np.sort(
        np.concatenate(
            [np.broadcast_to(grid, (count, grid.size)), np.clip(shifted, -12, 12)], axis=1
        ),
        axis=1,
    )
    half = (np.diff(edges, axis=1) / 2)[..., None]
    mid = ((edges[:, 1:] + edges[:, :-1]) / 2)[..., None]
    nodes = (mid + half * legendre_nodes).reshape(count, -1)
    weights = (half * legendre_weights).reshape(count, -1)
    weights = weights * np.exp(-0.5 * nodes**2) / math.sqrt(2 * math.pi)
    values = np.asarray(func(means[:, None] + stds[:, None] * nodes), dtype=np.float64)
    return np.sum(weights * values, axis=1)


@lru_cache(maxsize=1)
def _legendre_rule() -> tuple[Array, Array]:
    nodes, weights = np.polynomial.legendre.leggauss(20)
    return nodes, weights


def second_moment(activation: ActivationLike, q: float, mean: float = 0.0) -> float:
    """E[phi(z)^2] for z ~ N(mean, q)."""
    phi = activation.forward
    return _expect(lambda x: phi(x) ** 2, q, mean, _cuts(activation))


def activation_mean(activation: ActivationLike, q: float, mean: float = 0.0) -> float:
    """E[phi(z)] for z ~ N(mean, q)."""
    return _expect(activation.forward, q, mean, _cuts(activation))


def derivative_second_moment(activation: ActivationLike, q: float, mean: float = 0.0) -> float:
    """E[phi'(z)^2] for z ~ N(mean, q); at q = 0 the q -> 0+ limit."""
    dphi = activation.derivative
    return _expect(lambda x: dphi(x) ** 2, max(q, Q_ZERO), mean, _cuts(activation))


def variance_map(activation: ActivationLike, q: float, sigma_w2: float, sigma_b2: float) -> float:
    """q_{l+1} = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2 (Poole et al. 2016)."""
    return sigma_w2 * second_moment(activation, q) + sigma_b2


def chi_1(activation: ActivationLike, q: float, sigma_w2: float) -> float:
    """chi_1 = sigma_w^2 E[phi'(sqrt(q) z)^2] (Schoenholz et al. 2017)."""
    return sigma_w2 * derivative_second_moment(activation, q)


def variance_map_slope(activation: ActivationLike, q: float, sigma_w2: float) -> float:
    """d q_{l+1} / d q_l = chi_1 + sigma_w^2 E[phi'' phi], as sigma_w^2 E[phi phi' x] / q.

    With x = sqrt(q) z this is Stein's lemma applied to d/dq E[phi(sqrt(q) z)^2]; it needs
    no phi'' and is exact where phi'' is a delta (relu). At q = 0 the q -> 0+ limit.
    """
    q = max(q, Q_ZERO)
    phi, dphi = activation.forward, activation.derivative
    moment = _expect(lambda x: phi(x) * dphi(x) * x, q, 0.0, _cuts(activation))
    return sigma_w2 * moment / q


def classify(chi: float) -> Phase:
    """Ordered / critical / chaotic from chi_1 (critical within :data:`CRITICAL_TOLERANCE`)."""
    if abs(chi - 1.0) < CRITICAL_TOLERANCE:
        return "critical"
    return "ordered" if chi < 1.0 else "chaotic"


def depth_scale(rate: float) -> float:
    """xi = -1 / ln|rate| for a deviation shrinking by ``rate`` per layer; inf if it does not
    (a rate within float rounding of 1, e.g. 1000 * (1/1000) != 1, counts as 1)."""
    size = abs(rate)
    if size >= 1.0 - _ROUNDING:
        return math.inf
    if size == 0.0:
        return 0.0
    return -1.0 / math.log(size)


def fixed_point(
    activation: ActivationLike, sigma_w2: float, sigma_b2: float, q_start: float
) -> float:
    """The fixed point q* the variance map reaches from ``q_start``; inf if q diverges.

    The iteration q -> f(q) moves towards the nearest root of f(q) - q in the direction of
    f(q_start) - q_start (for the increasing f of every common activation), so the root is
    bracketed by stepping geometrically that way and then solved by Brent's method. Roots
    below :data:`Q_MIN` are reported as 0, none below :data:`Q_MAX` as divergence.
    """
    from scipy.optimize import brentq

    def gap(q: float) -> float:
        return variance_map(activation, q, sigma_w2, sigma_b2) - q

    q0 = min(max(q_start, Q_MIN), Q_MAX)
    g0 = gap(q0)
    if abs(g0) <= 1e-15 * q0:  # every q is a fixed point (relu with He init): stays at q0
        return q0
    if g0 > 0:
        low = q0
        while True:
            high = low * _SCAN_RATIO
            if high > Q_MAX:
                return math.inf
            if gap(high) <= 0:
                break
            low = high
    else:
        high = q0
        while True:
            low = high / _SCAN_RATIO
            if low < Q_MIN:
                return 0.0
            if gap(low) >= 0:
                break
            high = low
    return float(brentq(gap, low, high, xtol=1e-300, rtol=4 * np.finfo(float).eps))


# --- two-dimensional moments: the correlation map -------------------------------------------


def pair_expectation(
    f: Callable[[Array], Array],
    g: Callable[[Array], Array],
    q: float,
    c: float,
    kinks: Sequence[float] = (),
) -> float:
    """E[f(u1) g(u2)] with u1 = sqrt(q) z1, u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2).

    Given z1, u2 is N(c u1, q (1 - c^2)): the inner integral over z2 is a batch of shifted
    1-D rules, one per outer node. Smoothing g's kink k over that narrow spread turns it
    into a step of width sqrt(1 - c^2) / |c| in z1 around k / (c sqrt(q)); the outer rule is
    cut around it so the step is resolved when c is close to 1.
    """
    q = max(q, Q_ZERO)
    cuts = (*kinks, *_FEATURES)
    if c >= 1.0:
        return gaussian_expectation(lambda x: f(x) * g(x), q, cuts)
    root = math.sqrt(q)
    spread = math.sqrt(max(0.0, 1.0 - c * c))
    outer = [x / root for x in cuts]
    if c != 0.0:
        width = spread / abs(c)
        steps = (0.0, *(sign * 2.0**power for power in range(-1, 4) for sign in (-1.0, 1.0)))
        outer += [x / (c * root) for x in cuts]
        outer += [k / (c * root) + width * step for k in kinks for step in steps]
    z1, w1 = gaussian_nodes(outer, piece=1.0)
    u1 = root * z1
    if spread == 0.0:  # c = -1: u2 = -u1
        inner = np.asarray(g(-u1), dtype=np.float64)
    else:
        inner = _batched_expectations(g, c * u1, np.full(u1.shape, root * spread), cuts)
    return float(np.dot(w1, np.asarray(f(u1), dtype=np.float64) * inner))


def correlation_map(
    activation: ActivationLike, c: float, q: float, sigma_w2: float, sigma_b2: float
) -> float:
    """c_{l+1} = (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q* (Schoenholz et al. 2017)."""
    phi = activation.forward
    pair = pair_expectation(phi, phi, q, c, activation.kinks)
    return (sigma_w2 * pair + sigma_b2) / q


def chi_c(activation: ActivationLike, c: float, q: float, sigma_w2: float) -> float:
    """chi_c = sigma_w^2 E[phi'(u1) phi'(u2)]: slope of the correlation map at c."""
    dphi = activation.derivative
    return sigma_w2 * pair_expectation(dphi, dphi, q, c, activation.kinks)


def correlation_fixed_point(
    activation: ActivationLike, q: float, sigma_w2: float, sigma_b2: float
) -> float:
    """The stable c* reached from c just below 1: 1 when chi_1 <= 1, else the largest root
    of c_{l+1}(c) = c below 1 (bracketed on a fixed ladder of c, solved by Brent's method)."""
    from scipy.optimize import brentq

    if q <= Q_MIN or chi_1(activation, q, sigma_w2) <= 1.0:
        return 1.0

    def gap(c: float) -> float:
        return correlation_map(activation, c, q, sigma_w2, sigma_b2) - c

    ladder = (1 - 1e-4, 1 - 1e-3, 1 - 1e-2, 0.9, 0.75, 0.5, 0.25, 0.0, -0.5, -1.0)
    upper, upper_gap = ladder[0], gap(ladder[0])
    if upper_gap >= 0:  # so close to critical that c* is within 1e-4 of 1
        return 1.0
    for lower in ladder[1:]:
        lower_gap = gap(lower)
        if lower_gap >= 0:
            if lower_gap == 0:
                return lower
            return float(brentq(gap, lower, upper, xtol=1e-12))
        upper = lower
    return -1.0


# --- stacks of layers: per-layer predictions ------------------------------------------------


@dataclass(frozen=True)
class LayerParams:
    """One weighted layer as the theory sees it.

    ``sigma_w2`` = fan_in * Var(W) scales the forward pass, ``sigma_w2_back`` =
    (outputs each input feeds) * Var(W) the backward pass; they are equal for square dense
    layers. ``kind`` is "dense" or "conv" (weight-gradient prediction is dense-only).
    """

    activation: ActivationLike
    sigma_w2: float
    sigma_w2_back: float
    sigma_b2: float = 0.0
    bias_mean: float = 0.0
    weight_mean: float = 0.0
    kind: str = "dense"


def dense_layer(
    activation: ActivationLike,
    in_features: int,
    out_features: int,
    weight_var: float,
    bias_var: float = 0.0,
    bias_mean: float = 0.0,
    weight_mean: float = 0.0,
) -> LayerParams:
    """A dense layer: forward fan = in_features, backward fan = out_features."""
    return LayerParams(
        activation,
        sigma_w2=in_features * weight_var,
        sigma_w2_back=out_features * weight_var,
        sigma_b2=bias_var,
        bias_mean=bias_mean,
        weight_mean=weight_mean,
        kind="dense",
    )


def conv_layer(
    activation: ActivationLike,
    in_channels: int,
    out_channels: int,
    kernel_size: Sequence[int],
    stride: Sequence[int],
    weight_var: float,
    bias_var: float = 0.0,
    bias_mean: float = 0.0,
    weight_mean: float = 0.0,
) -> LayerParams:
    """A convolution, per channel and ignoring borders.

    Forward: every output sums in_channels * kernel_area inputs. Backward: an input position
    lies in the receptive field of kernel_area / stride_area output positions on average
    (exact away from the borders; dilation moves the taps but not their count), each with
    out_channels channels, so it feeds out_channels * kernel_area / stride_area outputs.
    Padding zeros near the borders make both fans smaller there; a wide feature map
    makes that a small share of positions.
    """
    area = math.prod(kernel_size)
    stride_area = math.prod(stride) if stride else 1
    return LayerParams(
        activation,
        sigma_w2=in_channels * area * weight_var,
        sigma_w2_back=out_channels * area / stride_area * weight_var,
        sigma_b2=bias_var,
        bias_mean=bias_mean,
        weight_mean=weight_mean,
        kind="conv",
    )


@dataclass(frozen=True)
class LayerPrediction:
    """Predicted per-layer statistics; names match :class:`initcli.stats.LayerStats`."""

    index: int  # 1-based among weighted layers
    preact_mean: float  # E[z] (the bias mean; weights are zero-mean)
    preact_var: float  # Var(z) = q_l
    act_mean: float  # E[phi(z)]
    act_var: float  # Var(phi(z))
    grad_var: float  # Var(dL/dz_l), with dL/d(output) ~ N(0, output_grad_var)
    # Var(dL/dW) per example = E[a_{l-1}^2] Var(dL/dz_l) (dense only; the product of a
    # zero-mean gradient and an independent input). Summing over a batch of B independent
    # examples multiplies it by B. None for convolutions: the sum over positions adds
    # products of neighbouring gradients and inputs, which are correlated through shared
    # pixels, so "positions x per-position variance" would be wrong by an unknown factor.
    weight_grad_var_per_example: float | None
    note: str | None = None  # why this prediction is approximate, if it is


def predict_stack(
    layers: Sequence[LayerParams],
    input_second_moment: float = 1.0,
    output_grad_var: float = 1.0,
) -> list[LayerPrediction]:
    """Per-layer predictions for a stack fed inputs with E[x^2] = ``input_second_moment``.

    The input itself is not passed through phi: q_1 = sigma_w^2 E[x^2] + sigma_b^2. A
    constant bias b shifts z to N(b, q); the moments of phi are taken about that mean. The
    last layer's gradient is Var(dL/dz_L) = E[phi'(z_L)^2] * output_grad_var.
    """
    forward: list[tuple[float, float, float, float, float, float]] = []
    previous = input_second_moment  # E[a_{l-1}^2]
    for layer in layers:
        q = layer.sigma_w2 * previous + layer.sigma_b2
        mu = layer.bias_mean
        act = layer.activation
        mean_a = activation_mean(act, q, mu)
        square = second_moment(act, q, mu)
        dsquare = derivative_second_moment(act, q, mu)
        forward.append((q, mu, mean_a, square, dsquare, previous))
        previous = square
    grads = [math.nan] * len(layers)
    upstream = output_grad_var
    for position in range(len(layers) - 1, -1, -1):
        dsquare = forward[position][4]
        if position == len(layers) - 1:
            grads[position] = dsquare * upstream
        else:
            grads[position] = layers[position + 1].sigma_w2_back * dsquare * upstream
        upstream = grads[position]
    predictions = []
    for position, (layer, (q, mu, mean_a, square, _, before)) in enumerate(
        zip(layers, forward, strict=True)
    ):
        note = None
        if layer.weight_mean != 0.0:
            note = (
                f"weight mean {layer.weight_mean:.3g} is not 0: mean-field theory assumes "
                "zero-mean weights, so this prediction ignores it"
            )
        predictions.append(
            LayerPrediction(
                index=position + 1,
                preact_mean=mu,
                preact_var=q,
                act_mean=mean_a,
                act_var=square - mean_a**2,
                grad_var=grads[position],
                weight_grad_var_per_example=(
                    before * grads[position] if layer.kind == "dense" else None
                ),
                note=note,
            )
        )
    return predictions


# --- a single activation: fixed point, phase, depth scales ----------------------------------


@dataclass(frozen=True)
class MeanFieldAnalysis:
    """Fixed point, phase and depth scales of one (activation, sigma_w^2, sigma_b^2).

    ``q_star`` is inf when the variance diverges; then chi_1 is its q -> inf limit
    (evaluated at :data:`Q_MAX`) and the depth scales are None. Infinite depth scales
    (critical) are ``math.inf``.
    """

    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi_1: float
    phase: Phase
    variance_slope: float | None  # d q_{l+1} / d q_l at q*
    xi_q: float | None
    c_star: float | None
    chi_c: float | None
    xi_c: float | None
    layers: tuple[LayerPrediction, ...]

    @property
    def diverges(self) -> bool:
        return math.isinf(self.q_star)


def analyse(
    activation: ActivationLike,
    sigma_w2: float,
    sigma_b2: float,
    depth: int = 10,
    input_second_moment: float = 1.0,
) -> MeanFieldAnalysis:
    """Everything `initcli theory` reports, for a square dense stack of ``depth`` layers.

    q* is the fixed point reached from the first layer's q_1 = sigma_w^2 E[x^2] + sigma_b^2.
    """
    q_first = sigma_w2 * input_second_moment + sigma_b2
    q_star = fixed_point(activation, sigma_w2, sigma_b2, q_first)
    diverges = math.isinf(q_star)
    chi = chi_1(activation, Q_MAX if diverges else q_star, sigma_w2)
    slope = xi_q = c_star = chi_cc = xi_c = None
    if not diverges:
        slope = variance_map_slope(activation, q_star, sigma_w2)
        xi_q = depth_scale(slope)
        c_star = correlation_fixed_point(activation, q_star, sigma_w2, sigma_b2)
        chi_cc = chi if c_star >= 1.0 else chi_c(activation, c_star, q_star, sigma_w2)
        xi_c = depth_scale(chi_cc)
    layer = LayerParams(activation, sigma_w2, sigma_w2, sigma_b2)
    layers = predict_stack([layer] * depth, input_second_moment)
    return MeanFieldAnalysis(
        sigma_w2=sigma_w2,
        sigma_b2=sigma_b2,
        q_star=q_star,
        chi_1=chi,
        phase=classify(chi),
        variance_slope=slope,
        xi_q=xi_q,
        c_star=c_star,
        chi_c=chi_cc,
        xi_c=xi_c,
        layers=tuple(layers),
    )


# --- the phase diagram ----------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseDiagram:
    """chi_1 and q* on a grid: row i is sigma_b2[i], column j is sigma_w2[j]."""

    sigma_w2: Array
    sigma_b2: Array
    chi_1: Array
    q_star: Array  # 0 where the variance dies out, inf where it diverges

    def critical_sigma_w2(self) -> Array:
        """Per sigma_b^2 row, the first sigma_w^2 where chi_1 crosses 1 (linear
        interpolation between grid columns); NaN if the row never crosses."""
        result = np.full(self.sigma_b2.shape, np.nan)
        for row, chis in enumerate(self.chi_1):
            above = np.nonzero(chis >= 1.0)[0]
            if above.size == 0:
                continue
            j = above[0]
            if j == 0:  # critical at the grid's edge, or already chaotic there
                if abs(chis[0] - 1.0) < CRITICAL_TOLERANCE:
                    result[row] = self.sigma_w2[0]
                continue
            x0, x1, y0, y1 = self.sigma_w2[j - 1], self.sigma_w2[j], chis[j - 1], chis[j]
            result[row] = x0 + (1.0 - y0) * (x1 - x0) / (y1 - y0)
        return result


def _moment_table(func: Callable[[Array], Array], qs: Array, cuts: Sequence[float]) -> Array:
    """E[func(sqrt(q) z)] for every q in ``qs`` (a batch of 1-D rules)."""
    return _batched_expectations(func, np.zeros(qs.shape), np.sqrt(qs), cuts)


def phase_diagram(
    activation: ActivationLike,
    sigma_w2: Sequence[float] | Array,
    sigma_b2: Sequence[float] | Array,
    input_second_moment: float = 1.0,
) -> PhaseDiagram:
    """chi_1 at the fixed point for every (sigma_w^2, sigma_b^2) on the grid, vectorised.

    E[phi(sqrt(q) z)^2] and E[phi'(sqrt(q) z)^2] are smooth in q > 0 even for kinked phi
    (the Gaussian smooths the kinks), so they are computed exactly on a log-spaced q table
    (40 per decade over [Q_MIN, Q_MAX]) and interpolated by cubic splines in ln q. Each
    grid point's fixed point is bracketed on the table the way :func:`fixed_point`
    brackets it (nearest root in the direction the map moves q_1) and refined by
    bisection on the spline. Agreement with the exact scalar path is tested.
    """
    from scipy.interpolate import CubicSpline

    sw = np.asarray(sigma_w2, dtype=float)
    sb = np.asarray(sigma_b2, dtype=float)
    decades = math.log10(Q_MAX / Q_MIN)
    log_q = np.linspace(math.log(Q_MIN), math.log(Q_MAX), round(decades * _TABLE_PER_DECADE) + 1)
    qs = np.exp(log_q)
    phi, dphi, cuts = activation.forward, activation.derivative, _cuts(activation)
    squares = _moment_table(lambda x: phi(x) ** 2, qs, cuts)
    dsquares = _moment_table(lambda x: dphi(x) ** 2, qs, cuts)
    positive = bool(np.all(squares > 0))
    if positive:
        log_spline = CubicSpline(log_q, np.log(squares))

        def square_at(lq: Array) -> Array:
            return np.exp(log_spline(lq))
    else:
        square_at = CubicSpline(log_q, squares)
    dsquare_at = CubicSpline(log_q, dsquares)

    chi = np.empty((sb.size, sw.size))
    q_star = np.empty((sb.size, sw.size))
    columns = np.arange(log_q.size)
    for row, bias in enumerate(sb):
        q1 = np.clip(sw * input_second_moment + bias, Q_MIN, Q_MAX)
        lq1 = np.log(q1)
        gap_table = sw[:, None] * squares[None, :] + bias - qs[None, :]
        gap1 = sw * square_at(lq1) + bias - q1
        start = np.searchsorted(log_q, lq1)  # first table q >= q_1
        after = columns[None, :] >= start[:, None]
        # moving up: first table point at or above q_1 where the gap is <= 0
        up_hit = (gap_table <= 0) & after
        up_index = np.argmax(up_hit, axis=1)
        up_found = up_hit.any(axis=1)
        # moving down: last table point below q_1 where the gap is >= 0
        down_hit = (gap_table >= 0) & ~after
        down_index = log_q.size - 1 - np.argmax(down_hit[:, ::-1], axis=1)
        down_found = down_hit.any(axis=1)
        up = gap1 > 0
        still = np.abs(gap1) <= 1e-12 * q1  # every q is a fixed point (relu with He init)
        low = np.where(
            up,
            np.where(up_index == start, lq1, log_q[np.maximum(up_index - 1, 0)]),
            log_q[down_index],
        )
        high = np.where(
            up,
            log_q[up_index],
            np.where(
                down_index + 1 >= start, lq1, log_q[np.minimum(down_index + 1, log_q.size - 1)]
            ),
        )
        for _ in range(60):
            middle = 0.5 * (low + high)
            above = sw * square_at(middle) + bias - np.exp(middle) > 0
            low = np.where(above, middle, low)
            high = np.where(above, high, middle)
        root = np.exp(0.5 * (low + high))
        root = np.where(still, q1, root)
        root = np.where(up & ~still & ~up_found, math.inf, root)
        root = np.where(~up & ~still & ~down_found, 0.0, root)
        q_star[row] = root
        chi[row] = sw * dsquare_at(np.log(np.clip(root, Q_MIN, Q_MAX)))
    return PhaseDiagram(sigma_w2=sw, sigma_b2=sb, chi_1=chi, q_star=q_star)
