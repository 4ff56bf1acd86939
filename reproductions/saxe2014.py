"""Saxe et al. 2014: norms through deep linear nets, orthogonal against Gaussian."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from initcli.experiment import dense_stack_spec
from initcli.network import Network, build_network
from initcli.propagate import BackwardStep, ForwardStep, propagate, sample_parameters
from reproductions.common import Z_BOUND, Claim

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
