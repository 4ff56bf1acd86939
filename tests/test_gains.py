"""Gains: PyTorch's calculate_gain, the variance-preserving gain, moments, ``initcli gain``."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import integrate, special

from initcli.activations import Activation, list_activations, resolve_activation
from initcli.errors import InitcliError
from initcli.gains import (
    TORCH_GAIN_NAMES,
    derivative_second_moment,
    first_moment,
    second_moment,
    torch_gain,
    torch_gain_of,
    variance_gain,
)

VARIANTS = [
    *(activation.spec for activation in list_activations()),
    "leaky_relu(negative_slope=0.2)",
    "leaky_relu(negative_slope=3)",
    "elu(alpha=0.5)",
    "gelu(approximate=tanh)",
    "softplus(beta=2.5)",
    "hard_tanh(min_val=-0.5, max_val=2)",
]


def act(spec: str) -> Activation:
    return resolve_activation(spec)


# --- PyTorch's table -------------------------------------------------------------------------


@pytest.mark.parametrize("name", TORCH_GAIN_NAMES)
def test_torch_gain_equals_calculate_gain(name: str) -> None:
    torch = pytest.importorskip("torch")
    assert torch_gain(name) == torch.nn.init.calculate_gain(name)


@pytest.mark.parametrize("slope", [None, 0, 0.01, 0.2, 1, 3.5, -0.5, -2])
def test_torch_gain_leaky_relu_param(slope: float | None) -> None:
    torch = pytest.importorskip("torch")
    assert torch_gain("leaky_relu", slope) == torch.nn.init.calculate_gain("leaky_relu", slope)


def test_torch_gain_refuses_what_pytorch_refuses() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain("gelu")
    with pytest.raises(InitcliError, match="no gain for 'gelu'"):
        torch_gain("gelu")


@pytest.mark.parametrize("spec", VARIANTS)
def test_torch_gain_of_each_activation(spec: str) -> None:
    torch = pytest.importorskip("torch")
    activation = act(spec)
    if activation.torch_gain_name is None:
        assert torch_gain_of(activation) is None
        return
    expected = torch.nn.init.calculate_gain(activation.torch_gain_name, activation.torch_gain_param)
    assert torch_gain_of(activation) == expected


# --- the variance-preserving gain --------------------------------------------------------------


def quad_expectation(func: Callable[[float], float], kinks: tuple[float, ...], q: float) -> float:
    """E[func(sqrt(q) z)] by scipy's adaptive QUADPACK, split at the kinks: an independent check."""
    scale = math.sqrt(q)
    edges = [-math.inf, *sorted(k / scale for k in kinks), math.inf]
    total = 0.0
    for left, right in itertools.pairwise(edges):
        value, _ = integrate.quad(
            lambda z: func(scale * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
            left,
            right,
            epsabs=1e-14,
            epsrel=1e-12,
            limit=200,
        )
        total += value
    return total


def scalar(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[float], float]:
    return lambda x: float(fn(np.array([x]))[0])


@pytest.mark.parametrize("spec", VARIANTS)
def test_variance_gain_matches_adaptive_quadrature(spec: str) -> None:
    activation = act(spec)
    phi = scalar(activation.forward)
    second = quad_expectation(lambda x: phi(x) ** 2, activation.kinks, 1.0)
    assert variance_gain(activation) == pytest.approx(1 / math.sqrt(second), rel=1e-9)


def hard_tanh_second_moment(low: float, high: float) -> float:
    # int_l^h z^2 phi = [Phi(z) - z phi(z)]_l^h, plus l^2 P(z < l) + h^2 P(z > h)
    def antiderivative(z: float) -> float:
        return special.ndtr(z) - z * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    inside = antiderivative(high) - antiderivative(low)
    return inside + low**2 * special.ndtr(low) + high**2 * special.ndtr(-high)


def elu_second_moment(alpha: float) -> float:
    # 1/2 + alpha^2 E[(e^z - 1)^2; z < 0], with E[e^{tz}; z < 0] = e^{t^2/2} Phi(-t)
    tail = math.exp(2) * special.ndtr(-2) - 2 * math.exp(0.5) * special.ndtr(-1) + 0.5
    return 0.5 + alpha**2 * tail


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("linear", 1.0),
        ("relu", math.sqrt(2)),
        ("leaky_relu", math.sqrt(2 / (1 + 0.01**2))),
        ("leaky_relu(negative_slope=0.2)", math.sqrt(2 / 1.04)),
        ("leaky_relu(negative_slope=3)", math.sqrt(2 / 10)),
        ("selu", 1.0),  # Klambauer's fixed point: mean 0, variance 1 in -> E[selu(z)^2] = 1
        ("hard_tanh", 1 / math.sqrt(hard_tanh_second_moment(-1, 1))),
        ("hard_tanh(min_val=-0.5, max_val=2)", 1 / math.sqrt(hard_tanh_second_moment(-0.5, 2))),
        ("elu", 1 / math.sqrt(elu_second_moment(1.0))),
        ("elu(alpha=0.5)", 1 / math.sqrt(elu_second_moment(0.5))),
    ],
)
def test_variance_gain_closed_forms(spec: str, expected: float) -> None:
    assert variance_gain(act(spec)) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    ("spec", "reference"),
    [("tanh", 1.5925), ("gelu", 1.5335), ("silu", 1.6765), ("mish", 1.4868)],
)
def test_variance_gain_reference_values(spec: str, reference: float) -> None:
    assert variance_gain(act(spec)) == pytest.approx(reference, abs=5e-5)  # REFERENCE.md: 4 dp


