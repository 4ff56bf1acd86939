"""Gains: PyTorch's ``calculate_gain`` table and the variance-preserving gain.

PyTorch: ``torch/nn/init.py::calculate_gain``. The variance-preserving gain and the Gaussian
moments below are computed by :func:`initcli.quadrature.gaussian_expectation`.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import numpy as np

from initcli.errors import EXIT_BAD_USAGE, InitcliError, did_you_mean
from initcli.quadrature import gaussian_expectation

if TYPE_CHECKING:
    from initcli.activations import Activation

# calculate_gain's layer names (torch/nn/init.py linear_fns): gain 1, the layer's linear map
TORCH_LAYER_NAMES = (
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)
# torch 2.13 has no "identity" entry (calculate_gain("identity") raises): neither do we.
_TORCH_UNIT_GAIN = ("linear", *TORCH_LAYER_NAMES, "sigmoid")
TORCH_GAIN_NAMES = (*_TORCH_UNIT_GAIN, "tanh", "relu", "leaky_relu", "selu")


SQUARE_LIMIT = math.sqrt(sys.float_info.max)  # 1.34e154: larger numbers square to inf


def torch_gain(nonlinearity: str, param: float | None = None) -> float:
    """``torch.nn.init.calculate_gain(nonlinearity, param)``, value for value.

    leaky_relu's ``param`` is the negative slope (default 0.01); selu's 3/4 is PyTorch's
    empirical choice (PR #50664), not a variance-preserving value.
    """
    name = nonlinearity.lower()
    if name in _TORCH_UNIT_GAIN:
        return 1.0
    if name == "tanh":
        return 5.0 / 3.0
    if name == "relu":
        return math.sqrt(2.0)
    if name == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        if not abs(slope) < SQUARE_LIMIT:  # torch raises OverflowError at slope ** 2
            raise InitcliError(
                f"leaky_relu's negative slope {param:g} is too large: its square overflows "
                "float64 (PyTorch's calculate_gain raises OverflowError there); keep it below "
                f"{SQUARE_LIMIT:.3g}",
                EXIT_BAD_USAGE,
            )
        return math.sqrt(2.0 / (1.0 + slope**2))
    if name == "selu":
        return 3.0 / 4.0
    raise InitcliError(
        f"PyTorch's calculate_gain has no gain for {nonlinearity!r}"
        f"{did_you_mean(nonlinearity, TORCH_GAIN_NAMES)}",
        EXIT_BAD_USAGE,
    )


def torch_gain_of(activation: Activation) -> float | None:
    """``calculate_gain`` for a resolved activation, or None where PyTorch has no entry."""
    if activation.torch_gain_name is None:
        return None
    return torch_gain(activation.torch_gain_name, activation.torch_gain_param)


# Gaussian moments of an activation, E over z ~ N(0, 1) of a function of sqrt(q) z: the
# quantities of mean-field theory (Poole et al. 2016; Schoenholz et al. 2017), where q is
# the pre-activation variance. Quadrature splits at the kinks, so relu-like and hard_tanh
# activations are as exact as smooth ones (~1e-12 relative).


def first_moment(activation: Activation, q: float = 1.0) -> float:
    """E[phi(sqrt(q) z)], z ~ N(0, 1)."""
    return gaussian_expectation(activation.forward, q, activation.kinks)


def second_moment(activation: Activation, q: float = 1.0) -> float:
    """E[phi(sqrt(q) z)^2], z ~ N(0, 1): the next layer's pre-activation variance per unit
    weight variance times fan_in (the "length map" of mean-field theory)."""

    def squared(x: np.ndarray) -> np.ndarray:
        out = activation.forward(x)
        return np.square(out, out=out)

    return gaussian_expectation(squared, q, activation.kinks)


def derivative_second_moment(activation: Activation, q: float = 1.0) -> float:
    """E[phi'(sqrt(q) z)^2], z ~ N(0, 1): the backward per-layer factor (chi_1 / sigma_w^2)."""

    def squared(x: np.ndarray) -> np.ndarray:
        out = activation.derivative(x)
        return np.square(out, out=out)

    return gaussian_expectation(squared, q, activation.kinks)


def variance_gain(activation: Activation) -> float:
    """1 / sqrt(E[phi(z)^2]), z ~ N(0, 1): the weight gain that keeps E[z^2] fixed layer to layer.

    With Var(W) = gain^2 / fan_in and unit-variance pre-activations z, the next layer's
    pre-activations have variance gain^2 E[phi(z)^2] = 1 (He et al. 2015's argument, for any
    phi). relu: sqrt(2); linear and selu: 1; tanh ~ 1.5925 (PyTorch uses 5/3).
    """
    with np.errstate(over="ignore"):  # a huge parameter: E[phi^2] = inf, refused below
        moment = second_moment(activation, 1.0)
    if not (math.isfinite(moment) and moment > 0):
        what = "overflows float64" if moment == math.inf else f"is {moment:g}"
        raise InitcliError(
            f"{activation.spec}: E[phi(z)^2] {what} for z ~ N(0, 1), so no gain keeps the "
            "variance at 1; give it smaller parameters",
            EXIT_BAD_USAGE,
        )
    return 1.0 / math.sqrt(moment)
