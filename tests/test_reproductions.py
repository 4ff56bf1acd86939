"""The classic results of docs/reproductions.md, asserted claim by claim.

Each reproduction runs at the ``QUICK`` sizes of :mod:`reproductions` (the doc shows
the ``FULL`` ones; ``scripts/reproduce.py --quick`` prints these very numbers). Every claim
carries its own interval, derived from sampling error by the noise model (see
``reproductions.noise.NoiseModel``) or from an exact law; a test fails if any claim falls
outside. The noise model itself is checked against exactly known cases.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from initcli.activations import resolve_activation
from initcli.experiment import dense_stack_spec
from initcli.network import build_network
from initcli.network_spec import load_spec
from reproductions import (
    QUICK,
    Z_BOUND,
    Claim,
    backward_kurtosis_factor,
    kurtosis_factor,
    log_claim,
    noise_model,
    reproduce_glorot2010,
    reproduce_he2015,
    reproduce_klambauer2017,
    reproduce_saxe2014,
    reproduce_schoenholz2017,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def assert_all_hold(claims: list[Claim]) -> None:
    failed = [claim.describe() for claim in claims if not claim.holds]
    assert not failed, "\n".join(failed)


def claim_about(claims: list[Claim], *words: str) -> Claim:
    matches = [c for c in claims if all(w in c.text for w in words)]
    assert len(matches) == 1, [c.text for c in matches]
    return matches[0]


# --- the noise model on cases with exact answers -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "forward", "backward"), [("relu", 5.0, 5.0), ("linear", 2.0, 2.0)]
)
def test_kurtosis_factors_exact(name: str, forward: float, backward: float) -> None:
    # relu: E[relu(z)^4] / E[relu(z)^2]^2 - 1 = (3/2) / (1/4) - 1; linear: E[z^4] - 1 = 2
    activation = resolve_activation(name)
    for q in (0.3, 1.0, 7.0):
        assert kurtosis_factor(activation, q) == pytest.approx(forward, rel=1e-9)
        assert backward_kurtosis_factor(activation, q) == pytest.approx(backward, rel=1e-9)


def test_noise_model_is_the_relu_random_walk_for_one_input() -> None:
    # One input through relu/He: ln Var z_l = nu + zeta_1 + ... + zeta_{l-1} + eta_l, so
    # Var = 2/n0 + 5 (l - 1)/n + 2/n exactly in the model.
    depth, width = 12, 64
    spec = dense_stack_spec(depth, width, "relu", 1, "he_normal")
    model = noise_model(build_network(spec), batch=1)
    expected = [math.sqrt((2 + 5 * (layer - 1) + 2) / width) for layer in range(1, depth + 1)]
    assert model.forward.layer_sds() == pytest.approx(expected, rel=1e-6)


def test_noise_model_matches_the_exact_law_of_gaussian_linear_nets() -> None:
    # Saxe's case: ln(|z_l|^2 / n) for one input is ln(|x|^2 / n) + l i.i.d. ln(chi^2_n / n),
    # variance psi'(n0/2) + l psi'(n/2); the model's delta method gives 2/n per term (the
    # first-order value of psi'(n/2) = 2/n + 2/n^2 + ...).
    from scipy.special import polygamma

    depth, width = 20, 128
    init = "variance_scaling(scale=1.0, mode=fan_in, distribution=normal)"
    model = noise_model(build_network(dense_stack_spec(depth, width, "linear", 1, init)), 1)
    trigamma = float(polygamma(1, width / 2))
    exact = [math.sqrt((layer + 1) * trigamma) for layer in range(1, depth + 1)]
    assert model.forward.layer_sds() == pytest.approx(exact, rel=2 / width)


def test_batch_of_independent_inputs_shrinks_the_first_layer_noise() -> None:
    # Layer 1 of a linear net: Var ln Var z_1 = 2/n0 (input) + 2/n (chi-square). The inputs
    # are i.i.d., so the first term divides by the batch B; the second correlates between
    # two inputs by E[c^2], c their pre-activations' empirical cosine, whose variance is
    # 1/n0 (inputs) + 1/n (layer 1's own sampling): a share 1/B + (1 - 1/B) E[c^2] is left.
    n0 = width = 512
    batch = 64
    init = "variance_scaling(scale=1.0, mode=fan_in, distribution=normal)"
    network = build_network(dense_stack_spec(3, width, "linear", batch, init))
    spread = 1 / n0 + 1 / width
    expected = 2 / n0 / batch + 2 / width * (1 / batch + (1 - 1 / batch) * spread)
    sd = noise_model(network, batch=batch).forward.layer_sds()[0]
    assert sd == pytest.approx(math.sqrt(expected), rel=1e-9)
    assert sd < noise_model(network, batch=1).forward.layer_sds()[0] / 7


def test_log_claim_interval() -> None:
    claim = log_claim("p", "t", measured=0.5, expected=0.5, sd=0.01, jensen=-0.002, basis="b")
    half = Z_BOUND * 0.01 + 0.002
    assert claim.holds
    assert claim.low == pytest.approx(0.5 * math.exp(-half))
    assert claim.high == pytest.approx(0.5 * math.exp(half))
    assert not log_claim("p", "t", 0.5 * math.exp(1.01 * half), 0.5, 0.01, -0.002, "b").holds


# --- the reproductions ---------------------------------------------------------------------


@pytest.mark.slow
def test_he2015_glorot_halves_he_keeps() -> None:
    result = reproduce_he2015(**QUICK["he2015"])
    assert_all_hold(result.claims)
    # the statement itself, on the numbers the claims checked
    glorot = claim_about(result.claims, "glorot_uniform", "Var z")
    he = claim_about(result.claims, "he_normal", "Var z")
    assert glorot.expected == pytest.approx(0.5, rel=1e-9)
    assert he.expected == pytest.approx(1.0, rel=1e-9)
    assert glorot.high < he.low  # the two bands are apart: the claim can tell them apart


@pytest.mark.slow
def test_glorot2010_standard_init_shrinks_3x_and_weight_gradients_stay_flat() -> None:
    spec = load_spec(CONFIGS / "glorot2010.yaml")
    result = reproduce_glorot2010(spec, **QUICK["glorot2010"])
    assert_all_hold(result.claims)
    # about 3x per layer: every theory ratio <= 1/3 and the deep ones close to it
    assert all(theory <= 1 / 3 for _, theory in result.preact_ratios)
    assert result.preact_ratios[-2][1] > 0.3
    # flat: Var dL/dW varies far less over the tanh layers than either of its factors
    spans = result.spans["torch_default"]
    assert spans["Var dL/dW"][0] < 1.5 < 50 < min(spans["Var phi(z)"][0], spans["Var dL/dz"][0])


@pytest.mark.slow
def test_saxe2014_orthogonal_exact_gaussian_spreads() -> None:
    result = reproduce_saxe2014(**QUICK["saxe2014"])
    assert_all_hold(result.claims)
    growth = claim_about(result.claims, "spread grows")
    assert growth.low > 1.0


@pytest.mark.slow
def test_klambauer2017_selu_converges_to_zero_mean_unit_variance() -> None:
    result = reproduce_klambauer2017(**QUICK["klambauer2017"])
    assert_all_hold(result.claims)
    for path in result.paths:  # they did start away from (0, 1) (except the control)
        start = abs(path.theory_var[0] - 1.0) + abs(path.theory_mean[0])
        end = abs(path.theory_var[-1] - 1.0) + abs(path.theory_mean[-1])
        assert end <= max(start, 1e-9) / 10 or start < 1e-6


@pytest.mark.slow
def test_schoenholz2017_depth_scales_track_theory() -> None:
    result = reproduce_schoenholz2017(**QUICK["schoenholz2017"])
    assert_all_hold(result.claims)
    # the measured gradient slopes order like the theory's across the phase transition
    slopes = [scale.grad_slope[0] for scale in result.scales]
    theory = [scale.grad_slope[1] for scale in result.scales]
    assert list(np.argsort(slopes)) == list(np.argsort(theory))
    phases = {scale.analysis.phase for scale in result.scales}
    assert phases == {"ordered", "chaotic"}
