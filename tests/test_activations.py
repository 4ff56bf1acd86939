"""Activations: exact derivatives, PyTorch's definitions, limits, dtypes, saturation, SPECs."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from initcli.activations import (
    FROM_OUTPUT_BLOCK,
    REGISTRY,
    SATURATION,
    SELU_ALPHA,
    SELU_SCALE,
    Activation,
    activation_names,
    list_activations,
    resolve_activation,
)
from initcli.errors import EXIT_BAD_USAGE, InitcliError

# Every registered activation with its defaults, plus parameterised variants.
VARIANTS = [
    *(activation.spec for activation in list_activations()),
    "leaky_relu(negative_slope=0.2)",
    "leaky_relu(negative_slope=0)",
    "leaky_relu(negative_slope=3)",
    "leaky_relu(negative_slope=-0.5)",  # torch.nn.LeakyReLU and calculate_gain take it
    "elu(alpha=0.5)",
    "elu(alpha=0)",
    "gelu(approximate=tanh)",
    "softplus(beta=2.5)",
    "hard_tanh(min_val=-0.5, max_val=2)",
]


def act(spec: str) -> Activation:
    return resolve_activation(spec)


def test_registry_is_what_the_issue_asks_for() -> None:
    assert set(REGISTRY) == {
        "linear",
        "relu",
        "leaky_relu",
        "elu",
        "selu",
        "gelu",
        "silu",
        "mish",
        "tanh",
        "sigmoid",
        "softplus",
        "softsign",
        "hard_tanh",
    }
    assert [a.name for a in list_activations()] == activation_names()


# --- derivative = d phi / dz -------------------------------------------------------------------


@pytest.mark.parametrize("spec", VARIANTS)
def test_derivative_matches_central_differences(spec: str) -> None:
    activation = act(spec)
    z = np.linspace(-12.0, 12.0, 2401) + 0.00123  # the offset keeps nodes off the kinks
    if activation.kinks:
        z = z[np.min(np.abs(z[:, None] - np.array(activation.kinks)), axis=1) > 1e-3]
    h = 1e-5  # truncation h^2 |phi'''| / 6 and rounding eps |phi| / h are both ~1e-10
    numeric = (activation.forward(z + h) - activation.forward(z - h)) / (2 * h)
    np.testing.assert_allclose(activation.derivative(z), numeric, rtol=1e-7, atol=1e-8)


# --- against PyTorch (forward, and autograd for the derivative, kinks included) ---------------


def torch_function(activation: Activation) -> Any:
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    p = activation.params
    table = {
        "linear": lambda x: x * 1,
        "relu": functional.relu,
        "leaky_relu": lambda x: functional.leaky_relu(x, p["negative_slope"]),
        "elu": lambda x: functional.elu(x, p["alpha"]),
        "selu": functional.selu,
        "gelu": lambda x: functional.gelu(x, approximate=p["approximate"]),
        "silu": functional.silu,
        "mish": functional.mish,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "softplus": lambda x: functional.softplus(x, beta=p["beta"]),
        "softsign": functional.softsign,
        "hard_tanh": lambda x: functional.hardtanh(x, p["min_val"], p["max_val"]),
    }
    return table[activation.name]


def torch_points(activation: Activation) -> np.ndarray:
    # |beta z| <= 17.5 stays below torch's softplus threshold (20), where torch switches to z
    return np.concatenate([np.linspace(-7.0, 7.0, 1401), [0.0, *activation.kinks]])


TOLERANCE: dict[Any, tuple[float, float]] = {np.float32: (2e-6, 1e-6), np.float64: (1e-12, 1e-14)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", VARIANTS)
def test_forward_and_derivative_match_torch(spec: str, dtype: Any) -> None:
    torch = pytest.importorskip("torch")
    activation = act(spec)
    fn = torch_function(activation)
    z = torch_points(activation).astype(dtype)
    x = torch.tensor(z, requires_grad=True)
    y = fn(x)
    y.sum().backward()
    assert x.grad is not None
    rtol, atol = TOLERANCE[dtype]
    np.testing.assert_allclose(activation.forward(z), y.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(activation.derivative(z), x.grad.numpy(), rtol=rtol, atol=atol)


def test_selu_constants_are_klambauers() -> None:
    torch = pytest.importorskip("torch")
    assert SELU_ALPHA == 1.6732632423543772848170429916717
    assert SELU_SCALE == 1.0507009873554804934193349852946
    selu = act("selu")
    z = np.array([-50.0, 1.0])
    expected = torch.nn.functional.selu(torch.tensor(z)).numpy()
    assert selu.forward(z)[0] == pytest.approx(-SELU_SCALE * SELU_ALPHA, rel=1e-15)
    np.testing.assert_allclose(selu.forward(z), expected, rtol=1e-15)


# --- accuracy in the tails, against 50-digit mpmath ---------------------------------------------


def mp_function(activation: Activation) -> Any:
    mp = pytest.importorskip("mpmath")
    p = activation.params

    def elu(z: Any, alpha: Any) -> Any:
        return z if z > 0 else alpha * mp.expm1(z)

    def gelu(z: Any) -> Any:
        if p["approximate"] == "tanh":
            u = mp.sqrt(2 / mp.pi) * (z + mp.mpf("0.044715") * z**3)
            return z / (1 + mp.exp(-2 * u))
        return z * mp.ncdf(z)

    table = {
        "linear": lambda z: z,
        "relu": lambda z: max(z, 0),
        "leaky_relu": lambda z: z if z > 0 else p["negative_slope"] * z,
        "elu": lambda z: elu(z, p["alpha"]),
        "selu": lambda z: mp.mpf(SELU_SCALE) * elu(z, mp.mpf(SELU_ALPHA)),
        "gelu": gelu,
        "silu": lambda z: z / (1 + mp.exp(-z)),
        "mish": lambda z: z * mp.tanh(mp.log1p(mp.exp(z))),
        "tanh": mp.tanh,
        "sigmoid": lambda z: 1 / (1 + mp.exp(-z)),
        "softplus": lambda z: mp.log1p(mp.exp(p["beta"] * z)) / p["beta"],
        "softsign": lambda z: z / (1 + abs(z)),
        "hard_tanh": lambda z: min(max(z, p["min_val"]), p["max_val"]),
    }
    return table[activation.name]


TAIL_POINTS = [-40.0, -20.0, -9.0, -3.0, -0.7, -1e-8, 1e-8, 0.4, 2.5, 9.0, 20.0, 40.0]
# results below this may be subnormal
TINY: dict[Any, float] = {np.float32: 1e-36, np.float64: 1e-300}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", VARIANTS)
def test_relative_accuracy_in_the_tails(spec: str, dtype: Any) -> None:
    mp = pytest.importorskip("mpmath")
    activation = act(spec)
    fn = mp_function(activation)
    z = np.array(TAIL_POINTS, dtype=dtype)
    forward, derivative = activation.forward(z), activation.derivative(z)
    eps = float(np.finfo(dtype).eps)
    with mp.workdps(50):
        for i, point in enumerate(z.astype(np.float64)):
            x = mp.mpf(float(point))
            exact = [fn(x), mp.diff(fn, x), mp.diff(fn, x, 2)]
            # A stable formula is off by a few ulps times the condition number |x g'(x) / g(x)|
            # (float32 gelu_tanh at -9: ~50, from rounding u = c (z + 0.044715 z^3)).
            for ours, value, slope in ((forward[i], *exact[:2]), (derivative[i], *exact[1:])):
                cond = abs(x * slope / value) if value != 0 else mp.mpf(0)
                bound = 8 * eps * (1 + float(cond)) * abs(float(value)) + TINY[dtype]
                assert abs(float(ours) - float(value)) <= bound, (point, ours, float(value))


# --- dtypes, extremes, NaN ---------------------------------------------------------------------

EXTREMES = [-np.inf, -1e30, -1e10, -1e3, -0.0, 0.0, 1e-30, 1e3, 1e10, 1e30, np.inf, np.nan]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("spec", VARIANTS)
def test_dtype_is_kept_and_input_untouched(spec: str, dtype: Any) -> None:
    activation = act(spec)
    z = np.linspace(-3, 3, 24, dtype=dtype).reshape(2, 3, 4)
    before = z.copy()
    for out in (activation.forward(z), activation.derivative(z)):
        assert out.dtype == dtype and out.shape == z.shape
        assert not np.shares_memory(out, z)
    np.testing.assert_array_equal(z, before)


@pytest.mark.parametrize("spec", VARIANTS)
def test_integers_lists_and_scalars(spec: str) -> None:
    activation = act(spec)
    assert activation.forward(np.arange(-2, 3)).dtype == np.float64
    assert activation.forward([-1.0, 2.0]).shape == (2,)
    scalar = activation.derivative(np.float32(0.5))
    assert scalar.shape == () and scalar.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", VARIANTS)
def test_extremes_give_limits_without_warnings(spec: str, dtype: Any) -> None:
    activation = act(spec)
    z = np.array(EXTREMES, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            forward, derivative = activation.forward(z), activation.derivative(z)
    for out in (forward, derivative):
        np.testing.assert_array_equal(np.isnan(out), np.isnan(z))  # NaN in, NaN out; else no NaN
    # at +-inf: phi's limit (phi at +-1e300 in float64, or inf of the same sign) and phi''s
    far = activation.forward(np.array([-1e300, 1e300]))
    at_inf = forward[[0, -2]].astype(np.float64)
    for limit, value in zip(far, at_inf, strict=True):
        if abs(limit) > 1e200:
            assert value == math.copysign(math.inf, limit)
        else:
            assert value == pytest.approx(limit, abs=1e-6)
    slope_far = activation.derivative(np.array([-1e300, 1e300]))
    np.testing.assert_allclose(derivative[[0, -2]], slope_far, atol=1e-6)


# --- saturation and dead units -----------------------------------------------------------------


@pytest.mark.parametrize("spec", VARIANTS)
def test_saturated_means_slope_below_two_percent_of_its_peak(spec: str) -> None:
    activation = act(spec)
    z = np.linspace(-30.0, 30.0, 60001)
    a = activation.forward(z)
    mask = activation.saturated(a)
    if activation.name not in ("tanh", "sigmoid", "softsign", "hard_tanh"):
        assert mask is None
        return
    assert mask is not None and mask.dtype == np.bool_ and mask.shape == a.shape
    slope = activation.derivative(z)
    threshold = SATURATION * slope.max()
    clear = np.abs(slope - threshold) > 1e-9 * slope.max()  # not on the boundary itself
    np.testing.assert_array_equal(mask[clear], (slope <= threshold)[clear])
    assert not np.any(activation.saturated(np.array([np.nan])))


def test_saturation_examples() -> None:
    def mask(spec: str, a: list[float]) -> list[bool]:
        result = act(spec).saturated(np.array(a))
        assert result is not None
        return [bool(x) for x in result]

    assert mask("tanh", np.tanh([3.0, -3.0, 2.0]).tolist()) == [True, True, False]
    assert mask("sigmoid", [0.004, 0.996, 0.05, 0.5]) == [True, True, False, False]
    assert mask("hard_tanh", [-1.0, 1.0, 0.999]) == [True, True, False]


@pytest.mark.parametrize("spec", VARIANTS)
def test_can_die_means_zero_value_and_slope_on_a_half_line(spec: str) -> None:
    activation = act(spec)
    left = -np.logspace(-3, 2, 50)
    dies = bool(np.all(activation.forward(left) == 0) and np.all(activation.derivative(left) == 0))
    assert activation.can_die is dies
    expected = spec in ("relu", "leaky_relu(negative_slope=0)", "elu(alpha=0)")
    assert activation.can_die is expected


# --- SPEC strings ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", VARIANTS)
def test_spec_round_trips(spec: str) -> None:
    activation = act(spec)
    again = resolve_activation(activation.spec)
    assert again == activation and hash(again) == hash(activation)
    assert again.spec == activation.spec


def test_canonical_spec_lists_only_non_defaults_and_aliases_resolve() -> None:
    assert act("leaky_relu(negative_slope=0.01)").spec == "leaky_relu"
    assert act("Leaky_ReLU(negative_slope=0.2)").spec == "leaky_relu(negative_slope=0.2)"
    assert act("gelu(approximate=none)") == act("gelu")
    assert act("swish") == act("silu")
    assert act("identity") == act("linear")
    assert act("hardtanh(min_val=-2)").spec == "hard_tanh(min_val=-2.0)"
    assert act("relu").kinks == (0.0,) and act("hard_tanh(max_val=3)").kinks == (-1.0, 3.0)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("relux", ["'relux'", "did you mean relu?"]),
        ("gleu", ["did you mean gelu?"]),
        ("leaky_relu(slope=0.2)", ["'slope'", "negative_slope"]),
        ("leaky_relu(negative_slope=fast)", ["negative_slope=fast", "float"]),
        ("elu(alpha=-1)", ["alpha=-1", "[0.0, inf)"]),
        ("softplus(beta=0)", ["beta=0", "(0.0, inf)"]),
        ("gelu(approximate=sigmoid)", ["approximate=sigmoid", "none, tanh"]),
        ("hard_tanh(min_val=1, max_val=-1)", ["min_val=1.0", "max_val=-1.0"]),
        ("relu(", ["unbalanced"]),
    ],
)
def test_bad_specs_are_one_line_usage_errors(spec: str, words: list[str]) -> None:
    with pytest.raises(InitcliError) as caught:
        resolve_activation(spec)
    assert caught.value.exit_code == EXIT_BAD_USAGE
    assert "\n" not in caught.value.message
    for word in words:
        assert word in caught.value.message


def test_torch_gain_names() -> None:
    named = {a.name: a.torch_gain_name for a in list_activations() if a.torch_gain_name}
    assert named == {n: n for n in ("linear", "relu", "leaky_relu", "selu", "tanh", "sigmoid")}
    assert act("leaky_relu(negative_slope=0.2)").torch_gain_param == 0.2
    assert act("tanh").torch_gain_param is None


# --- forward_and_derivative: the fused path the propagation calls --------------------------

FUSED_POINTS = [*EXTREMES, -3.0, -1e-3, 0.5, 2.0, 9.0, 20.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", VARIANTS)
def test_forward_and_derivative_equal_forward_and_derivative(spec: str, dtype: Any) -> None:
    activation = act(spec)
    rng = np.random.default_rng(3)
    noise = 4 * rng.standard_normal(1000 - len(FUSED_POINTS))
    z = np.concatenate([np.array(FUSED_POINTS), noise]).astype(dtype)
    z = z.reshape(2, -1)
    before = z.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, d = activation.forward_and_derivative(z)
        only_a, none = activation.forward_and_derivative(z, need_derivative=False)
        reused = z.copy()
        a2, d2 = activation.forward_and_derivative(reused, overwrite_input=True)
    np.testing.assert_array_equal(z, before)  # not overwritten unless asked
    assert none is None and d is not None and d2 is not None
    for got in (a, d, only_a, a2, d2):
        assert got.dtype == dtype and got.shape == z.shape
    np.testing.assert_array_equal(a, activation.forward(z))  # bit for bit, NaN included
    np.testing.assert_array_equal(only_a, a)
    np.testing.assert_array_equal(d, activation.derivative(z))
    np.testing.assert_array_equal(a2, a)
    np.testing.assert_array_equal(d2, d)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "spec", [spec for spec in VARIANTS if resolve_activation(spec).reads_derivative_from_output]
)
def test_a_derivative_read_from_the_output_is_the_derivative_bit_for_bit(
    spec: str, dtype: Any
) -> None:
    """Backward reads relu' from relu(z) (WeightedLayer keeps phi(z), not phi'(z)): that
    must give the same bits as phi'(z), at 0, -0, subnormals, where slope * z underflows,
    at the limits and at NaN."""
    activation = act(spec)
    info = np.finfo(dtype)
    special = [0.0, -0.0, float(info.smallest_subnormal), -float(info.smallest_subnormal)]
    special += [float(info.tiny), -float(info.tiny), float(info.max), -float(info.max)]
    rng = np.random.default_rng(5)
    z = np.concatenate([FUSED_POINTS, special, 4 * rng.standard_normal(500)]).astype(dtype)
    with np.errstate(all="ignore"):
        from_output = activation.derivative_from_output(activation.forward(z))
    assert from_output.dtype == dtype
    np.testing.assert_array_equal(from_output, activation.derivative(z))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", ["relu", "leaky_relu(negative_slope=0.2)", "tanh", "linear"])
def test_grad_preact_into_the_gradient_is_the_allocating_product_bit_for_bit(
    spec: str, dtype: Any
) -> None:
    """A layer's backward owns dL/dphi and lets dL/dz take its buffer: the same bits as the
    product into a new array (NaN signs included, where both operands are NaN), over several
    of the blocks phi'(phi(z)) is read in, with infinities and signed zeros; what was kept is
    left as it was; and the product's dtype and shape decide whether the buffer can take it."""
    activation = act(spec)
    rng = np.random.default_rng(8)
    size = 2 * FROM_OUTPUT_BLOCK + 7
    minus_nan = np.copysign(np.nan, -1.0)
    z = (3 * rng.standard_normal(size)).astype(dtype)
    z[:8] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, minus_nan]
    z[FROM_OUTPUT_BLOCK + 3] = np.nan  # in the second block only
    z = z.reshape(1, size)
    grad = rng.standard_normal(z.shape).astype(dtype)
    grad[0, :10] = [minus_nan, 1.0, 2.0, 3.0, 4.0, np.nan, -np.inf, np.inf, np.nan, -0.0]
    grad[0, FROM_OUTPUT_BLOCK + 3] = minus_nan
    from_output = activation.reads_derivative_from_output
    with np.errstate(all="ignore"):
        a, dphi = activation.forward_and_derivative(z, need_derivative=not from_output)
    kept = a if from_output else dphi
    before = np.array(kept, copy=True)

    def same_bits(got: np.ndarray, expected: np.ndarray) -> None:
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert got.tobytes() == expected.tobytes()

    expected = activation.grad_preact(grad, kept, from_output)
    assert not np.shares_memory(expected, grad)
    work = grad.copy()
    got = activation.grad_preact(work, kept, from_output, overwrite_grad=True)
    assert got is work
    same_bits(got, expected)
    np.testing.assert_array_equal(kept, before)
    # A wider gradient: the product is float64 for phi'(z) * dL/dphi, phi(z)'s dtype when
    # phi' is read from phi(z) (as before the buffer was reused).
    wide = grad.astype(np.float64)
    wide_expected = activation.grad_preact(wide, kept, from_output)
    wide_got = activation.grad_preact(wide.copy(), kept, from_output, overwrite_grad=True)
    same_bits(wide_got, wide_expected)
    # Not into a buffer it may not write, of the wrong layout, a narrower dtype or a
    # smaller shape (the product broadcasts to phi's).
    frozen = grad.copy()
    frozen.flags.writeable = False
    strided = np.asfortranarray(np.repeat(grad, 2, axis=0))[:1]
    for other in (frozen, strided, grad.astype(np.float16), grad.reshape(-1).copy()):
        untouched = other.copy()
        result = activation.grad_preact(other, kept, from_output, overwrite_grad=True)
        assert not np.shares_memory(result, other)
        same_bits(result, activation.grad_preact(other, kept, from_output))
        assert other.tobytes() == untouched.tobytes()


