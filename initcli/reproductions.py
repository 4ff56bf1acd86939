"""The classic initialization results, reproduced with initcli's own pipeline.

Each ``reproduce_*`` function runs networks through :func:`initcli.experiment.run_experiment`
(or, where the statistics it records are not enough, through
:func:`initcli.propagate.propagate` directly), and returns the numbers that
``docs/reproductions.md`` tabulates plus a list of :class:`Claim`: what the paper says,
the measured value, the theory value and the interval the measurement must fall in.
``scripts/reproduce.py`` prints and plots them; ``tests/test_reproductions.py`` asserts
every claim holds.

How the intervals are derived (not guessed): :class:`NoiseModel`. In short, a per-layer
variance measured over n units of one input is the theory value times (1 + noise) with
relative variance k/n, k the kurtosis factor of what is averaged (5 for relu, 2 for a
linear unit); these noises enter each layer's input, so ln(measured / theory) is a
linearised random walk whose covariance across layers follows from the mean-field
recursion. A claim's interval is ``Z_BOUND`` standard deviations of that walk, widened by
the Jensen shift of a logarithm (half its variance); where an exact law is known (Saxe's
chi-squares, float64 rounding) the interval comes from it instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initcli.activations import Activation, resolve_activation
from initcli.experiment import RunOptions, dense_stack_spec, run_experiment
from initcli.initializers import bias_distribution
from initcli.layers.weighted import WeightedLayer
from initcli.moments import moments
from initcli.network import Network, build_network
from initcli.network_theory import predict_network
from initcli.propagate import BackwardStep, ForwardStep, propagate, sample_parameters
from initcli.spec import NetworkSpec
from initcli.stats import RunResult
from initcli.theory import (
    LayerPrediction,
    MeanFieldAnalysis,
    analyse,
)

# Half-width of every interval in standard deviations: a two-sided normal tail of 6.8e-6 per
# check, so the ~700 checks of the full reproductions (a claim about every layer counts each
# layer) raise a false alarm with probability below 0.5% (Bonferroni); if the noise model
# underestimates an sd by 25% (its worst case in the calibration table of
# docs/reproductions.md) a check is still at 3.6 sd, a tail of 3e-4.
Z_BOUND = 4.5
_STEP = 1e-3  # relative step of the central differences d ln f / d ln q


# --- claims -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One checked statement: ``low <= measured <= high``."""

    paper: str  # e.g. "He et al. 2015"
    text: str  # the statement, one line
    measured: float
    expected: float  # the theory's value (what the interval is centred on)
    low: float
    high: float
    basis: str  # how the interval was derived, one line
    score: bool = False  # measured is a worst deviation in sd (theory 0, accepted <= high)

    @property
    def holds(self) -> bool:
        return bool(self.low <= self.measured <= self.high)

    def describe(self) -> str:
        verdict = "holds" if self.holds else "FAILS"
        if self.score:
            numbers = f"worst deviation {self.measured:.2f} sd, accepted <= {self.high:g} sd"
        else:
            numbers = (
                f"measured {self.measured:.4g}, theory {self.expected:.4g}, accepted "
                f"[{self.low:.4g}, {self.high:.4g}]"
            )
        return f"[{verdict}] {self.paper}: {self.text}: {numbers} ({self.basis})"


def log_claim(
    paper: str, text: str, measured: float, expected: float, sd: float, jensen: float, basis: str
) -> Claim:
    """measured / expected within exp(+-(Z sd + jensen)): a band on the log scale."""
    half = Z_BOUND * sd + abs(jensen)
    return Claim(
        paper,
        text,
        measured,
        expected,
        expected * math.exp(-half),
        expected * math.exp(half),
        f"{Z_BOUND} sd = {Z_BOUND * sd:.3g} in ln, + Jensen {abs(jensen):.2g}; {basis}",
    )


def worst_layer_claim(
    paper: str,
    text: str,
    measured: Sequence[float],
    expected: Sequence[float],
    sds: Sequence[float],
    jensens: Sequence[float],
) -> Claim:
    """Every layer within its band: the largest |ln(m / t)| - jensen, in sd units, <= Z."""
    scores = [
        max(0.0, abs(math.log(m / t)) - abs(j)) / s
        for m, t, s, j in zip(measured, expected, sds, jensens, strict=True)
    ]
    worst = int(np.argmax(scores))
    return Claim(
        paper,
        f"{text} (worst: layer {worst + 1})",
        scores[worst],
        0.0,
        0.0,
        Z_BOUND,
        "per-layer |ln(measured / theory)| beyond Jensen, in noise-model sd",
        score=True,
    )


# --- the noise model ------------------------------------------------------------------------


# A coarse Gauss-Hermite rule for the noise model's moments: it needs them to ~1e-4, not to
# the theory's 1e-10, and evaluates a few hundred of them (2-D ones too) per network.
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(64)
_WEIGHTS = _WEIGHTS / math.sqrt(2 * math.pi)


def _expect(func: Callable[[np.ndarray], np.ndarray], q: float) -> float:
    """E[func(sqrt(q) z)], z ~ N(0, 1)."""
    return float(_WEIGHTS @ func(math.sqrt(q) * _NODES))


def _pair(
    f: Callable[[np.ndarray], np.ndarray],
    g: Callable[[np.ndarray], np.ndarray],
    q: float,
    c: float,
) -> float:
    """E[f(u1) g(u2)], (u1, u2) ~ N(0, q [[1, c], [c, 1]])."""
    root = math.sqrt(q)
    z1 = _NODES[:, None]
    u2 = root * (c * z1 + math.sqrt(max(0.0, 1.0 - c * c)) * _NODES[None, :])
    return float(_WEIGHTS @ (f(root * z1) * g(u2)) @ _WEIGHTS)


