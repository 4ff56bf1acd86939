"""Klambauer et al. 2017: selu self-normalizes towards mean 0, variance 1."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from initcli.experiment import dense_stack_spec
from initcli.moments import moments
from initcli.network import build_network
from initcli.network_theory import predict_network
from initcli.propagate import ForwardStep, propagate, sample_parameters
from reproductions.common import Z_BOUND, Claim
from reproductions.noise import noise_model

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