def test_the_activations_whose_derivative_is_read_from_the_output() -> None:
    flagged = {a.name for a in list_activations() if a.reads_derivative_from_output}
    assert flagged == {"relu", "leaky_relu"}
    with pytest.raises(ValueError, match="tanh"):
        act("tanh").derivative_from_output(np.zeros(3))
    # a negative slope makes phi(z) > 0 for z < 0 too: phi' is then read from z
    negative = act("leaky_relu(negative_slope=-0.5)")
    assert not negative.reads_derivative_from_output
    with pytest.raises(ValueError, match=r"negative_slope=-0\.5"):
        negative.derivative_from_output(np.zeros(3))


def test_forward_and_derivative_reuses_the_input_buffer_only_when_allowed() -> None:
    z = np.linspace(-3, 3, 64, dtype=np.float32)
    for spec in ("tanh", "relu", "linear"):
        work = z.copy()
        a, d = act(spec).forward_and_derivative(work, overwrite_input=True)
        assert d is not None
        assert np.shares_memory(a, work) or np.shares_memory(d, work)
        a, d = act(spec).forward_and_derivative(z)
        assert not np.shares_memory(a, z) and not np.shares_memory(d, z)
    # linear' is a read-only broadcast 1 unless z holds NaN, where it keeps the NaN
    d = act("linear").forward_and_derivative(z)[1]
    assert d is not None and not d.flags.writeable and np.all(d == 1)
    with_nan = np.array([1.0, np.nan], dtype=np.float32)
    d = act("linear").forward_and_derivative(with_nan)[1]
    assert d is not None and d[0] == 1 and np.isnan(d[1])
    # non-float and list inputs become float64, as forward does
    a, d = act("relu").forward_and_derivative([-1, 0, 2])
    assert a.dtype == np.float64 and d is not None and list(d) == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("spec", VARIANTS)
def test_saturated_count_counts_the_saturated_mask(spec: str) -> None:
    activation = act(spec)
    a = activation.forward(np.linspace(-12, 12, 4001, dtype=np.float32))
    mask = activation.saturated(a)
    count = activation.saturated_count(a)
    assert (mask is None) == (count is None)
    if mask is not None:
        assert count == int(np.count_nonzero(mask))
        assert 0 < count < a.size  # both saturated and unsaturated values are present
