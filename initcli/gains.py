"""Gains: PyTorch's ``calculate_gain`` table and the variance-preserving gain.

PyTorch: ``torch/nn/init.py::calculate_gain``.
"""

from __future__ import annotations

import math

from initcli.errors import EXIT_BAD_USAGE, InitcliError, did_you_mean

_TORCH_UNIT_GAIN = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)
TORCH_GAIN_NAMES = (*_TORCH_UNIT_GAIN, "tanh", "relu", "leaky_relu", "selu")


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
        return math.sqrt(2.0 / (1.0 + slope**2))
    if name == "selu":
        return 3.0 / 4.0
    raise InitcliError(
        f"PyTorch's calculate_gain has no gain for {nonlinearity!r}"
        f"{did_you_mean(nonlinearity, TORCH_GAIN_NAMES)}",
        EXIT_BAD_USAGE,
    )