@pytest.mark.parametrize("q", [0.25, 1.0, 4.0])
def test_moments_closed_forms(q: float) -> None:
    relu, linear, sigmoid = act("relu"), act("linear"), act("sigmoid")
    assert second_moment(relu, q) == pytest.approx(q / 2, rel=1e-12)
    assert first_moment(relu, q) == pytest.approx(math.sqrt(q / (2 * math.pi)), rel=1e-12)
    assert derivative_second_moment(relu, q) == pytest.approx(0.5, rel=1e-12)
    assert second_moment(linear, q) == pytest.approx(q, rel=1e-12)
    assert first_moment(sigmoid, q) == pytest.approx(0.5, rel=1e-12)  # sigmoid(-z) = 1 - sigmoid(z)
    assert second_moment(relu, 0.0) == 0.0


@pytest.mark.parametrize("spec", VARIANTS)
@pytest.mark.parametrize("q", [0.3, 2.0])
def test_moments_match_adaptive_quadrature(spec: str, q: float) -> None:
    activation = act(spec)
    phi, slope = scalar(activation.forward), scalar(activation.derivative)
    kinks = activation.kinks
    assert first_moment(activation, q) == pytest.approx(
        quad_expectation(phi, kinks, q), rel=1e-9, abs=1e-12
    )
    assert derivative_second_moment(activation, q) == pytest.approx(
        quad_expectation(lambda x: slope(x) ** 2, kinks, q), rel=1e-9
    )


# --- initcli gain ------------------------------------------------------------------------------