def _log_slope(func: Callable[[np.ndarray], np.ndarray], q: float) -> float:
    """d ln E[func(sqrt(q) z)] / d ln q by a central difference."""
    up, down = _expect(func, q * math.exp(_STEP)), _expect(func, q * math.exp(-_STEP))
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
    mean = _expect(func, q)
    var = _expect(lambda x: func(x) ** 2, q) - mean**2
    if var <= 1e-12 * max(mean**2, 1e-300):
        return 1.0
    return _smeared(lambda cc: (_pair(func, func, q, cc) - mean**2) / var, c, spread)


def _mean_log_slope(func: Callable[[np.ndarray], np.ndarray], q: float) -> float:
    """d E[func(sqrt(q) z)] / d ln q by a central difference."""
    up, down = _expect(func, q * math.exp(_STEP)), _expect(func, q * math.exp(-_STEP))
    return (up - down) / (2 * _STEP)


def kurtosis_factor(activation: Activation, q: float) -> float:
    """k = Var(phi(z)^2) / E[phi(z)^2]^2, z ~ N(0, q): n times the relative variance of a mean
    of phi^2 over n independent units (5 for relu, 2 for a linear unit)."""
    phi = activation.forward
    return _expect(lambda x: phi(x) ** 4, q) / _expect(lambda x: phi(x) ** 2, q) ** 2 - 1.0


