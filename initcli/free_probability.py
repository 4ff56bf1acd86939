"""Free-probability predictions for the singular values of a network's input-output Jacobian.

Pennington, Schoenholz & Ganguli 2017 ("Resurrecting the sigmoid in deep learning through
dynamical isometry", NeurIPS, arXiv:1711.04735, sec. 3) and 2018 ("The emergence of spectral
universality in deep networks", AISTATS, arXiv:1802.09979, sec. 3): with
``J = D_L W_L ... D_1 W_1`` and ``D_l = diag(phi'(h_l))``, the factors ``W_l W_l^T`` and
``D_l^2`` are asymptotically free at large width, so the S-transform of ``J J^T`` is the
product of theirs: ``S_{JJ^T}(z) = prod_l S_{D_l^2}(z) S_{W_l W_l^T}(z)``.

Moments. For any element X with moments m1, m2, the S-transform starts
``S_X(z) = (1 / m1) (1 + (1 - m2 / m1^2) z + O(z^2))`` (invert the moment series
``psi(z) = m1 z + m2 z^2 + ...`` to second order). A product multiplies S-transforms, so
``1 / m1`` multiplies and the coefficient of z adds: the mean of lambda = s^2 is the product
of the factors' means, and its *normalised variance* ``m2 / m1^2 - 1`` is the sum of
theirs. With ``mu_k = E[phi'(h_l)^(2k)]`` at the layer's h_l ~ N(mean_l, q_l) from the
mean-field forward recursion (:func:`initcli.network_theory.predict_network`):

    mean(s^2)          = prod_l sigma_l^2 mu_1,l                  (= prod chi_1)
    var(s^2) / mean^2  = sum_l (mu_2,l / mu_1,l^2 - 1 + v_l)

where ``v_l = 1`` for weights with i.i.d. entries (Gaussian, truncated Gaussian, uniform:
Marchenko-Pastur with ratio 1 for square layers, S = 1 / (sigma^2 (1 + z))) and ``v_l = 0``
for orthogonal weights (W W^T = sigma^2 I). This is Pennington et al. 2017's
``sigma^2_{JJ^T} = L m_1^2 (mu_2 / mu_1^2 - 1 - s_1)`` with ``s_1 = -1`` (Gaussian) or 0
(orthogonal), generalised to layers that differ (the transient before q*). Equation numbers
are not quoted: the derivation above is the whole argument, and the tests check it
against measurement and against the Fuss-Catalan moments.

Density. For a *linear* network of square dense layers with i.i.d. weights, J J^T / mean is
a free product of L Marchenko-Pastur(1) laws: the Fuss-Catalan law of order L, moments
``binom((L+1) k, k) / (L k + 1)``, with the parametrisation of Haagerup & Moller (2012):
for ``0 < u < pi / (L + 1)``

    x(u) = sin((L+1) u)^(L+1) / (sin u sin(L u)^L),
    rho(x(u)) = sin(u)^2 sin(L u)^(L-1) / (pi sin((L+1) u)^L).

Orthogonal linear layers contribute scalars (only the Gaussian ones count towards L); with
none left every singular value is exactly ``sqrt(mean)`` (Saxe et al. 2014). Other
networks' densities need the numerical S-transform inversion of Pennington et al. 2018;
initcli gives their mean and variance and says so.

Rectangular layers and convolutions: the mean still follows from the trace,
``E ||J||_F^2 = in_dim prod_l (outputs each input feeds) Var(W_l) mu_1,l``, divided by
``min(in_dim, out_dim)`` singular values (convolutions per channel, borders ignored); the
variance and density are given for square dense stacks only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from initcli.errors import InitcliError
from initcli.layers.convolution import ConvLayer
from initcli.layers.weighted import WeightedLayer
from initcli.network import Network
from initcli.network_theory import predict_network
from initcli.quadrature import gaussian_expectation
from initcli.theory import derivative_second_moment

IID_KINDS = ("normal", "truncated_normal", "uniform")
# Cut points for E[phi'(h)^4]: the activation's kinks plus the region |x| < 32 where smooth
# activations bend (as initcli.theory does for its moments).
_FEATURES = (0.0, *(sign * 2.0**power for power in range(-2, 6) for sign in (-1.0, 1.0)))


@dataclass(frozen=True)
class LayerTheory:
    position: int  # index into network.layers
    q: float  # Var(h_l) from the mean-field recursion
    mu1: float  # E[phi'(h)^2]
    mu2: float  # E[phi'(h)^4]
    forward_gain: float  # E||D_l W_l delta||^2 / ||delta||^2 = (outputs per input) Var(W) mu1
    mean_sq_singular: float  # E||D_l W_l||_F^2 / min(in, out): the layer's chi
    weight_kind: str


@dataclass
class SpectrumTheory:
    layers: list[LayerTheory]
    mean_sq_singular: float | None
    var_sq_singular: float | None
    density: dict[str, object] | None
    notes: list[str] = field(default_factory=list)


def _fourth_moment(layer: WeightedLayer, q: float, mean: float) -> float:
    assert layer.activation is not None
    dphi = layer.activation.derivative
    cuts = [k - mean for k in (*layer.activation.kinks, *_FEATURES)]
    return gaussian_expectation(lambda x: dphi(mean + x) ** 4, max(q, 1e-200), cuts)


def _outputs_per_input(layer: WeightedLayer) -> float:
    """How many outputs each input feeds (away from borders): the backward fan."""
    assert layer.weight_shape is not None
    out_channels, _, *kernel = layer.weight_shape
    if not kernel:
        return float(out_channels)
    stride = layer.stride if isinstance(layer, ConvLayer) else ()
    return out_channels * math.prod(kernel) / math.prod(stride or (1,))


def predict_spectrum(network: Network) -> SpectrumTheory:
    """Mean (always, if mean-field theory applies), variance and density (where free
    probability gives them) of the squared singular values of d output / d input."""
    notes: list[str] = []
    try:
        predictions = predict_network(network)
    except InitcliError as err:
        return SpectrumTheory([], None, None, None, [f"no theory: {err.message}"])
    weighted = [layer for layer in network.layers if isinstance(layer, WeightedLayer)]
    positions = [i for i, layer in enumerate(network.layers) if isinstance(layer, WeightedLayer)]
    layers: list[LayerTheory] = []
    for position, layer, prediction in zip(positions, weighted, predictions, strict=True):
        assert layer.init is not None and layer.weight_shape is not None
        law = layer.init.distribution(layer.weight_shape, "torch", fans=layer.fans)
        assert layer.activation is not None and layer.fans is not None
        q, mean = prediction.preact_var, prediction.preact_mean
        mu1 = derivative_second_moment(layer.activation, q, mean)
        mu2 = _fourth_moment(layer, q, mean)
        weight_var = law.std() ** 2
        in_dim, out_dim = math.prod(layer.in_shape), math.prod(layer.out_shape)
        forward_gain = _outputs_per_input(layer) * weight_var * mu1
        own = out_dim * layer.fans.fan_in * weight_var * mu1 / min(in_dim, out_dim)
        layers.append(LayerTheory(position, q, mu1, mu2, forward_gain, own, law.base_kind))
        if law.mean() != 0.0:
            notes.append(f"{layer.name}: weight mean {law.mean():.3g} is not 0; theory ignores it")
    in_dim, out_dim = math.prod(network.input_shape), math.prod(network.output_shape)
    with np.errstate(all="ignore"):
        total = in_dim * math.prod(layer.forward_gain for layer in layers)
    mean_sq = total / min(in_dim, out_dim)
    if not math.isfinite(mean_sq):
        notes.append("the predicted mean squared singular value overflows")
    if any(layer.type.startswith("conv") for layer in weighted):
        notes.append(
            "theory treats convolutions per channel and ignores borders (zero padding lowers "
            "the measured values)"
        )
    reason = _square_dense_reason(weighted, layers)
    variance: float | None = None
    density: dict[str, object] | None = None
    if reason is not None:
        notes.append(f"no variance or density from free probability: {reason}")
    else:
        normalised = 0.0
        for item in layers:
            v = 1.0 if item.weight_kind in IID_KINDS else 0.0
            normalised += item.mu2 / item.mu1**2 - 1.0 + v
        variance = mean_sq**2 * normalised
        density = _linear_density(weighted, layers, mean_sq, notes)
    return SpectrumTheory(layers, mean_sq, variance, density, notes)


def _square_dense_reason(weighted: list[WeightedLayer], layers: list[LayerTheory]) -> str | None:
    for layer, item in zip(weighted, layers, strict=True):
        if layer.type != "dense":
            return f"{layer.name} is a {layer.type} (the moment recursion is for dense layers)"
        if layer.in_shape != layer.out_shape:
            return (
                f"{layer.name} is {layer.in_shape[0]} -> {layer.out_shape[0]} (the moment "
                "recursion here is for square layers)"
            )
        if item.weight_kind not in (*IID_KINDS, "orthogonal"):
            return (
                f"{layer.name}'s weights are {item.weight_kind.replace('_', ' ')} (the "
                "S-transform is known for i.i.d. and orthogonal weights)"
            )
        if not (math.isfinite(item.mu1) and item.mu1 > 0 and math.isfinite(item.mu2)):
            return f"{layer.name}: E[phi'(h)^2] = {item.mu1:.3g} (the variance is undefined)"
    return None


def _linear_density(
    weighted: list[WeightedLayer], layers: list[LayerTheory], mean_sq: float, notes: list[str]
) -> dict[str, object] | None:
    if any(layer.activation is None or layer.activation.name != "linear" for layer in weighted):
        notes.append(
            "no theoretical density: for a nonlinear network it needs the numerical "
            "S-transform inversion of Pennington et al. 2018 (mean and variance are given)"
        )
        return None
    order = sum(1 for item in layers if item.weight_kind in IID_KINDS)
    if order == 0:
        return {"law": "point_mass", "at": math.sqrt(mean_sq)}
    s, pdf = fuss_catalan_singular_density(order, mean_sq)
    return {"law": "fuss_catalan", "order": order, "scale": mean_sq, "s": s, "density": pdf}


def fuss_catalan_curve(order: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Haagerup-Moller parametrisation at ``0 < u < pi / (L+1)``: x(u), rho(x(u)) and
    dx/du (from d log x / du = (L+1)^2 cot((L+1) u) - cot u - L^2 cot(L u))."""
    L = order
    with np.errstate(all="ignore"):
        log_x = (
            (L + 1) * np.log(np.sin((L + 1) * u)) - np.log(np.sin(u)) - L * np.log(np.sin(L * u))
        )
        log_rho = (
            2 * np.log(np.sin(u))
            + (L - 1) * np.log(np.sin(L * u))
            - L * np.log(np.sin((L + 1) * u))
            - math.log(math.pi)
        )
        x = np.exp(log_x)
        slope = (L + 1) ** 2 / np.tan((L + 1) * u) - 1 / np.tan(u) - L**2 / np.tan(L * u)
    return x, np.exp(log_rho), x * slope