def gain_json(cli: Callable[..., Any], *args: str) -> dict[str, Any]:
    result = cli("gain", *args, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert list(data) == ["activation", "param", "torch_gain", "variance_gain"]
    return data


def test_gain_json_tanh(cli: Callable[..., Any]) -> None:
    data = gain_json(cli, "tanh")
    assert data["activation"] == "tanh" and data["param"] is None
    assert data["torch_gain"] == 5 / 3
    assert data["variance_gain"] == pytest.approx(1.5925374, rel=1e-7)


def test_gain_json_without_pytorch_gain(cli: Callable[..., Any]) -> None:
    data = gain_json(cli, "gelu")
    assert data["torch_gain"] is None
    assert data["variance_gain"] == pytest.approx(1.5335, abs=5e-5)


def test_gain_param_is_pytorchs_shorthand(cli: Callable[..., Any]) -> None:
    by_flag = gain_json(cli, "leaky_relu", "--param", "0.2")
    by_spec = gain_json(cli, "leaky_relu(negative_slope=0.2)")
    assert by_flag == by_spec
    assert by_flag["param"] == 0.2
    assert by_flag["torch_gain"] == by_flag["variance_gain"] == pytest.approx(math.sqrt(2 / 1.04))
    assert gain_json(cli, "leaky_relu")["param"] == 0.01
    # a negative slope, as torch's calculate_gain('leaky_relu', -0.5) takes it
    negative = gain_json(cli, "leaky_relu", "--param", "-0.5")
    assert negative["param"] == -0.5
    assert negative["torch_gain"] == pytest.approx(math.sqrt(2 / 1.25), rel=1e-15)
    assert negative["variance_gain"] == pytest.approx(math.sqrt(2 / 1.25), rel=1e-12)
    elu = gain_json(cli, "elu", "--param", "0.5")
    assert elu["activation"] == "elu(alpha=0.5)" and elu["torch_gain"] is None
    assert elu["variance_gain"] == pytest.approx(1 / math.sqrt(elu_second_moment(0.5)))


def test_gain_text_explains_the_difference(cli: Callable[..., Any]) -> None:
    result = cli("gain", "tanh")
    assert result.code == 0
    out = result.out
    assert "1.666666667" in out and "1.59253742" in out
    assert "E[phi(z)^2]" in out  # not eaten as rich markup
    assert "4.4% lower" in out and "VarianceScaling(scale=2.5362" in out
    selu = cli("gain", "selu").out
    assert "PR #50664" in selu and "33.3% higher" in selu
    relu = cli("gain", "relu").out
    assert "calculate_gain is the variance-preserving gain" in relu


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["relux"], ["'relux'", "did you mean relu?"]),
        (["relu", "--param", "0.2"], ["--param 0.2", "relu has no parameter"]),
        (["hard_tanh", "--param", "2"], ["hard_tanh(min_val=..., max_val=...)"]),
        (["leaky_relu", "--param", "nan"], ["negative_slope=nan"]),
        (["leaky_relu(negative_slope=0.1)", "--param", "0.3"], ["already set"]),
        (["tanh", "--param", "abc"], ["--param"]),
    ],
)
def test_gain_bad_input(cli: Callable[..., Any], args: list[str], words: list[str]) -> None:
    result = cli("gain", *args)
    assert result.code == 2
    assert result.out == ""
    err = result.err
    assert err.count("\n") == 1 and err.startswith("initcli: error: ")
    for word in words:
        assert word in err


@pytest.mark.parametrize("layer", ["conv1d", "conv2d", "conv3d", "conv_transpose2d"])
def test_gain_of_a_layer_name_is_calculate_gains_one(cli: Callable[..., Any], layer: str) -> None:
    torch = pytest.importorskip("torch")
    assert gain_json(cli, layer)["torch_gain"] == torch.nn.init.calculate_gain(layer) == 1.0
    assert gain_json(cli, layer)["variance_gain"] == 1.0
    refused = cli("gain", layer, "--param", "0.2")
    assert refused.code == 2 and "has no parameter" in refused.err


@pytest.mark.parametrize(
    "args",
    [
        ("gain", "leaky_relu", "--param", "2e154"),
        ("sample", "glorot_uniform(gain=2e154)", "--shape", "3,4"),
        ("sample", "torch.kaiming_normal(a=2e154)", "--shape", "3,4"),
        ("sample", "tf1.uniform_unit_scaling(factor=2e154)", "--shape", "3,4"),
        ("recommend", "--activation", "leaky_relu(negative_slope=2e154)", "--no-check"),
    ],
)
def test_a_parameter_whose_square_overflows_is_one_line(
    cli: Callable[..., Any], args: tuple[str, ...]
) -> None:
    """torch's calculate_gain raises OverflowError here; initcli says which value, once."""
    result = cli(*args)
    assert result.code == 2
    assert "2e+154" in result.err and "overflows" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_gain_refuses_an_activation_whose_second_moment_overflows(
    cli: Callable[..., Any],
) -> None:
    result = cli("gain", "elu(alpha=1e200)")
    assert result.code == 2 and "E[phi(z)^2] overflows float64" in result.err
    assert len(result.err.strip().splitlines()) == 1
