"""`initcli compare` and `initcli recommend`: contracts, and the recommendations actually work."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from initcli.activations import resolve_activation
from initcli.gains import second_moment
from initcli.initializers import resolve_initializer


def test_compare_json_contract_and_plot(tmp_path: Path, cli: object) -> None:
    result = cli(  # type: ignore[operator]
        "compare",
        "xavier",
        "he",
        "--activation",
        "relu",
        "--depth",
        "6",
        "--width",
        "256",
        "--batch",
        "64",
        "--json",
        "--out",
        str(tmp_path),
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [run["init"] for run in data["runs"]] == ["xavier", "he"]
    for run in data["runs"]:
        assert {"init", "layers", "summary"} <= set(run)
        assert len(run["layers"]) == 6
        for layer in run["layers"]:
            assert {"preact_var", "grad_var", "theory_preact_var", "theory_grad_var"} <= set(layer)
    xavier, he = data["runs"]
    assert xavier["summary"]["forward"]["verdict"] == "vanishing"
    assert he["summary"]["forward"]["verdict"] == "stable"
    (plot,) = tmp_path.glob("compare_*.png")
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_compare_with_seeds_reports_spread(tmp_path: Path, cli: object) -> None:
    result = cli(  # type: ignore[operator]
        "compare",
        "he",
        "orthogonal(gain=1.4142135623730951)",
        "--depth",
        "4",
        "--width",
        "64",
        "--batch",
        "16",
        "--seeds",
        "3",
        "--json",
        "--no-plots",
    )
    assert result.code == 0, result.err
    for run in json.loads(result.out)["runs"]:
        for layer in run["layers"]:
            low, high = layer["spread"]["preact_var"]
            assert low <= layer["preact_var"] <= high
            assert low < high  # three different draws


def test_compare_refuses_a_bad_spec_before_any_work(tmp_path: Path, cli: object) -> None:
    result = cli("compare", "he", "xavierr", "--out", str(tmp_path / "o"))  # type: ignore[operator]
    assert result.code == 2
    assert "did you mean" in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("activation", "scale"),
    [("relu", 2.0), ("linear", 1.0), ("selu", 1.0), ("leaky_relu(negative_slope=0.2)", 2 / 1.04)],
)
def test_recommend_closed_forms(activation: str, scale: float, cli: object) -> None:
    result = cli("recommend", "--activation", activation, "--no-check", "--json")  # type: ignore[operator]
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["scale"] == pytest.approx(scale, rel=1e-9)
    init = resolve_initializer(data["init"])
    assert init.distribution((512, 512)).std() ** 2 == pytest.approx(scale / 512, rel=1e-9)


@pytest.mark.parametrize("activation", ["tanh", "gelu", "silu", "mish", "softplus", "sigmoid"])
def test_recommended_spec_makes_unit_variance_a_fixed_point(activation: str, cli: object) -> None:
    data = json.loads(cli("recommend", "--activation", activation, "--no-check", "--json").out)  # type: ignore[operator]
    act = resolve_activation(activation)
    assert data["scale"] * second_moment(act, 1.0) == pytest.approx(1.0, rel=1e-9)


def test_recommend_check_runs_the_recommendation(cli: object) -> None:
    data = json.loads(cli("recommend", "--activation", "tanh", "--json").out)  # type: ignore[operator]
    check = data["check"]
    # tanh's unit fixed point is stable (slope < 1): the stack stays at unit variance
    # within sampling error (per-layer relative sd ~ sqrt(3 / 512), compounded over 10).
    assert data["fixed_point_slope"] < 1
    assert check["forward_factor"] == pytest.approx(1.0, abs=5 * math.sqrt(3 / 512))
    assert check["forward_verdict"] == "stable"
    # N(0, 1) inputs: Var z_1 = scale * E[x^2] = scale, up to sampling (relative sd of a mean
    # of 512 x 512 products ~ sqrt(2 / 512) per unit, far less over the batch)
    assert check["first_preact_var"] == pytest.approx(data["scale"], rel=5 * math.sqrt(2 / 512))
    assert check["forward_total"] == pytest.approx(check["forward_factor"] ** 9, rel=1e-9)
    assert check["backward_total"] == pytest.approx(check["backward_factor"] ** 9, rel=1e-9)


def test_recommended_torch_one_liner_draws_the_same_law(cli: object) -> None:
    torch = pytest.importorskip("torch")
    data = json.loads(cli("recommend", "--activation", "gelu", "--no-check", "--json").out)  # type: ignore[operator]
    weight = torch.empty(1024, 256)
    with torch.no_grad():
        eval(data["torch"].split("  #")[0], {"torch": torch, "w": weight})
    expected_std = resolve_initializer(data["init"]).distribution((1024, 256)).std()
    measured = float(weight.std())
    # The sample std of n normals has relative sd 1/sqrt(2n); allow 5 of them.
    assert measured == pytest.approx(expected_std, rel=5 / math.sqrt(2 * weight.numel()))


@pytest.mark.slow
def test_recommended_keras_one_liner_draws_the_same_law(cli: object) -> None:
    keras = pytest.importorskip("keras")
    data = json.loads(cli("recommend", "--activation", "silu", "--no-check", "--json").out)  # type: ignore[operator]
    initializer = eval(data["keras"], {"keras": keras})
    values = np.asarray(initializer((256, 1024)))  # Keras layout (in, out): fan_in 256
    expected_std = resolve_initializer(data["init"]).distribution((1024, 256)).std()
    assert float(values.std()) == pytest.approx(expected_std, rel=5 / math.sqrt(2 * values.size))


def test_recommend_bad_input(cli: object) -> None:
    result = cli("recommend", "--activation", "gelu", "--mode", "fan_sum")  # type: ignore[operator]
    assert result.code == 2 and "fan_sum" in result.err
    result = cli("recommend", "--activation", "gelo")  # type: ignore[operator]
    assert result.code == 2 and "did you mean gelu" in result.err