def fuss_catalan(order: int, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The Fuss-Catalan density of order L: (x, rho(x)) with x ascending on (0, x_max),
    x_max = (L+1)^(L+1) / L^L (Haagerup & Moller 2012 parametrisation)."""
    if order < 1:
        raise ValueError(f"Fuss-Catalan order {order} must be at least 1")
    # u from near 0 (x near x_max) to near pi/(L+1) (x -> 0), denser at both ends
    t = (np.arange(points) + 0.5) / points
    u = (np.pi / (order + 1)) * (0.5 - 0.5 * np.cos(np.pi * t))
    x, rho, _ = fuss_catalan_curve(order, u)
    order_idx = np.argsort(x)
    return x[order_idx], rho[order_idx]


def fuss_catalan_moment(order: int, k: int) -> float:
    """E[x^k] under Fuss-Catalan of order L: binom((L+1) k, k) / (L k + 1)."""
    return math.comb((order + 1) * k, k) / (order * k + 1)


def fuss_catalan_singular_density(
    order: int, scale: float, points: int = 400
) -> tuple[list[float], list[float]]:
    """Density of s = sqrt(scale x), x ~ Fuss-Catalan(order): p(s) = rho(s^2/scale) 2 s / scale."""
    x, rho = fuss_catalan(order, points)
    s = np.sqrt(scale * x)
    pdf = rho * 2 * s / scale
    return s.tolist(), pdf.tolist()
