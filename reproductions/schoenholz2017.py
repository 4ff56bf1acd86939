"""Schoenholz et al. 2017: depth scales of correlations and gradients in tanh nets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from initcli.activations import Activation, resolve_activation
from initcli.experiment import RunOptions, dense_stack_spec, run_experiment
from initcli.network import Network, build_network
from initcli.propagate import ForwardStep, propagate, sample_parameters
from initcli.theory import MeanFieldAnalysis, analyse
from reproductions.common import Z_BOUND, Claim, slope_weights
from reproductions.noise import NODES, WEIGHTS, expect, noise_model

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
        z1 = NODES[:, None]
        u1 = root * z1
        u2 = root * (c * z1 + math.sqrt(gap * (2.0 - gap)) * NODES[None, :])
        half_square = float(WEIGHTS @ ((phi(u1) - phi(u2)) ** 2) @ WEIGHTS) / 2
        q_next = sigma_w2 * expect(lambda x: phi(x) ** 2, q) + sigma_b2
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
