"""The seed-noise model: how far a measured per-layer statistic may fall from the theory
(:class:`NoiseModel`, derived in its docstring and in docs/reproductions.md)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from initcli.activations import Activation
from initcli.initializers import bias_distribution
from initcli.layers.weighted import WeightedLayer
from initcli.network import Network
from initcli.network_theory import predict_network
from initcli.theory import LayerPrediction
from reproductions.common import band

_STEP = 1e-3  # relative step of the central differences d ln f / d ln q


# A coarse Gauss-Hermite rule for the noise model's moments: it needs them to ~1e-4, not to
# the theory's 1e-10, and evaluates a few hundred of them (2-D ones too) per network.
NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(64)
WEIGHTS = WEIGHTS / math.sqrt(2 * math.pi)


def expect(func: Callable[[np.ndarray], np.ndarray], q: float) -> float:
    """E[func(sqrt(q) z)], z ~ N(0, 1)."""
    return float(WEIGHTS @ func(math.sqrt(q) * NODES))


def _pair(
    f: Callable[[np.ndarray], np.ndarray],
    g: Callable[[np.ndarray], np.ndarray],
    q: float,
    c: float,
) -> float:
    """E[f(u1) g(u2)], (u1, u2) ~ N(0, q [[1, c], [c, 1]])."""
    root = math.sqrt(q)
    z1 = NODES[:, None]
    u2 = root * (c * z1 + math.sqrt(max(0.0, 1.0 - c * c)) * NODES[None, :])
    return float(WEIGHTS @ (f(root * z1) * g(u2)) @ WEIGHTS)


def _log_slope(func: Callable[[np.ndarray], np.ndarray], q: float) -> float:
    """d ln E[func(sqrt(q) z)] / d ln q by a central difference."""
    up, down = expect(func, q * math.exp(_STEP)), expect(func, q * math.exp(-_STEP))
    return (math.log(up) - math.log(down)) / (2 * _STEP)


def _smeared(func: Callable[[float], float], c: float, var: float) -> float:
    """E[func(c + sqrt(var) xi)], xi ~ N(0, 1), by the 3-point Gauss-Hermite rule (exact for
    polynomials of degree 5), the points clipped to [-1, 1]."""
    step = math.sqrt(3.0 * var)
    points = [min(1.0, max(-1.0, c + k * step)) for k in (-1.0, 0.0, 1.0)]
    return (func(points[0]) + 4.0 * func(points[1]) + func(points[2])) / 6.0


def _noise_correlation(
    func: Callable[[np.ndarray], np.ndarray], q: float, c: float, spread: float
) -> float:
    """Corr(func(u1), func(u2)) for (u1, u2) at cosine c, averaged over Var(c) = spread;
    1 where func is constant (nothing to average away)."""
    mean = expect(func, q)
    var = expect(lambda x: func(x) ** 2, q) - mean**2
    if var <= 1e-12 * max(mean**2, 1e-300):
        return 1.0
    return _smeared(lambda cc: (_pair(func, func, q, cc) - mean**2) / var, c, spread)


def _mean_log_slope(func: Callable[[np.ndarray], np.ndarray], q: float) -> float:
    """d E[func(sqrt(q) z)] / d ln q by a central difference."""
    up, down = expect(func, q * math.exp(_STEP)), expect(func, q * math.exp(-_STEP))
    return (up - down) / (2 * _STEP)


def kurtosis_factor(activation: Activation, q: float) -> float:
    """k = Var(phi(z)^2) / E[phi(z)^2]^2, z ~ N(0, q): n times the relative variance of a mean
    of phi^2 over n independent units (5 for relu, 2 for a linear unit)."""
    phi = activation.forward
    return expect(lambda x: phi(x) ** 4, q) / expect(lambda x: phi(x) ** 2, q) ** 2 - 1.0


def backward_kurtosis_factor(activation: Activation, q: float) -> float:
    """k' = Var((phi'(z) u)^2) / E[(phi'(z) u)^2]^2 with u ~ N(0, 1) independent of
    z ~ N(0, q): 3 E[phi'^4] / E[phi'^2]^2 - 1 (5 for relu, 2 for a linear unit)."""
    dphi = activation.derivative
    return 3 * expect(lambda x: dphi(x) ** 4, q) / expect(lambda x: dphi(x) ** 2, q) ** 2 - 1


def _shrink(rho: float, batch: int) -> float:
    """Variance of a batch mean over that of one input when inputs' noises correlate by rho."""
    return 1.0 / batch + (1.0 - 1.0 / batch) * rho


@dataclass(frozen=True)
class LogStatistic:
    """Per-layer log-statistics as linear combinations of independent noises."""

    rows: np.ndarray  # (layers, noises): coefficient of each noise in ln(stat_l)
    variances: np.ndarray  # (noises,)

    def sd(self, weights: Sequence[float] | np.ndarray) -> float:
        """Standard deviation of sum_l weights[l] ln(stat_l)."""
        combination = np.asarray(weights, dtype=float) @ self.rows
        return float(math.sqrt(np.sum(combination**2 * self.variances)))

    def jensen(self, weights: Sequence[float] | np.ndarray) -> float:
        """E[ln X] - ln E[X] ~ -Var(ln X) / 2 for each log-statistic, combined."""
        per_row = np.sum(self.rows**2 * self.variances, axis=1)
        return float(-0.5 * np.asarray(weights, dtype=float) @ per_row)

    def layer_sds(self) -> list[float]:
        return [float(v) for v in np.sqrt(np.sum(self.rows**2 * self.variances, axis=1))]

    def layer_jensens(self) -> list[float]:
        return [float(v) for v in -0.5 * np.sum(self.rows**2 * self.variances, axis=1)]

    def bands(self) -> list[float]:
        """Accepted half-width in ln around the theory, per layer."""
        return band(self.layer_sds(), self.layer_jensens())


@dataclass
class NoiseModel:
    r"""Linearised sampling noise of a dense stack's per-layer log-statistics (delta method).

    **One input.** Given the layer below, the pre-activations z_{l,i} of layer l are i.i.d.
    N(0, s_l^2) over its n_l units (zero-mean weights; a zero-mean bias adds to the variance)
    and s_{l+1}^2 = sigma_w^2 mean_i phi(z_{l,i})^2 + sigma_b^2. Mean-field theory replaces
    each mean over units by its expectation, giving q_l. At finite width each mean carries a
    relative error; with delta_l = ln(s_l^2 / q_l) and the independent noises

    - nu: mean of x^2 over the n_0 input entries, relative variance k_in / n_0 (2 for normal
      inputs, 0.8 for uniform, (4 mu^2 v + 2 v^2) / (mu^2 + v)^2 for N(mu, v));
    - zeta_l: mean of phi(z)^2 over n_l units, k / n_l with k = E[phi^4] / E[phi^2]^2 - 1
      (5 for relu, 2 for a linear unit);
    - eta_l: mean of z^2 over n_l units given s_l (chi-square), 2 / n_l;
    - eps_l: mean of (phi'(z) u)^2 over n_l units, u = W^T g normalised, a standard normal
      independent of z (the theory's assumption): k' / n_l, k' = 3 E[phi'^4] / E[phi'^2]^2 - 1;

    the recursion linearises to

        delta_1 = r_1 nu,   delta_{l+1} = r_{l+1} (alpha_l delta_l + zeta_l)
        ln Var z_l   = ln q_l + delta_l + eta_l
        ln E phi_l^2 = ln A_l + alpha_l delta_l + zeta_l
        ln Var g_l   = ln G_l + sum_{j >= l} (beta_j delta_j + eps_j)
        ln Var dW_l  = ln E phi_{l-1}^2 + ln Var g_l    (one input: dW = g a^T)

    with r_l = (q_l - sigma_b^2) / q_l, alpha_l = d ln E[phi^2] / d ln q and
    beta_l = d ln E[phi'^2] / d ln q at q_l. For relu alpha = 1 and beta = 0: ln Var z is a
    random walk with step variance 5 / n, an sd of sqrt(5 L / n) after L layers.

    **The batch.** Averaging B inputs multiplies a noise's variance by 1/B + (1 - 1/B) rho,
    rho the correlation of two inputs' noises. Forward (``forward``, ``act``) this is
    modelled: the inputs are i.i.d. (rho = 0 for nu); two of them reach layer l with a
    pre-activation cosine c_l given by the theory's correlation map
    (c_l = r_l E[phi(u1) phi(u2)] / E[phi^2] + 1 - r_l, from the inputs' cosine c_0), spread
    by the sampling noise of an empirical correlation, (1 - c^2)^2 / n per layer; then
    rho = E[c^2] for eta (Gaussian pairs) and Cov(phi(u1)^2, phi(u2)^2) / Var(phi^2)
    averaged over that spread for zeta. Backward (``backward``, ``weight_grad``) the model
    keeps the one-input variances, an upper bound (the variance of a mean is at most the
    largest variance), except for the output gradient G itself, independent across the
    batch, whose share 2 E[phi'^4] / E[phi'^2]^2 of k'_L is divided by B. The weight
    gradient sum_b g_b a_b^T reduces to one input's g a^T when the inputs coincide (deep
    ordered nets), so its one-input variance is also the bound.

    Neglected: correlations between noises of the same layer's units (eta_l with zeta_l), the
    dependence between the weights of the forward and backward passes (as in the theory),
    and the nonlinearity of a mean of log-normal terms. :func:`calibrate_noise_model` (run by
    ``scripts/reproduce.py``) compares the model's sd with the spread over seeds.

    Also derived here: ``act_mean_sds`` (the batch mean of phi: Var(phi) / n shared by the
    correlation of two inputs' phi, plus its drift dE[phi]/d ln q times delta);
    ``cosines`` / ``cosine_spreads`` (two inputs' cosine and one pair's sampling variance);
    ``difference`` (ln(1 - c) of two close inputs, whose difference the Jacobians carry up as
    they carry a gradient down: the same eps_l steps, minus ln Var z_l for the normalisation).
    """

    predictions: list[LayerPrediction]
    activations: list[Activation]
    widths: list[int]  # n_1 ... n_L
    bias_vars: list[float]
    batch: int
    input_width: int
    input_second_moment: float = 1.0
    input_kurtosis: float = 2.0
    input_cosine: float = 0.0  # E[x_a . x_b] / E[x . x] for two inputs of the batch
    forward: LogStatistic = field(init=False, repr=False)  # ln Var z_l
    act: LogStatistic = field(init=False, repr=False)  # ln E[phi(z_l)^2]
    backward: LogStatistic = field(init=False, repr=False)  # ln Var dL/dz_l
    weight_grad: LogStatistic = field(init=False, repr=False)  # ln Var dL/dW_l
    act_mean_sds: list[float] = field(init=False, repr=False)  # sd of mean phi(z_l)
    cosines: list[float] = field(init=False, repr=False)  # c_l between two inputs
    cosine_spreads: list[float] = field(init=False, repr=False)  # Var of one pair's c_l
    difference: LogStatistic = field(init=False, repr=False)  # ln(1 - c_l) of one close pair

    def __post_init__(self) -> None:
        depth = len(self.predictions)
        size = 2 + 3 * depth  # noise columns: nu, zeta_1..L, eta_1..L, eps_1..L, G
        zeta, eta, eps, top = 1, 1 + depth, 1 + 2 * depth, 1 + 3 * depth
        unit = np.eye(size)
        batch = self.batch
        shared = np.zeros(size)  # batch-averaged variances (forward)
        single = np.zeros(size)  # one-input variances (backward bound)
        single[0] = self.input_kurtosis / self.input_width
        shared[0] = single[0] / batch
        deltas = np.zeros((depth, size))
        layers: list[_UnitMoments] = []
        mean_vars: list[float] = []
        full_top = 0.0  # k'_L / n_L of one input, for the pair walk
        act_cosine = self.input_cosine  # C_{l-1}: cosine of the layer's inputs
        spread = (1.0 - act_cosine**2) ** 2 / self.input_width  # Var of that cosine
        for k, (pred, act, n) in enumerate(
            zip(self.predictions, self.activations, self.widths, strict=True)
        ):
            q = pred.preact_var
            r = (q - self.bias_vars[k]) / q
            previous = unit[0] if k == 0 else layers[-1].alpha * deltas[k - 1] + unit[zeta + k - 1]
            deltas[k] = r * previous
            c = min(1.0, r * act_cosine + 1.0 - r)
            spread = r * r * spread + (1.0 - c * c) ** 2 / n
            m = _unit_moments(act, q, c, spread)
            layers.append(m)
            single[zeta + k] = m.fourth / m.square**2 - 1.0
            shared[zeta + k] = single[zeta + k] * _shrink(m.rho_square, batch)
            single[eta + k] = 2.0
            shared[eta + k] = 2.0 * _shrink(c * c + spread, batch)
            ratio = m.dfourth / m.dsquare**2
            gaussian_part = 2.0 * ratio  # of k', from u (or G) being normal
            if k == depth - 1:
                single[eps + k] = ratio - 1.0
                single[top] = gaussian_part / batch / n
                full_top = (gaussian_part + ratio - 1.0) / n
            else:
                single[eps + k] = gaussian_part + ratio - 1.0
            for vector in (single, shared):
                for column in (zeta, eta, eps):
                    vector[column + k] /= n
            mean_vars.append((m.square - m.mean**2) / n * _shrink(m.rho_mean, batch))
            act_cosine, spread = m.next_cosine, m.next_spread
        alphas = np.array([m.alpha for m in layers])[:, None]
        betas = np.array([m.beta for m in layers])[:, None]
        self.cosines = [m.cosine for m in layers]
        self.cosine_spreads = [m.spread for m in layers]
        self.forward = LogStatistic(deltas + unit[eta:eps], shared)
        self.act = LogStatistic(alphas * deltas + unit[zeta:eta], shared)
        steps = betas * deltas + unit[eps:top]
        steps[-1] += unit[top]
        backward = np.cumsum(steps[::-1], axis=0)[::-1]
        self.backward = LogStatistic(backward, single)
        below = np.vstack([unit[0], self.act.rows[:-1]])  # layer 1's input: ln mean x^2
        self.weight_grad = LogStatistic(below + backward, single)
        # Two close inputs: their difference is carried up by the Jacobians, as a gradient is
        # carried down (the same eps_l per layer), and 1 - c = |difference|^2 / (2 |z|^2).
        upward = np.vstack([np.zeros(size), np.cumsum(steps[:-1], axis=0)])
        pair_vars = single.copy()
        pair_vars[top - 1], pair_vars[top] = full_top, 0.0
        self.difference = LogStatistic(upward - self.forward.rows, pair_vars)
        delta_vars = np.sum(deltas**2 * shared, axis=1)
        self.act_mean_sds = [
            math.sqrt(v + m.mean_slope**2 * dv)
            for v, m, dv in zip(mean_vars, layers, delta_vars, strict=True)
        ]


@dataclass(frozen=True)
class _UnitMoments:
    """What the noise model needs of one layer's units at variance q, cosine c."""

    q: float
    cosine: float
    spread: float  # Var of one pair's empirical cosine c
    mean: float  # E[phi]
    square: float  # E[phi^2]
    fourth: float  # E[phi^4]
    dsquare: float  # E[phi'^2]
    dfourth: float  # E[phi'^4]
    alpha: float  # d ln E[phi^2] / d ln q
    beta: float  # d ln E[phi'^2] / d ln q
    mean_slope: float  # d E[phi] / d ln q
    rho_square: float  # correlation of two inputs' phi^2 (over the cosine's spread)
    rho_mean: float  # correlation of two inputs' phi
    next_cosine: float  # cosine of two inputs' activations phi(z)
    next_spread: float  # its variance


def _unit_moments(act: Activation, q: float, c: float, spread: float) -> _UnitMoments:
    phi, dphi = act.forward, act.derivative

    def square(x: np.ndarray) -> np.ndarray:
        return phi(x) ** 2

    def dsquare(x: np.ndarray) -> np.ndarray:
        return dphi(x) ** 2

    second = expect(square, q)
    # Price's theorem: d E[phi(u1) phi(u2)] / dc = q E[phi'(u1) phi'(u2)]
    slope = q * _pair(dphi, dphi, q, c) / second
    return _UnitMoments(
        q=q,
        cosine=c,
        spread=spread,
        mean=expect(phi, q),
        square=second,
        fourth=expect(lambda x: phi(x) ** 4, q),
        dsquare=expect(dsquare, q),
        dfourth=expect(lambda x: dphi(x) ** 4, q),
        alpha=_log_slope(square, q),
        beta=_log_slope(dsquare, q),
        mean_slope=_mean_log_slope(phi, q),
        rho_square=_noise_correlation(square, q, c, spread),
        rho_mean=_noise_correlation(phi, q, c, spread),
        next_cosine=min(1.0, _pair(phi, phi, q, c) / second),
        next_spread=slope**2 * spread,
    )


def noise_model(
    network: Network,
    batch: int,
    input_second_moment: float = 1.0,
    input_kurtosis: float = 2.0,
    input_cosine: float = 0.0,
    predictions: list[LayerPrediction] | None = None,
) -> NoiseModel:
    """The :class:`NoiseModel` of a dense ``network`` (default: i.i.d. N(0, 1) inputs)."""
    layers = [layer for layer in network.walk() if isinstance(layer, WeightedLayer)]
    if predictions is None:
        predictions = predict_network(network, input_second_moment)
    bias_vars, activations, widths = [], [], []
    for layer in layers:
        assert layer.weight_shape is not None and layer.fans is not None
        assert layer.activation is not None
        activations.append(layer.activation)
        widths.append(layer.weight_shape[0])
        if layer.bias_init is None:
            bias_vars.append(0.0)
        else:
            law = bias_distribution(layer.bias_init, layer.weight_shape[0], layer.fans)
            bias_vars.append(law.std() ** 2)
    return NoiseModel(
        predictions=predictions,
        activations=activations,
        widths=widths,
        bias_vars=bias_vars,
        batch=batch,
        input_width=int(np.prod(network.input_shape)),
        input_second_moment=input_second_moment,
        input_kurtosis=input_kurtosis,
        input_cosine=input_cosine,
    )
