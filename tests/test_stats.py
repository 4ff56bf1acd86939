"""The verdict rule, the ratios, the dead/zero shares and the views of a result."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from initcli.report import fmt
from initcli.serialize import to_csv
from initcli.stats import LayerStats, _dead_and_zero, summarize


def layer(index: int, preact_var: float, grad_var: float | None = 1.0) -> LayerStats:
    return LayerStats(
        index=index, name=f"dense{index}", type="dense", activation="relu",
        weight_shape=[4, 4], out_shape=[4], fan_in=4, fan_out=4, init="he_normal",
        bias_init="zeros", weight_mean=0.0, weight_var=0.5, preact_mean=0.0,
        preact_var=preact_var, act_mean=0.0, act_var=preact_var / 2, zero_frac=None,
        dead_frac=None, saturated_frac=None, grad_var=grad_var,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("factor", "verdict"),
    [(1.0, "stable"), (0.8, "stable"), (0.7, "vanishing"), (1.3, "exploding"), (0.5, "vanishing")],
)
def test_verdict_is_the_total_change_against_a_factor_of_ten(factor: float, verdict: str) -> None:
    depth = 10  # 9 steps from layer 1 to 10: 0.8^9 = 0.13 (within 10x), 0.7^9 = 0.04, 1.3^9 = 10.6
    layers = [layer(i, factor**i, grad_var=factor ** (depth - i + 1)) for i in range(1, depth + 1)]
    summary = summarize(layers, input_var=1.0, output_grad_var=1.0)
    assert summary.forward.verdict == verdict
    assert summary.forward.factor_per_layer == pytest.approx(factor)
    assert summary.forward.total == pytest.approx(factor ** (depth - 1))
    assert summary.backward is not None and summary.backward.verdict == verdict
    assert f"x{factor ** (depth - 1):.3g} from layer 1 to layer {depth}" in summary.forward.message
    assert f"from layer {depth} to layer 1" in summary.backward.message


def test_he2015_wording() -> None:
    layers = [layer(i, 0.5**i) for i in range(1, 31)]
    message = summarize(layers, 1.0, None).forward.message
    assert message == (
        "activations (Var z) shrink x0.5 per layer: variance x1.86e-09 from layer 1 to layer 30"
    )


def test_a_single_layer_is_compared_with_the_input() -> None:
    forward = summarize([layer(1, 2.0)], input_var=1.0, output_grad_var=None).forward
    assert forward.factor_per_layer == pytest.approx(2.0)
    assert "through the layer" in forward.message


def test_first_nonfinite_layer_is_named() -> None:
    layers = [layer(1, 1.0), layer(2, math.inf), layer(3, math.nan)]
    forward = summarize(layers, 1.0, None).forward
    assert (forward.verdict, forward.first_nonfinite_layer) == ("exploding", 2)
    assert "exploded at layer 2" in forward.message


def test_signal_that_is_exactly_zero_vanishes() -> None:
    forward = summarize([layer(1, 1.0), layer(2, 0.0)], 1.0, None).forward
    assert forward.verdict == "vanishing" and "exactly zero" in forward.message


def test_dead_units_are_zero_for_every_example() -> None:
    act = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    zero_frac, dead_frac = _dead_and_zero(act)
    assert zero_frac == pytest.approx(4 / 6)
    assert dead_frac == pytest.approx(1 / 3)  # only the first unit is zero for both


def test_csv_has_one_row_per_layer_with_the_json_keys() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv([layer(1, 2.0), layer(2, 1.0)]))))
    assert [row["index"] for row in rows] == ["1", "2"]
    assert rows[0]["weight_shape"] == "4x4" and float(rows[1]["preact_var"]) == 1.0
    assert rows[0]["preact_ratio"] == ""  # None is an empty cell


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (0.0, "0"), (1.23456, "1.23"), (1e-5, "1.00e-05"), (math.inf, "inf"),
     (math.nan, "nan"), (123456.0, "1.23e+05")],
)  # fmt: skip
def test_numbers_read_as_a_person_expects(value: float | None, text: str) -> None:
    assert fmt(value) == text
