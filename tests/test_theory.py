"""Mean-field theory: closed forms, Monte-Carlo checks, the registry, and the two commands."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from initcli import theory as T
from initcli.activations import list_activations, resolve_activation
from initcli.commands.phase import figure_name, parse_range
from initcli.errors import InitcliError

ACTIVATIONS = list_activations()
IDS = [a.spec for a in ACTIVATIONS]

RELU = T.Nonlinearity(lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float), (0.0,))
LINEAR = T.Nonlinearity(lambda z: np.array(z, dtype=float), lambda z: np.ones_like(z))
TANH = T.Nonlinearity(np.tanh, lambda z: 1.0 - np.tanh(z) ** 2)

K_SIGMA = 5.0  # Monte-Carlo bounds: |estimate - theory| <= 5 standard errors


def mc_bound(samples: np.ndarray) -> float:
    return K_SIGMA * float(samples.std(ddof=1)) / math.sqrt(samples.size)


# --- closed forms -----------------------------------------------------------------------------


@pytest.mark.parametrize("relu", [RELU, resolve_activation("relu")], ids=["lambda", "registry"])
@pytest.mark.parametrize("q", [1e-6, 0.3, 1.0, 7.5, 1e4])
def test_relu_second_moment_is_half_q(relu: T.ActivationLike, q: float) -> None:
    assert T.second_moment(relu, q) == pytest.approx(q / 2, rel=1e-13)
    assert T.derivative_second_moment(relu, q) == pytest.approx(0.5, rel=1e-13)


def test_relu_he_keeps_q_and_glorot_halves_it() -> None:
    for q in (0.5, 2.0, 9.0):
        assert T.variance_map(RELU, q, 2.0, 0.0) == pytest.approx(q, rel=1e-13)  # He
        assert T.variance_map(RELU, q, 1.0, 0.0) == pytest.approx(q / 2, rel=1e-13)  # Glorot
    for sigma_w2 in (0.5, 1.0, 2.0, 3.0):
        assert T.chi_1(RELU, 1.3, sigma_w2) == pytest.approx(sigma_w2 / 2, rel=1e-13)


def test_relu_he_stack_is_flat_forward_and_backward() -> None:
    layers = T.predict_stack([T.dense_layer(RELU, 500, 500, 2.0 / 500)] * 30)
    assert [p.preact_var for p in layers] == pytest.approx([2.0] * 30, rel=1e-12)
    assert [p.grad_var for p in layers] == pytest.approx([0.5] * 30, rel=1e-12)
    he = T.analyse(RELU, 2.0, 0.0, depth=3)
    assert he.q_star == pytest.approx(2.0) and he.chi_1 == pytest.approx(1.0)
    assert he.phase == "critical" and math.isinf(he.xi_q or 0) and math.isinf(he.xi_c or 0)


def test_relu_glorot_halves_per_layer() -> None:
    layers = T.predict_stack([T.dense_layer(RELU, 256, 256, 1.0 / 256)] * 10)
    ratios = [b.preact_var / a.preact_var for a, b in itertools.pairwise(layers)]
    assert ratios == pytest.approx([0.5] * 9, rel=1e-12)
    result = T.analyse(RELU, 1.0, 0.0)
    assert result.q_star == 0.0 and result.chi_1 == pytest.approx(0.5) and result.phase == "ordered"


def test_relu_with_bias_has_the_linear_fixed_point() -> None:
    # q = 0.75 q + 0.1 -> q* = 0.4, slope 0.75 so xi_q = xi_c = -1/ln(0.75)
    result = T.analyse(RELU, 1.5, 0.1)
    assert result.q_star == pytest.approx(0.4, rel=1e-12)
    assert result.xi_q == pytest.approx(-1 / math.log(0.75), rel=1e-10)
    assert result.xi_c == pytest.approx(-1 / math.log(0.75), rel=1e-10)
    assert result.c_star == 1.0 and result.chi_c == result.chi_1


def test_linear_maps_and_stack() -> None:
    for q, sigma_w2, sigma_b2 in ((0.7, 1.3, 0.1), (2.0, 0.5, 0.0)):
        assert T.variance_map(LINEAR, q, sigma_w2, sigma_b2) == pytest.approx(
            sigma_w2 * q + sigma_b2, rel=1e-13
        )
    # rectangular stack 10 -> 20 -> 40 -> 5, Var(W) = 1/n_in: forward sigma_w^2 = 1,
    # backward fan_out / fan_in.
    sizes = [10, 20, 40, 5]
    layers = [
        T.dense_layer(LINEAR, n_in, n_out, 1.0 / n_in, bias_var=0.1)
        for n_in, n_out in itertools.pairwise(sizes)
    ]
    predictions = T.predict_stack(layers)
    assert [p.preact_var for p in predictions] == pytest.approx([1.1, 1.2, 1.3], rel=1e-13)
    # dL/dz_3 = G; dL/dz_2 = 5 * (1/40) * 1; dL/dz_1 = 40 * (1/20) * 5/40
    assert [p.grad_var for p in predictions] == pytest.approx([0.25, 0.125, 1.0], rel=1e-13)
    before = [1.0, 1.1, 1.2]  # E[a_{l-1}^2]: the input, then the previous q
    assert [p.weight_grad_var_per_example for p in predictions] == pytest.approx(
        [b * p.grad_var for b, p in zip(before, predictions, strict=True)], rel=1e-13
    )


def test_constant_bias_shifts_the_mean() -> None:
    # linear, bias b: z ~ N(b, q), next layer's input second moment is q + b^2.
    layers = [T.dense_layer(LINEAR, 100, 100, 0.01, bias_mean=0.5)] * 2
    first, second = T.predict_stack(layers)
    assert first.preact_mean == 0.5 and first.preact_var == pytest.approx(1.0)
    assert first.act_mean == pytest.approx(0.5) and first.act_var == pytest.approx(1.0)
    assert second.preact_var == pytest.approx(1.25, rel=1e-13)


def test_nonzero_weight_mean_is_noted() -> None:
    (prediction,) = T.predict_stack([T.dense_layer(TANH, 4, 4, 0.25, weight_mean=1.0)])
    assert prediction.note is not None and "zero-mean" in prediction.note


def test_conv_fans() -> None:
    layer = T.conv_layer(RELU, 16, 32, (3, 3), (2, 2), weight_var=0.01)
    assert layer.sigma_w2 == pytest.approx(16 * 9 * 0.01)
    assert layer.sigma_w2_back == pytest.approx(32 * 9 / 4 * 0.01)
    assert T.predict_stack([layer])[0].weight_grad_var_per_example is None


# --- tanh: the critical point and the phase diagram ---------------------------------------


@pytest.mark.parametrize("tanh", [TANH, resolve_activation("tanh")], ids=["lambda", "registry"])
def test_tanh_is_critical_at_sigma_w2_one_without_bias(tanh: T.ActivationLike) -> None:
    result = T.analyse(tanh, 1.0, 0.0, depth=50)
    assert result.q_star == 0.0
    assert result.chi_1 == pytest.approx(1.0, abs=1e-12)
    assert result.phase == "critical"
    assert result.xi_q == math.inf and result.xi_c == math.inf
    variances = [p.preact_var for p in result.layers]
    assert all(b < a for a, b in itertools.pairwise(variances))  # decays slowly
    assert variances[-1] > 0.01  # a power law, not exponential


def test_tanh_schoenholz_critical_point() -> None:
    # Schoenholz et al. 2017, figure 1: at sigma_b^2 = 0.05 the critical line passes
    # sigma_w^2 ~ 1.76.
    result = T.analyse(TANH, 1.76, 0.05, depth=1)
    assert abs(result.chi_1 - 1.0) < 2e-3
    diagram = T.phase_diagram(TANH, np.linspace(1.5, 2.0, 51), [0.0, 0.05])
    assert diagram.critical_sigma_w2()[1] == pytest.approx(1.76, abs=0.01)


def test_tanh_chaotic_phase_correlation_fixed_point() -> None:
    result = T.analyse(TANH, 2.5, 0.1, depth=1)
    assert result.phase == "chaotic"
    assert result.c_star is not None and 0.0 < result.c_star < 1.0
    assert result.chi_c is not None and result.chi_c < 1.0  # c* is stable
    mapped = T.correlation_map(TANH, result.c_star, result.q_star, 2.5, 0.1)
    assert mapped == pytest.approx(result.c_star, abs=1e-9)
    assert result.xi_c == pytest.approx(-1 / math.log(result.chi_c))


def test_odd_activation_without_bias_decorrelates_fully() -> None:
    result = T.analyse(TANH, 2.5, 0.0, depth=1)
    assert result.c_star == pytest.approx(0.0, abs=1e-9)


def test_classify_boundaries() -> None:
    assert T.classify(1.0 - 2 * T.CRITICAL_TOLERANCE) == "ordered"
    assert T.classify(1.0 + T.CRITICAL_TOLERANCE / 2) == "critical"
    assert T.classify(1.0 + 2 * T.CRITICAL_TOLERANCE) == "chaotic"


def test_divergent_variance_is_reported() -> None:
    result = T.analyse(RELU, 2.5, 0.0, depth=3)
    assert result.diverges and result.q_star == math.inf
    assert result.chi_1 == pytest.approx(1.25) and result.xi_q is None and result.xi_c is None


# --- the whole registry ---------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize(("sigma_w2", "sigma_b2"), [(0.8, 0.05), (1.5, 0.1), (3.0, 0.02)])
def test_fixed_point_satisfies_the_map(
    activation: T.ActivationLike, sigma_w2: float, sigma_b2: float
) -> None:
    q_star = T.fixed_point(activation, sigma_w2, sigma_b2, sigma_w2 + sigma_b2)
    if math.isinf(q_star):  # diverges: the map keeps growing q
        assert T.variance_map(activation, T.Q_MAX, sigma_w2, sigma_b2) > T.Q_MAX
        return
    mapped = T.variance_map(activation, q_star, sigma_w2, sigma_b2)
    assert mapped == pytest.approx(q_star, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=IDS)
def test_variance_slope_is_the_derivative_of_the_map(activation: T.ActivationLike) -> None:
    q, step = 0.7, 1e-5
    numeric = (
        T.variance_map(activation, q + step, 1.3, 0.0)
        - T.variance_map(activation, q - step, 1.3, 0.0)
    ) / (2 * step)
    assert T.variance_map_slope(activation, q, 1.3) == pytest.approx(numeric, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=IDS)
def test_correlation_map_at_one(activation: T.ActivationLike) -> None:
    # sigma_w^2 = 0.8 < 1 keeps q* finite and positive for every registered activation.
    q_star = T.fixed_point(activation, 0.8, 0.05, 0.85)
    assert 0 < q_star < math.inf
    assert T.correlation_map(activation, 1.0, q_star, 0.8, 0.05) == pytest.approx(1.0, rel=1e-9)
    assert T.chi_c(activation, 1.0, q_star, 0.8) == pytest.approx(
        T.chi_1(activation, q_star, 0.8), rel=1e-12
    )


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=IDS)
def test_phase_diagram_agrees_with_the_scalar_path(activation: T.ActivationLike) -> None:
    sigma_w2, sigma_b2 = np.array([0.7, 1.6, 3.1]), np.array([0.0, 0.2])
    diagram = T.phase_diagram(activation, sigma_w2, sigma_b2)
    for row, bias in enumerate(sigma_b2):
        for column, weight in enumerate(sigma_w2):
            q_star = T.fixed_point(activation, weight, bias, weight + bias)
            if q_star == 0.0 or math.isinf(q_star):
                assert diagram.q_star[row, column] == q_star
                continue
            assert diagram.q_star[row, column] == pytest.approx(q_star, rel=1e-6)
            chi = T.chi_1(activation, q_star, weight)
            assert diagram.chi_1[row, column] == pytest.approx(chi, rel=1e-6)


# --- Monte Carlo ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tanh", "gelu", "selu", "hard_tanh"])
def test_variance_map_matches_monte_carlo(name: str) -> None:
    activation = resolve_activation(name)
    q, sigma_w2, sigma_b2 = 1.7, 1.4, 0.05
    z = np.random.default_rng(7).standard_normal(400_000) * math.sqrt(q)
    squares = sigma_w2 * activation.forward(z) ** 2 + sigma_b2
    estimate = float(squares.mean())
    assert abs(estimate - T.variance_map(activation, q, sigma_w2, sigma_b2)) <= mc_bound(squares)
    slopes = sigma_w2 * activation.derivative(z) ** 2
    assert abs(float(slopes.mean()) - T.chi_1(activation, q, sigma_w2)) <= mc_bound(slopes)


@pytest.mark.parametrize("name", ["tanh", "relu"])
@pytest.mark.parametrize("c", [-0.6, 0.3, 0.9])
def test_pair_expectation_matches_monte_carlo(name: str, c: float) -> None:
    activation = resolve_activation(name)
    q = 1.3
    rng = np.random.default_rng(11)
    z1, z2 = rng.standard_normal((2, 400_000))
    u1 = math.sqrt(q) * z1
    u2 = math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
    for func in (activation.forward, activation.derivative):
        products = func(u1) * func(u2)
        exact = T.pair_expectation(func, func, q, c, activation.kinks)
        assert abs(float(products.mean()) - exact) <= mc_bound(products)


@pytest.mark.parametrize("c", [-0.9, 0.0, 0.5, 0.999, 1 - 1e-7])
def test_relu_pair_expectation_is_the_arccos_kernel(c: float) -> None:
    # Cho & Saul 2009: E[relu(u1) relu(u2)] = q/(2 pi) (sqrt(1-c^2) + (pi - arccos c) c),
    # E[relu'(u1) relu'(u2)] = (pi - arccos c) / (2 pi).
    q = 2.0
    angle = math.pi - math.acos(c)
    forward = T.pair_expectation(RELU.forward, RELU.forward, q, c, (0.0,))
    backward = T.pair_expectation(RELU.derivative, RELU.derivative, q, c, (0.0,))
    assert forward == pytest.approx(q / (2 * math.pi) * (math.sqrt(1 - c * c) + angle * c))
    assert backward == pytest.approx(angle / (2 * math.pi), rel=1e-12)


def _simulate(
    activation: T.ActivationLike,
    sigma_w2: float,
    sigma_b2: float,
    width: int,
    depth: int,
    batch: int,
    rng: np.random.Generator,
) -> tuple[list[float], list[float]]:
    """One wide dense network: measured Var(z_l) and Var(dL/dz_l), dL/d(output) ~ N(0, 1)."""
    a = rng.standard_normal((batch, width))
    weights, slopes, preact = [], [], []
    for _ in range(depth):
        weight = rng.normal(0.0, math.sqrt(sigma_w2 / width), (width, width))
        bias = rng.normal(0.0, math.sqrt(sigma_b2), width)
        z = a @ weight.T + bias
        weights.append(weight)
        slopes.append(activation.derivative(z))
        preact.append(float(z.var()))
        a = activation.forward(z)
    grad = rng.standard_normal((batch, width)) * slopes[-1]
    grads = [float(grad.var())]
    for layer in range(depth - 1, 0, -1):
        grad = (grad @ weights[layer]) * slopes[layer - 1]
        grads.insert(0, float(grad.var()))
    return preact, grads


@pytest.mark.parametrize("name", ["tanh", "relu"])
def test_wide_network_matches_the_stack_prediction(name: str) -> None:
    activation = resolve_activation(name)
    width, depth, batch, repeats = 256, 4, 128, 6
    sigma_w2, sigma_b2 = 1.5, 0.05
    rng = np.random.default_rng(3)
    runs = [
        _simulate(activation, sigma_w2, sigma_b2, width, depth, batch, rng) for _ in range(repeats)
    ]
    layers = [T.dense_layer(activation, width, width, sigma_w2 / width, bias_var=sigma_b2)] * depth
    predicted = T.predict_stack(layers)
    for kind, position in (("preact_var", 0), ("grad_var", 1)):
        measured = np.array([run[position] for run in runs])  # (repeats, depth)
        standard_error = measured.std(axis=0, ddof=1) / math.sqrt(repeats)
        theory = np.array([getattr(p, kind) for p in predicted])
        # K_SIGMA standard errors across independent networks, plus the O(1/width)
        # finite-width (Jensen) bias of the mean-field limit.
        allowed = K_SIGMA * standard_error + 3.0 / width * theory
        assert np.all(np.abs(measured.mean(axis=0) - theory) <= allowed), (kind, measured, theory)


def _conv1d_input_grad(
    weight: np.ndarray, grad_out: np.ndarray, stride: int, length: int
) -> np.ndarray:
    """dL/dx of a valid, strided 1-D cross-correlation z[b,o,t] = sum W[o,c,i] x[b,c,t*s+i]."""
    batch, _, outputs = grad_out.shape
    grad = np.zeros((batch, weight.shape[1], length))
    for tap in range(weight.shape[2]):
        stop = tap + stride * (outputs - 1) + 1
        grad[:, :, tap:stop:stride] += np.einsum("oc,bot->bct", weight[:, :, tap], grad_out)
    return grad


@pytest.mark.parametrize(("kernel", "stride"), [(3, 1), (3, 2), (1, 2), (5, 3)])
def test_conv_backward_fan(kernel: int, stride: int) -> None:
    in_channels, out_channels, length, batch, weight_var = 8, 16, 3000, 4, 0.02
    layer = T.conv_layer(LINEAR, in_channels, out_channels, (kernel,), (stride,), weight_var)
    outputs = (length - kernel) // stride + 1
    rng = np.random.default_rng(5)
    measured = []
    for _ in range(6):
        weight = rng.normal(0.0, math.sqrt(weight_var), (out_channels, in_channels, kernel))
        grad_out = rng.standard_normal((batch, out_channels, outputs))
        measured.append(float(_conv1d_input_grad(weight, grad_out, stride, length).var()))
    values = np.array(measured)
    # Positions at the right border feed fewer outputs: at most a kernel / length share.
    allowed = K_SIGMA * values.std(ddof=1) / math.sqrt(values.size) + kernel / length
    assert abs(values.mean() - layer.sigma_w2_back) <= allowed * max(1.0, layer.sigma_w2_back)


# --- CLI -------------------------------------------------------------------------------------

Cli = Callable[..., Any]


def test_theory_json_glorot_tanh(cli: Cli) -> None:
    result = cli("theory", "--activation", "tanh", "--init", "glorot_normal", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["sigma_w2"] == pytest.approx(1.0) and data["sigma_b2"] == 0.0
    assert data["q_star"] == 0.0 and data["phase"] == "critical"
    assert data["chi_1"] == pytest.approx(1.0, abs=1e-9)
    assert data["xi_q"] is None and data["xi_c"] is None and data["q_diverges"] is False
    assert [layer["index"] for layer in data["layers"]] == list(range(1, 11))
    assert set(data["layers"][0]) >= {"index", "preact_var", "grad_var"}


def test_theory_he_relu_and_sigma_w2_flag(cli: Cli) -> None:
    he = json.loads(cli("theory", "-a", "relu", "--init", "he_normal", "--json").out)
    assert he["chi_1"] == pytest.approx(1.0) and he["phase"] == "critical"
    given = cli("theory", "-a", "tanh", "--sigma-w2", "2.5", "--bias-std", "0.3", "--depth", "3")
    assert given.code == 0 and "chaotic" in given.out
    diverging = cli("theory", "-a", "relu", "--sigma-w2", "2.5")
    assert diverging.code == 0 and "none (diverges)" in diverging.out


@pytest.mark.parametrize(
    "args",
    [
        ("-a", "tanhh"),
        ("-a", "tanh", "--bias-std", "-0.1"),
        ("-a", "tanh", "--bias-std", "nan"),
        ("-a", "tanh", "--init", "he_normal", "--sigma-w2", "2"),
        ("-a", "tanh", "--sigma-w2", "-1"),
        ("-a", "tanh", "--init", "nosuchinit"),
        ("-a", "tanh", "--depth", "0"),
    ],
)
def test_theory_bad_input_is_one_line_exit_2(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli("theory", *args)
    assert result.code == 2
    assert result.out == ""
    assert len(result.err.strip().splitlines()) == 1


def test_phase_writes_png_and_json(cli: Cli, tmp_path: Path) -> None:
    result = cli("phase", "-a", "tanh", "--out", str(tmp_path), "--grid", "40", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    png = data["figure"]
    with open(png, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert png.endswith("phase_tanh.png")
    assert np.array(data["chi_1"]).shape == (40, 40)
    line = {round(p["sigma_b2"], 6): p["sigma_w2"] for p in data["critical_line"]}
    assert line[0.0] == pytest.approx(1.0, abs=0.01)
    table = cli("phase", "-a", "relu", "--out", str(tmp_path), "--grid", "20")
    assert table.code == 0 and "wrote" in table.out


@pytest.mark.parametrize(
    "args",
    [
        ("-a", "nope"),
        ("-a", "tanh", "--sigma-w2", "4,1"),
        ("-a", "tanh", "--sigma-b2", "-1,1"),
        ("-a", "tanh", "--sigma-w2", "abc"),
        ("-a", "tanh", "--grid", "1"),
    ],
)
def test_phase_bad_input_is_one_line_exit_2(
    cli: Cli, args: tuple[str, ...], tmp_path: Path
) -> None:
    result = cli("phase", *args, "--out", str(tmp_path))
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1


def test_parse_range_and_figure_name() -> None:
    assert parse_range("1, 4", "--sigma-w2") == (1.0, 4.0)
    with pytest.raises(InitcliError, match="--sigma-b2"):
        parse_range("0.2,0.1", "--sigma-b2")
    assert (
        figure_name("leaky_relu(negative_slope=0.2)") == "phase_leaky_relu-negative_slope=0.2.png"
    )