def backward_kurtosis_factor(activation: Activation, q: float) -> float:
    """k' = Var((phi'(z) u)^2) / E[(phi'(z) u)^2]^2 with u ~ N(0, 1) independent of
    z ~ N(0, q): 3 E[phi'^4] / E[phi'^2]^2 - 1 (5 for relu, 2 for a linear unit)."""
    dphi = activation.derivative
    return 3 * _expect(lambda x: dphi(x) ** 4, q) / _expect(lambda x: dphi(x) ** 2, q) ** 2 - 1


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
        return _band(self.layer_sds(), self.layer_jensens())


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

    second = _expect(square, q)
    # Price's theorem: d E[phi(u1) phi(u2)] / dc = q E[phi'(u1) phi'(u2)]
    slope = q * _pair(dphi, dphi, q, c) / second
    return _UnitMoments(
        q=q,
        cosine=c,
        spread=spread,
        mean=_expect(phi, q),
        square=second,
        fourth=_expect(lambda x: phi(x) ** 4, q),
        dsquare=_expect(dsquare, q),
        dfourth=_expect(lambda x: dphi(x) ** 4, q),
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


# --- shared pieces ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One per-layer curve for tables and figures: measured, theory and accepted band."""

    label: str
    layers: list[int]
    measured: list[float]
    theory: list[float] | None = None
    band: list[float] | None = None  # accepted half-width in ln around theory, per layer


def _band(sds: Sequence[float], jensens: Sequence[float]) -> list[float]:
    return [Z_BOUND * s + abs(j) for s, j in zip(sds, jensens, strict=True)]


def _difference(size: int, upper: int, lower: int) -> np.ndarray:
    """Weights of ln(stat_upper) - ln(stat_lower) over ``size`` layers (0-based)."""
    weights = np.zeros(size)
    weights[upper] += 1.0
    weights[lower] -= 1.0
    return weights


def slope_weights(layers: Sequence[int] | np.ndarray) -> np.ndarray:
    """OLS slope of y on the layer index as a linear combination of the y's."""
    x = np.asarray(layers, dtype=float)
    centred = x - x.mean()
    return centred / float(centred @ centred)


def _act_second_moments(result: RunResult) -> list[float]:
    return [layer.act_var + layer.act_mean**2 for layer in result.layers]


# --- He et al. 2015 -----------------------------------------------------------------------


HE = "He et al. 2015"


@dataclass
class He2015:
    """A deep relu stack under Glorot's and He's initializations (He et al. 2015, fig. 1)."""

    depth: int
    width: int
    batch: int
    runs: dict[str, RunResult]
    forward_factor: dict[str, tuple[float, float]]  # init -> (measured, theory) per layer
    backward_factor: dict[str, tuple[float, float]]
    series: list[Series]
    claims: list[Claim]


def reproduce_he2015(depth: int = 30, width: int = 256, batch: int = 256, seed: int = 0) -> He2015:
    """He et al. 2015, section 2.2: with Var(W) = 1 / n (Glorot, square layers) a relu layer
    halves the variance, since E[relu(z)^2] = Var(z) / 2; Var(W) = 2 / n (He) keeps it.

    The per-layer factor is measured end to end, (Var z_L / Var z_1)^(1 / (L - 1)), and
    backward as (Var g_1 / Var g_L)^(1 / (L - 1)); its noise is the :class:`NoiseModel`'s sd
    of ln(Var z_L / Var z_1) divided by L - 1 (5 (L - 1) / n for relu, a neutral walk).
    """
    inits = {"glorot_uniform": "Glorot", "he_normal": "He"}
    spec = dense_stack_spec(depth, width, "relu", batch, "he_normal")
    runs, forward_factor, backward_factor = {}, {}, {}
    series: list[Series] = []
    claims: list[Claim] = []
    ends = _difference(depth, depth - 1, 0)
    layers = list(range(1, depth + 1))
    for init, short in inits.items():
        result = run_experiment(spec, RunOptions(seed=seed, init=init, keep_samples=False))
        runs[init] = result
        model = noise_model(build_network(spec, init=init), batch)
        pre = [s.preact_var for s in result.layers]
        pre_theory = [float(s.theory_preact_var or math.nan) for s in result.layers]
        grad = [float(s.grad_var or math.nan) for s in result.layers]
        grad_theory = [float(s.theory_grad_var or math.nan) for s in result.layers]
        per = 1.0 / (depth - 1)
        fwd = ((pre[-1] / pre[0]) ** per, (pre_theory[-1] / pre_theory[0]) ** per)
        bwd = ((grad[0] / grad[-1]) ** per, (grad_theory[0] / grad_theory[-1]) ** per)
        forward_factor[init], backward_factor[init] = fwd, bwd
        verb = "halves" if short == "Glorot" else "keeps"
        claims.append(
            log_claim(
                HE,
                f"{short} init ({init}) {verb} Var z: factor per layer",
                fwd[0],
                fwd[1],
                model.forward.sd(ends) * per,
                model.forward.jensen(ends) * per,
                f"noise model, width {width}, {depth} layers",
            )
        )
        claims.append(
            log_claim(
                HE,
                f"{short} init ({init}) {verb} Var dL/dz going back: factor per layer",
                bwd[0],
                bwd[1],
                model.backward.sd(-ends) * per,
                model.backward.jensen(-ends) * per,
                f"noise model, width {width}, {depth} layers",
            )
        )
        for label, rows, measured, theory in (
            ("Var z", model.forward, pre, pre_theory),
            ("Var dL/dz", model.backward, grad, grad_theory),
        ):
            sds, jensens = rows.layer_sds(), rows.layer_jensens()
            claims.append(
                worst_layer_claim(
                    HE,
                    f"{short}: every layer's {label} matches mean-field theory",
                    measured,
                    theory,
                    sds,
                    jensens,
                )
            )
            series.append(Series(f"{init}: {label}", layers, measured, theory, _band(sds, jensens)))
    return He2015(depth, width, batch, runs, forward_factor, backward_factor, series, claims)


# --- Glorot & Bengio 2010 -----------------------------------------------------------------


GLOROT = "Glorot & Bengio 2010"
GLOROT_INITS = {"torch_default": "standard", "glorot_uniform": "normalized"}


@dataclass
class Glorot2010:
    """The 5 x 1000 tanh net under the "standard" and "normalized" initializations."""

    name: str
    batch: int
    runs: dict[str, RunResult]
    act_theory: dict[str, list[float]]  # init -> predicted Var phi(z) per layer
    preact_ratios: list[tuple[float, float]]  # torch_default: (measured, theory) l+1 over l
    grad_ratios: list[tuple[float, float]]  # torch_default: (measured, theory) l over l+1
    spans: dict[str, dict[str, tuple[float, float]]]  # init -> stat -> (measured, theory)
    hidden: int  # the tanh layers 1..hidden (the output layer is linear)
    series: list[Series]
    claims: list[Claim]


def _span(values: Sequence[float]) -> float:
    return max(values) / min(values)


def reproduce_glorot2010(spec: NetworkSpec, batch: int | None = None, seed: int = 0) -> Glorot2010:
    """Glorot & Bengio 2010, section 4.2 and figures 6-8, on ``configs/glorot2010.yaml``.

    The standard init U(-1/sqrt(n), 1/sqrt(n)) (``torch_default``) has n Var(W) = 1/3, so
    q_{l+1} = E[tanh(sqrt(q_l) z)^2] / 3 <= q_l / 3 (tanh^2(x) <= x^2), tending to q_l / 3 as
    q_l -> 0; the back-propagated gradient shrinks by n_out Var(W) E[tanh'^2] ~ 1/3 per layer
    towards the input. Their eq. 14: Var(dL/dW_l) ~ Var(a_{l-1}) Var(g_l), one factor 3^-(l-1),
    the other 3^-(L-l), so the product is about the same in every layer.
    """
    size = len([layer for layer in spec.layers if layer.type != "flatten"])
    runs, act_theory = {}, {}
    spans: dict[str, dict[str, tuple[float, float]]] = {}
    series: list[Series] = []
    claims: list[Claim] = []
    preact_ratios: list[tuple[float, float]] = []
    grad_ratios: list[tuple[float, float]] = []
    layers = list(range(1, size + 1))
    hidden = size - 1  # tanh layers; the last is the linear output
    for init, short in GLOROT_INITS.items():
        result = run_experiment(spec, RunOptions(seed=seed, init=init, batch=batch))
        runs[init] = result
        network = build_network(spec, init=init)
        predictions = predict_network(network)
        model = noise_model(network, result.batch, predictions=predictions)
        act = [s.act_var for s in result.layers]
        act_th = [p.act_var for p in predictions]
        act_theory[init] = act_th
        pre = [s.preact_var for s in result.layers]
        pre_th = [float(s.theory_preact_var or math.nan) for s in result.layers]
        grad = [float(s.grad_var or math.nan) for s in result.layers]
        grad_th = [float(s.theory_grad_var or math.nan) for s in result.layers]
        wgrad = [float(s.weight_grad_var or math.nan) for s in result.layers]
        wgrad_th = [float(s.theory_weight_grad_var or math.nan) for s in result.layers]
        for label, rows, measured, theory in (
            ("Var phi(z)", model.act, act, act_th),
            ("Var dL/dz", model.backward, grad, grad_th),
            ("Var dL/dW", model.weight_grad, wgrad, wgrad_th),
        ):
            sds, jensens = rows.layer_sds(), rows.layer_jensens()
            series.append(Series(f"{init}: {label}", layers, measured, theory, _band(sds, jensens)))
            if label != "Var dL/dW":  # the output layer's is checked only through ratios below
                claims.append(
                    worst_layer_claim(
                        GLOROT,
                        f"{short} init ({init}): every layer's {label} matches theory",
                        measured,
                        theory,
                        sds,
                        jensens,
                    )
                )
        top = slice(0, hidden)
        spans[init] = {
            "Var phi(z)": (_span(act[top]), _span(act_th[top])),
            "Var dL/dz": (_span(grad[top]), _span(grad_th[top])),
            "Var dL/dW": (_span(wgrad[top]), _span(wgrad_th[top])),
        }
        if init != "torch_default":
            continue
        for k in range(size - 1):  # Var z shrinks about 3x per layer
            w = _difference(size, k + 1, k)
            ratio = (pre[k + 1] / pre[k], pre_th[k + 1] / pre_th[k])
            preact_ratios.append(ratio)
            claims.append(
                log_claim(
                    GLOROT,
                    f"standard init: Var z of layer {k + 2} / layer {k + 1} (theory <= 1/3)",
                    *ratio,
                    model.forward.sd(w),
                    model.forward.jensen(w),
                    "noise model",
                )
            )
        claims.append(
            Claim(
                GLOROT,
                "standard init: theory's Var z ratio never exceeds 1/3",
                max(t for _, t in preact_ratios),
                1 / 3,
                0.0,
                1 / 3,
                "E[tanh(x)^2] <= E[x^2] and n Var(W) = 1/3",
            )
        )
        for k in range(hidden - 1):  # Var dL/dz shrinks about 3x per layer towards the input
            w = _difference(size, k, k + 1)
            ratio = (grad[k] / grad[k + 1], grad_th[k] / grad_th[k + 1])
            grad_ratios.append(ratio)
            claims.append(
                log_claim(
                    GLOROT,
                    f"standard init: Var dL/dz of layer {k + 1} / layer {k + 2}",
                    *ratio,
                    model.backward.sd(w),
                    model.backward.jensen(w),
                    "noise model",
                )
            )
        for k in range(1, hidden):  # ... while Var dL/dW stays flat
            w = _difference(size, k, 0)
            claims.append(
                log_claim(
                    GLOROT,
                    f"standard init: Var dL/dW of layer {k + 1} / layer 1 (flat)",
                    wgrad[k] / wgrad[0],
                    wgrad_th[k] / wgrad_th[0],
                    model.weight_grad.sd(w),
                    model.weight_grad.jensen(w),
                    "noise model",
                )
            )
    return Glorot2010(
        spec.name,
        runs["torch_default"].batch,
        runs,
        act_theory,
        preact_ratios,
        grad_ratios,
        spans,
        hidden,
        series,
        claims,
    )


# --- Saxe et al. 2014 -------------------------------------------------------------------------


SAXE = "Saxe et al. 2014"
SAXE_INITS = {
    "orthogonal": "orthogonal",
    "variance_scaling(scale=1.0, mode=fan_in, distribution=normal)": "Gaussian",
}


@dataclass
class Saxe2014:
    """Norms through a deep linear net, one input per draw, over many draws."""

    depth: int
    width: int
    seeds: int
    log_ratios: dict[str, np.ndarray]  # init -> (seeds, depth): ln(|z_l|^2 / |x|^2)
    grad_log_ratios: dict[str, np.ndarray]  # init -> (seeds, depth): ln(|g_l|^2 / |g_L|^2)
    checkpoints: list[int]  # layers where the spread over seeds is checked
    spread: list[tuple[int, float, float, float, float]]  # (layer, sd, theory, low, high)
    rounding_bound: float
    claims: list[Claim]


def _linear_norms(
    network: Network, seed: int, dtype: type = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """One input and one output gradient through ``network``: ln(|z_l|^2 / |x|^2) and
    ln(|g_l|^2 / |g_L|^2) per weighted layer (g_L = the output gradient, phi' = 1)."""
    rng = np.random.default_rng(seed)
    params = sample_parameters(network, rng, dtype)
    x: np.ndarray = rng.standard_normal((1, *network.input_shape)).astype(dtype)
    out: np.ndarray = rng.standard_normal((1, *network.output_shape)).astype(dtype)
    forward, backward = [], []
    for step in propagate(network, params, x, out):
        if isinstance(step, ForwardStep):
            forward.append(float(np.sum(step.preact.astype(np.float64) ** 2)))
        elif isinstance(step, BackwardStep):
            backward.append(float(np.sum(step.grad_preact.astype(np.float64) ** 2)))
    norm_x = float(np.sum(x.astype(np.float64) ** 2))
    grads = np.array(backward[::-1])
    return np.log(np.array(forward) / norm_x), np.log(grads / grads[-1])


def reproduce_saxe2014(
    depth: int = 100, width: int = 64, seeds: int = 200, orthogonal_seeds: int = 10
) -> Saxe2014:
    """Saxe et al. 2014, section 3: a product of orthogonal matrices is orthogonal, so a deep
    linear net with orthogonal weights keeps |z_l| = |x| and |g_l| = |g_L| exactly; with
    Gaussian weights of variance 1 / n each layer multiplies |z|^2 by an independent
    chi^2_n / n (the direction is uniform and W z / |z| ~ N(0, I / n) for any z), so
    ln(|z_l|^2 / |x|^2) is a sum of l i.i.d. ln(chi^2_n / n): mean l (psi(n/2) - ln(n/2)),
    sd sqrt(l psi'(n/2)) (digamma, trigamma). The mean norm is kept (E[chi^2_n / n] = 1),
    but its spread over draws grows like sqrt(depth).

    Tolerances: orthogonal — float64 rounding. A computed product Q x is off by at most
    gamma_n |Q| |x| elementwise (Higham, "Accuracy and Stability of Numerical Algorithms",
    thm. 3.5), so by n^(3/2) u in norm relative to |x| (u = 2^-53), and Householder QR's Q
    departs from orthogonality by O(n u): |ln ratio| <= 2 L (n^(3/2) + n) u over L layers.
    Gaussian — the sample sd over ``seeds`` draws of a normal variable lies in
    sigma sqrt(chi^2_{S-1, p} / (S - 1)) for p = tail, 1 - tail (tail from ``Z_BOUND``), and
    the sample mean in mu +- Z sigma / sqrt(S); a sum of many log-chi-squares is near normal.
    """
    from scipy.special import chdtri, ndtr, polygamma, psi

    log_ratios, grad_log_ratios = {}, {}
    for init in SAXE_INITS:
        spec = dense_stack_spec(depth, width, "linear", 1, init)
        network = build_network(spec, init=init)
        count = orthogonal_seeds if init == "orthogonal" else seeds
        draws = [_linear_norms(network, seed) for seed in range(count)]
        log_ratios[init] = np.array([f for f, _ in draws])
        grad_log_ratios[init] = np.array([g for _, g in draws])
    claims: list[Claim] = []
    unit_roundoff = float(np.finfo(np.float64).eps) / 2
    bound = 2 * depth * (width**1.5 + width) * unit_roundoff
    for name, values in (
        ("Var z", log_ratios["orthogonal"]),
        ("Var dL/dz", grad_log_ratios["orthogonal"]),
    ):
        worst = float(np.max(np.abs(values)))
        claims.append(
            Claim(
                SAXE,
                f"orthogonal: |ln(norm^2 ratio)| of {name}, worst over layers and draws",
                worst,
                0.0,
                0.0,
                bound,
                f"float64 rounding, 2 L (n^1.5 + n) u = {bound:.2g}",
            )
        )
    gaussian = log_ratios[next(k for k in SAXE_INITS if k != "orthogonal")]
    step_var = float(polygamma(1, width / 2))
    step_mean = float(psi(width / 2) - math.log(width / 2))
    tail = 2 * float(ndtr(-Z_BOUND))  # two-sided
    # chdtri(k, p): the chi-square quantile with upper tail p
    low_q, high_q = chdtri(seeds - 1, 1 - tail / 2), chdtri(seeds - 1, tail / 2)
    checkpoints = sorted({max(1, depth // 10), depth // 4, depth // 2, depth})
    spread = []
    for layer in checkpoints:
        column = gaussian[:, layer - 1]
        sigma = math.sqrt(layer * step_var)
        sd = float(np.std(column, ddof=1))
        low, high = sigma * math.sqrt(low_q / (seeds - 1)), sigma * math.sqrt(high_q / (seeds - 1))
        spread.append((layer, sd, sigma, low, high))
        claims.append(
            Claim(
                SAXE,
                f"Gaussian: sd over {seeds} draws of ln(|z|^2/|x|^2) at layer {layer}",
                sd,
                sigma,
                low,
                high,
                f"chi-square interval, {Z_BOUND} sd tails",
            )
        )
        mean, half = layer * step_mean, Z_BOUND * sigma / math.sqrt(seeds)
        claims.append(
            Claim(
                SAXE,
                f"Gaussian: mean over draws of ln(|z|^2/|x|^2) at layer {layer}",
                float(np.mean(column)),
                mean,
                mean - half,
                mean + half,
                f"{Z_BOUND} sd / sqrt({seeds})",
            )
        )
    first, last = spread[0], spread[-1]
    claims.append(
        Claim(
            SAXE,
            f"Gaussian: the spread grows with depth, sd at layer {last[0]} over layer {first[0]}",
            last[1] / first[1],
            last[2] / first[2],
            last[3] / first[4],
            last[4] / first[3],
            "ratio of the two chi-square intervals",
        )
    )
    return Saxe2014(
        depth, width, seeds, log_ratios, grad_log_ratios, checkpoints, spread, bound, claims
    )


# --- Klambauer et al. 2017 --------------------------------------------------------------------


KLAMBAUER = "Klambauer et al. 2017"
SELU_STARTS = ((0.0, 1.0), (0.0, 0.1), (1.0, 3.0), (-2.0, 12.0))  # input (mean, variance)


@dataclass
class SeluPath:
    """The layers' activation mean and variance from one input distribution."""

    input_mean: float
    input_var: float
    act_mean: list[float]
    act_var: list[float]
    theory_mean: list[float]
    theory_var: list[float]
    mean_bands: list[float]  # accepted |measured - theory| of the mean, per layer
    var_bands: list[float]  # accepted |ln(measured / theory)| of the variance, per layer


@dataclass
class Klambauer2017:
    depth: int
    width: int
    batch: int
    paths: list[SeluPath]
    claims: list[Claim]


def reproduce_klambauer2017(
    depth: int = 32,
    width: int = 512,
    batch: int = 256,
    seed: int = 0,
    starts: Sequence[tuple[float, float]] = SELU_STARTS,
) -> Klambauer2017:
    """Klambauer et al. 2017, theorem 1: with lecun_normal weights (n Var(W) = 1) selu maps
    the activations' (mean, variance) towards the stable fixed point (0, 1).

    Inputs x = mu + sqrt(v) xi, xi ~ N(0, 1), for several (mu, v): the first layer sees
    q_1 = E[x^2] = mu^2 + v. Mean-field theory (the random-weight version of their map,
    :func:`initcli.theory.predict_stack`) predicts every layer's E[phi] and Var(phi); the
    stable fixed point q* = 1 gives E[selu] = 0, Var(selu) = 1 by the choice of selu's
    constants (the theory's distance left at the last layer widens the band). Tolerances:
    :class:`NoiseModel` with the inputs' kurtosis factor
    (4 mu^2 v + 2 v^2) / (mu^2 + v)^2 and cosine mu^2 / (mu^2 + v) (a shared mean makes
    inputs alike); for the variance the model's ln E[phi^2] noise (the mean is near 0 deep
    in the net), for the mean ``act_mean_sds``.
    """
    spec = dense_stack_spec(depth, width, "selu", batch, "lecun_normal")
    network = build_network(spec)
    paths: list[SeluPath] = []
    claims: list[Claim] = []
    for index, (mu, var) in enumerate(starts):
        rng = np.random.default_rng(seed + index)
        params = sample_parameters(network, rng, np.float32)
        inputs = (mu + math.sqrt(var) * rng.standard_normal((batch, width))).astype(np.float32)
        means, variances = [], []
        for step in propagate(network, params, inputs, None):
            assert isinstance(step, ForwardStep)
            moments_ = _moments(step.act)
            means.append(moments_[0])
            variances.append(moments_[1])
        second = mu * mu + var
        predictions = predict_network(network, second)
        model = noise_model(
            network,
            batch,
            second,
            input_kurtosis=(4 * mu * mu * var + 2 * var * var) / second**2,
            input_cosine=mu * mu / second,
            predictions=predictions,
        )
        path = SeluPath(
            mu,
            var,
            means,
            variances,
            [p.act_mean for p in predictions],
            [p.act_var for p in predictions],
            [Z_BOUND * s for s in model.act_mean_sds],
            model.act.bands(),
        )
        paths.append(path)
        last = depth - 1
        where = f"from input mean {mu:g}, variance {var:g}"
        # measured - fixed point = (measured - theory) + (theory - fixed point): the band of
        # the first term plus the theory's own remaining distance
        mean_half = path.mean_bands[last] + abs(path.theory_mean[last])
        claims.append(
            Claim(
                KLAMBAUER,
                f"{where}: mean of selu(z) at layer {depth} -> 0",
                means[last],
                0.0,
                -mean_half,
                mean_half,
                f"{Z_BOUND} sd of the batch mean (noise model) + theory's |E phi_L| "
                f"{abs(path.theory_mean[last]):.1g}",
            )
        )
        var_half = path.var_bands[last] + abs(math.log(path.theory_var[last]))
        claims.append(
            Claim(
                KLAMBAUER,
                f"{where}: variance of selu(z) at layer {depth} -> 1",
                variances[last],
                1.0,
                math.exp(-var_half),
                math.exp(var_half),
                f"{Z_BOUND} sd of ln E[phi^2] (noise model) + Jensen + theory's |ln Var phi_L| "
                f"{abs(math.log(path.theory_var[last])):.1g}",
            )
        )
    return Klambauer2017(depth, width, batch, paths, claims)


def _moments(values: np.ndarray) -> tuple[float, float]:
    result = moments(values)
    return result.mean, result.var


# --- Schoenholz et al. 2017 -------------------------------------------------------------------


SCHOENHOLZ = "Schoenholz et al. 2017"
SCHOENHOLZ_SIGMA_W2 = (1.0, 1.3, 1.5, 1.76, 2.0, 2.5, 3.0, 4.0)


def tanh_init(sigma_w2: float) -> str:
    """Weights N(0, sigma_w^2 / fan_in), as in Schoenholz et al."""
    return f"variance_scaling(scale={sigma_w2:g}, mode=fan_in, distribution=normal)"


def tanh_bias(sigma_b2: float) -> str:
    return f"random_normal(std={math.sqrt(sigma_b2):.6g})"


@dataclass
class DepthScale:
    """One (sigma_w^2, sigma_b^2): theory, and what the tanh networks measured."""

    sigma_w2: float
    analysis: MeanFieldAnalysis
    window: tuple[int, int]  # layers the slopes are fitted over (1-based, inclusive)
    grad_log: list[float]  # ln Var dL/dz per layer, mean over seeds
    grad_log_theory: list[float]
    grad_slope: tuple[float, float, float]  # measured, theory, accepted half-width
    cosine_start: float  # the input pairs' cosine
    cosine: list[float]  # two inputs' pre-activation cosine per layer, mean over seeds
    cosine_theory: list[float]
    cosine_bands: list[float]  # accepted |measured - theory|, per layer
    gap_log: list[float] | None  # ordered phase: ln mean(1 - c_l)
    gap_log_theory: list[float] | None
    gap_slope: tuple[float, float, float] | None  # measured, theory, accepted half-width
    xi_c_measured: float  # depth scale fitted to the measured correlation

    @property
    def xi_grad(self) -> float:
        """The gradient's depth scale 1 / |ln chi_1| (vanishing or exploding)."""
        return 1.0 / abs(math.log(self.analysis.chi_1))


@dataclass
class Schoenholz2017:
    sigma_b2: float
    depth: int
    width: int
    batch: int
    pairs: int
    seeds: int
    scales: list[DepthScale]
    claims: list[Claim]


def _gap_path(
    activation: Activation, sigma_w2: float, sigma_b2: float, q1: float, gap1: float, depth: int
) -> tuple[list[float], list[float]]:
    """Mean-field q_l and 1 - c_l of two inputs, iterated on the gap 1 - c so it stays exact
    down to 1e-300: 1 - c_{l+1} = sigma_w^2 E[(phi(u1) - phi(u2))^2] / (2 q_{l+1})."""
    phi = activation.forward
    qs, gaps = [q1], [gap1]
    for _ in range(depth - 1):
        q, gap = qs[-1], gaps[-1]
        root = math.sqrt(q)
        c = 1.0 - gap
        z1 = _NODES[:, None]
        u1 = root * z1
        u2 = root * (c * z1 + math.sqrt(gap * (2.0 - gap)) * _NODES[None, :])
        half_square = float(_WEIGHTS @ ((phi(u1) - phi(u2)) ** 2) @ _WEIGHTS) / 2
        q_next = sigma_w2 * _expect(lambda x: phi(x) ** 2, q) + sigma_b2
        qs.append(q_next)
        gaps.append(sigma_w2 * half_square / q_next)
    return qs, gaps


def _pair_cosines(
    network: Network, seed: int, pairs: int, start: float
) -> tuple[np.ndarray, np.ndarray]:
    """``pairs`` input pairs of cosine ``start`` through ``network`` (float64): per layer, the
    mean over pairs of the pre-activations' cosine and of 1 - cosine (computed as
    |u_a - u_b|^2 / 2 of the unit vectors, exact when the cosine is near 1)."""
    rng = np.random.default_rng(seed)
    params = sample_parameters(network, rng, np.float64)
    width = network.input_shape[0]
    first = rng.standard_normal((pairs, width))
    other = rng.standard_normal((pairs, width))
    second = start * first + math.sqrt(1.0 - start * start) * other
    cosines, gaps = [], []
    for step in propagate(network, params, np.concatenate([first, second]), None):
        assert isinstance(step, ForwardStep)
        z = step.preact
        units = z / np.linalg.norm(z, axis=1, keepdims=True)
        a, b = units[:pairs], units[pairs:]
        cosines.append(float(np.mean(np.sum(a * b, axis=1))))
        gaps.append(float(np.mean(np.sum((a - b) ** 2, axis=1) / 2)))
    return np.array(cosines), np.array(gaps)


def _fit_scale(values: np.ndarray, target: float, first: int, noise: np.ndarray) -> float:
    """Depth scale of |values - target| fitted on layers from ``first`` while it stays above
    3 x ``noise`` (its sd); inf when fewer than 3 layers qualify or it does not decay."""
    distance = np.abs(values - target)
    usable = []
    for index in range(first - 1, len(values)):
        if distance[index] <= 3 * noise[index]:
            break
        usable.append(index)
    if len(usable) < 3:
        return math.inf
    slope = float(slope_weights(usable) @ np.log(distance[usable]))
    return -1.0 / slope if slope < 0 else math.inf


def reproduce_schoenholz2017(
    sigma_w2s: Sequence[float] = SCHOENHOLZ_SIGMA_W2,
    sigma_b2: float = 0.05,
    depth: int = 60,
    width: int = 512,
    batch: int = 16,
    pairs: int = 16,
    seeds: int = 2,
) -> Schoenholz2017:
    """Schoenholz et al. 2017: tanh nets with W ~ N(0, sigma_w^2 / n), b ~ N(0, sigma_b^2).

    Depth scales (theory, :func:`initcli.theory.analyse`): the correlation c_l of two inputs
    approaches its fixed point c* like exp(-l / xi_c) with xi_c = -1 / ln chi_c; in the
    ordered phase c* = 1 and chi_c = chi_1. Gradients (their section 5) scale like
    chi_1^(L - l): ln Var(dL/dz_l) has slope -ln chi_1 in l, a depth scale
    xi_grad = 1 / |ln chi_1| that diverges at the critical line chi_1 = 1, like xi_c.

    Measured, for every sigma_w^2 and ``seeds`` draws:

    - ``run_experiment`` gives Var(dL/dz_l); its OLS slope over the layers past the
      variance's transient (l >= 1 + 6 xi_q, q_l within e^-6 of q*) is compared with the
      same fit of the theory's per-layer prediction, within ``Z_BOUND`` sd of the
      :class:`NoiseModel` (one-input bound) / sqrt(seeds);
    - ``pairs`` pairs of inputs with cosine c_0 (0.6 in the ordered phase; in the chaotic
      phase 0 when c* >= 0.4, else 0.8, to start far from c*) are propagated: every layer's
      mean cosine must follow the mean-field path, within ``Z_BOUND`` sd of one pair's
      empirical cosine (``NoiseModel.cosine_spreads``) / sqrt(seeds); in the ordered phase
      the OLS slope of ln(1 - c_l) over the window must match the theory's (noise: the
      model's ``difference`` walk), a direct measurement of -1 / xi_c.

    The depth scale fitted to the measured |c_l - c*| (chaotic phase) is reported, not
    asserted: its window ends where the distance falls below 3 sd of the pairs' mean (one
    pair's sd / sqrt(pairs x draws), treating pairs as independent), a choice made from the
    data.
    """
    tanh = resolve_activation("tanh")
    scales: list[DepthScale] = []
    claims: list[Claim] = []
    root_seeds = math.sqrt(seeds)
    for sigma_w2 in sigma_w2s:
        analysis = analyse(tanh, sigma_w2, sigma_b2, depth=1)  # depth: only its layer table
        c_star = analysis.c_star if analysis.c_star is not None else 1.0
        start = 0.6 if c_star >= 1.0 else (0.0 if c_star >= 0.4 else 0.8)
        init, bias = tanh_init(sigma_w2), tanh_bias(sigma_b2)
        spec = dense_stack_spec(depth, width, "tanh", batch, init)
        network = build_network(spec, init=init, bias_init=bias)
        model = noise_model(network, batch, input_cosine=start)
        xi_q = analysis.xi_q or 0.0
        first = min(depth - 3, 1 + math.ceil(6 * xi_q))
        window = (first, depth)
        layers = np.arange(first, depth + 1)
        weights = np.zeros(depth)
        weights[first - 1 :] = slope_weights(layers)
        grad_logs, cosines, gaps = [], [], []
        theory_grad = None
        for seed in range(seeds):
            result = run_experiment(spec, RunOptions(seed=seed, bias_init=bias, keep_samples=False))
            grad_logs.append([math.log(float(s.grad_var or math.nan)) for s in result.layers])
            theory_grad = [math.log(float(s.theory_grad_var or math.nan)) for s in result.layers]
            cos, gap = _pair_cosines(network, 1000 + seed, pairs, start)
            cosines.append(cos)
            gaps.append(gap)
        assert theory_grad is not None
        grad_log = np.mean(grad_logs, axis=0)
        grad_measured, grad_theory = float(weights @ grad_log), float(weights @ theory_grad)
        grad_half = Z_BOUND * model.backward.sd(weights) / root_seeds + abs(
            model.backward.jensen(weights)
        )
        phase = analysis.phase
        claims.append(
            Claim(
                SCHOENHOLZ,
                f"sigma_w^2 = {sigma_w2:g} ({phase}): slope of ln Var dL/dz over layers "
                f"{first}-{depth} (theory -ln chi_1 = {-math.log(analysis.chi_1):.4f})",
                grad_measured,
                grad_theory,
                grad_theory - grad_half,
                grad_theory + grad_half,
                f"{Z_BOUND} sd of the noise model / sqrt({seeds} draws) + Jensen",
            )
        )
        cosine = np.mean(cosines, axis=0)
        cosine_theory = model.cosines
        cosine_bands = [Z_BOUND * math.sqrt(v) / root_seeds for v in model.cosine_spreads]
        scores = [
            abs(m - t) / (b / Z_BOUND)
            for m, t, b in zip(cosine, cosine_theory, cosine_bands, strict=True)
        ]
        worst = int(np.argmax(scores))
        claims.append(
            Claim(
                SCHOENHOLZ,
                f"sigma_w^2 = {sigma_w2:g}: every layer's mean cosine of two inputs follows the "
                f"mean-field path to c* = {analysis.c_star:.3f} (worst: layer {worst + 1})",
                scores[worst],
                0.0,
                0.0,
                Z_BOUND,
                "per-layer |measured - theory| in sd of one pair's cosine / sqrt(draws)",
                score=True,
            )
        )
        gap_log = gap_log_theory = gap_slope = None
        noise = np.sqrt(np.array(model.cosine_spreads) / (seeds * pairs))
        if c_star >= 1.0:
            q1 = model.predictions[0].preact_var
            _, theory_gaps = _gap_path(tanh, sigma_w2, sigma_b2, q1, 1.0 - model.cosines[0], depth)
            gap_log = [float(v) for v in np.log(np.mean(gaps, axis=0))]
            gap_log_theory = [math.log(v) for v in theory_gaps]
            measured = float(weights @ np.array(gap_log))
            theory = float(weights @ np.array(gap_log_theory))
            half = Z_BOUND * model.difference.sd(weights) / root_seeds + abs(
                model.difference.jensen(weights)
            )
            gap_slope = (measured, theory, half)
            asymptote = -1.0 / (analysis.xi_c or math.inf)
            claims.append(
                Claim(
                    SCHOENHOLZ,
                    f"sigma_w^2 = {sigma_w2:g} ({phase}): slope of ln(1 - c) over layers "
                    f"{first}-{depth} (asymptotically -1/xi_c = {asymptote:.4f})",
                    measured,
                    theory,
                    theory - half,
                    theory + half,
                    f"{Z_BOUND} sd of the noise model's pair walk / sqrt({seeds}) + Jensen",
                )
            )
            xi_measured = -1.0 / measured if measured < 0 else math.inf
        else:
            xi_measured = _fit_scale(cosine, c_star, first, noise)
        scales.append(
            DepthScale(
                sigma_w2,
                analysis,
                window,
                [float(v) for v in grad_log],
                theory_grad,
                (grad_measured, grad_theory, grad_half),
                start,
                [float(v) for v in cosine],
                list(cosine_theory),
                cosine_bands,
                gap_log,
                gap_log_theory,
                gap_slope,
                xi_measured,
            )
        )
    return Schoenholz2017(sigma_b2, depth, width, batch, pairs, seeds, scales, claims)


# --- checking the noise model against seeds ------------------------------------------------


@dataclass(frozen=True)
class CalibrationRow:
    case: str
    statistic: str
    model_sd: float  # the noise model's prediction
    observed_sd: float  # sample sd over the seeds
    interval: tuple[float, float]  # 95% chi-square interval of the true sd given observed


CALIBRATION_CASES: tuple[tuple[str, str, str, str | None, int, int, int], ...] = (
    # (label, activation, init, bias init, depth, width, batch)
    ("relu, He", "relu", "he_normal", None, 30, 128, 32),
    ("tanh, standard", "tanh", "torch_default", None, 6, 256, 64),
    ("tanh, sigma_w^2 = 1.5", "tanh", tanh_init(1.5), tanh_bias(0.05), 30, 128, 32),
    ("tanh, sigma_w^2 = 3", "tanh", tanh_init(3.0), tanh_bias(0.05), 30, 128, 32),
    ("selu, LeCun", "selu", "lecun_normal", None, 30, 128, 32),
)


def calibrate_noise_model(seeds: int = 30) -> list[CalibrationRow]:
    """The :class:`NoiseModel`'s sd of ln Var z (layers 1, L/2, L) and ln Var dL/dz
    (layers 1, L/2) against the sample sd over ``seeds`` independent runs."""
    from scipy.special import chdtri

    low_q, high_q = chdtri(seeds - 1, 0.975), chdtri(seeds - 1, 0.025)
    rows: list[CalibrationRow] = []
    for label, activation, init, bias, depth, width, batch in CALIBRATION_CASES:
        spec = dense_stack_spec(depth, width, activation, batch, init)
        model = noise_model(build_network(spec, init=init, bias_init=bias), batch)
        runs = [
            run_experiment(spec, RunOptions(seed=s, bias_init=bias, keep_samples=False))
            for s in range(seeds)
        ]
        pre = np.log([[layer.preact_var for layer in run.layers] for run in runs])
        grad = np.log([[float(layer.grad_var or math.nan) for layer in run.layers] for run in runs])
        middle = depth // 2
        checks = [
            (f"ln Var z, layer {k + 1}", pre[:, k], model.forward.layer_sds()[k])
            for k in (0, middle - 1, depth - 1)
        ] + [
            (f"ln Var dL/dz, layer {k + 1}", grad[:, k], model.backward.layer_sds()[k])
            for k in (0, middle - 1)
        ]
        for name, values, predicted in checks:
            observed = float(np.std(values, ddof=1))
            interval = (
                observed * math.sqrt((seeds - 1) / high_q),
                observed * math.sqrt((seeds - 1) / low_q),
            )
            rows.append(CalibrationRow(label, name, predicted, observed, interval))
    return rows


# --- sizes ------------------------------------------------------------------------------------

# What docs/reproductions.md shows (FULL) and what the tests and `reproduce.py --quick` run.
FULL: dict[str, dict[str, Any]] = {
    "he2015": {"depth": 30, "width": 256, "batch": 256},
    "glorot2010": {"batch": None},
    "saxe2014": {"depth": 100, "width": 64, "seeds": 200},
    "klambauer2017": {"depth": 32, "width": 512, "batch": 256},
    "schoenholz2017": {"depth": 60, "width": 512, "batch": 16, "pairs": 16, "seeds": 4},
    "calibration": {"seeds": 30},
}
QUICK: dict[str, dict[str, Any]] = {
    "he2015": {"depth": 30, "width": 128, "batch": 32},
    "glorot2010": {"batch": 64},
    "saxe2014": {"depth": 50, "width": 32, "seeds": 80},
    "klambauer2017": {"depth": 32, "width": 256, "batch": 64},
    "schoenholz2017": {
        "sigma_w2s": (1.0, 1.5, 2.5, 4.0),
        "depth": 40,
        "width": 256,
        "batch": 16,
        "pairs": 16,
        "seeds": 2,
    },
    "calibration": {"seeds": 10},
}
