"""Every registered initializer: formula, law of its samples, seeds, structure, and the
frameworks themselves (two-sample Kolmogorov-Smirnov tests against torch, Keras and JAX)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "numpy")

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from initcli.distributions import TRUNC2_STD, Distribution
from initcli.errors import EXIT_BAD_USAGE, InitcliError
from initcli.fans import Fans, compute_fans, torch_to_layout
from initcli.initializers import (
    CONTRAST,
    REGISTRY,
    Identity,
    Initializer,
    Orthogonal,
    Sparse,
    bias_distribution,
    known_names,
    list_initializers,
    resolve_initializer,
    sample_bias,
    sample_weight,
)

# KS p-value below which a test fails. Seeds are fixed, so every test is deterministic;
# 1e-3 keeps the chance that a correct implementation fails for an unlucky seed at 0.1%.
P_MIN = 1e-3
SIGMAS = 6.0  # tolerance of empirical moments, in standard errors
INF = math.inf
ENTRIES = list(REGISTRY.values())
IDS = [entry.name for entry in ENTRIES]


def resolve_example(name: str) -> Initializer:
    entry = REGISTRY[name]
    return resolve_initializer(entry.example or entry.name)


def weight_shape(init: Initializer) -> tuple[int, ...]:
    """A PyTorch-layout shape every registered law accepts: 2-D where it must be."""
    return (64, 32) if isinstance(init.law, (Identity, Sparse)) else (64, 32, 3, 3)


# --- the formulas, written independently of the code -----------------------------------
def uniform(limit: float, low: float | None = None) -> tuple[float, float, float, float]:
    """(mean, std, low, high) of U(low, limit) (default low = -limit)."""
    low = -limit if low is None else low
    return (low + limit) / 2, (limit - low) / math.sqrt(12.0), low, limit


def normal(std: float, mean: float = 0.0) -> tuple[float, float, float, float]:
    return mean, std, -INF, INF


def cut2(sigma: float) -> tuple[float, float, float, float]:
    """N(0, sigma^2) cut at ±2 sigma: std = 0.8796... sigma."""
    return 0.0, TRUNC2_STD * sigma, -2 * sigma, 2 * sigma


def corrected(std: float) -> tuple[float, float, float, float]:
    return cut2(std / TRUNC2_STD)


def constant(value: float) -> tuple[float, float, float, float]:
    return value, 0.0, value, value


def ones_at(fraction: float, value: float) -> tuple[float, float, float, float]:
    """``value`` on a fraction of the entries, 0 elsewhere."""
    mean = fraction * value
    return mean, abs(value) * math.sqrt(fraction * (1 - fraction)), min(0, value), max(0, value)


Formula = Callable[[int, int, tuple[int, ...]], tuple[float, float, float, float]]
GLOROT_U: Formula = lambda i, o, s: uniform(math.sqrt(6 / (i + o)))  # noqa: E731
GLOROT_N: Formula = lambda i, o, s: corrected(math.sqrt(2 / (i + o)))  # noqa: E731
HE_U: Formula = lambda i, o, s: uniform(math.sqrt(6 / i))  # noqa: E731
HE_N: Formula = lambda i, o, s: corrected(math.sqrt(2 / i))  # noqa: E731
LECUN_U: Formula = lambda i, o, s: uniform(math.sqrt(3 / i))  # noqa: E731
LECUN_N: Formula = lambda i, o, s: corrected(math.sqrt(1 / i))  # noqa: E731
TORCH_DEFAULT: Formula = lambda i, o, s: uniform(1 / math.sqrt(i))  # noqa: E731
ORTHO: Formula = lambda i, o, s: (0.0, 1 / math.sqrt(max(s[0], i)), -1.0, 1.0)  # noqa: E731
EYE: Formula = lambda i, o, s: ones_at(min(s) / math.prod(s), 1.0)  # noqa: E731
DIRAC: Formula = lambda i, o, s: ones_at(min(s[:2]) / math.prod(s), 1.0)  # noqa: E731
# sparse(sparsity=0.5) on (64, 32): 32 zeros per column, N(0, 0.01^2) elsewhere.
SPARSE: Formula = lambda i, o, s: (0.0, 0.01 * math.sqrt(0.5), -INF, INF)  # noqa: E731
# delta_orthogonal on (64, 32, 3, 3): a 32x64 orthogonal matrix at 1 of 9 kernel taps.
DELTA: Formula = lambda i, o, s: (0.0, math.sqrt(1 / 9 / 64), -1.0, 1.0)  # noqa: E731
FAMILY = {
    "glorot_uniform": GLOROT_U,
    "glorot_normal": GLOROT_N,
    "he_uniform": HE_U,
    "he_normal": HE_N,
    "lecun_uniform": LECUN_U,
    "lecun_normal": LECUN_N,
}
EXPECTED: dict[str, Formula] = {
    "zeros": lambda i, o, s: constant(0.0),
    "ones": lambda i, o, s: constant(1.0),
    "constant": lambda i, o, s: constant(0.0),
    "random_normal": lambda i, o, s: normal(1.0),
    "random_uniform": lambda i, o, s: uniform(1.0, 0.0),
    "truncated_normal": lambda i, o, s: cut2(1.0),
    **FAMILY,
    "variance_scaling": LECUN_N,
    "orthogonal": ORTHO,
    "identity": EYE,
    "dirac": DIRAC,
    "uniform_unit_scaling": LECUN_U,
    "sparse": SPARSE,
    "torch_default": TORCH_DEFAULT,
    "delta_orthogonal": DELTA,
    # PyTorch: untruncated normals, gain sqrt(2) for kaiming's default leaky_relu(a=0).
    "torch.zeros": lambda i, o, s: constant(0.0),
    "torch.ones": lambda i, o, s: constant(1.0),
    "torch.constant": lambda i, o, s: constant(0.1),
    "torch.uniform": lambda i, o, s: uniform(1.0, 0.0),
    "torch.normal": lambda i, o, s: normal(1.0),
    "torch.trunc_normal": lambda i, o, s: cut2(1.0),
    "torch.xavier_uniform": GLOROT_U,
    "torch.xavier_normal": lambda i, o, s: normal(math.sqrt(2 / (i + o))),
    "torch.kaiming_uniform": HE_U,
    "torch.kaiming_normal": lambda i, o, s: normal(math.sqrt(2 / i)),
    "torch.orthogonal": ORTHO,
    "torch.eye": EYE,
    "torch.dirac": DIRAC,
    "torch.sparse": SPARSE,
    "torch.default": TORCH_DEFAULT,
    # Keras 3
    "keras.zeros": lambda i, o, s: constant(0.0),
    "keras.ones": lambda i, o, s: constant(1.0),
    "keras.constant": lambda i, o, s: constant(0.0),
    "keras.random_normal": lambda i, o, s: normal(0.05),
    "keras.random_uniform": lambda i, o, s: uniform(0.05),
    "keras.truncated_normal": lambda i, o, s: cut2(0.05),
    "keras.variance_scaling": LECUN_N,
    **{f"keras.{name}": formula for name, formula in FAMILY.items()},
    "keras.orthogonal": ORTHO,
    "keras.identity": EYE,
    # TensorFlow 1; contrib: sigma = sqrt(1.3 factor / n), factor 2 on fan_in by default.
    "tf1.zeros": lambda i, o, s: constant(0.0),
    "tf1.ones": lambda i, o, s: constant(1.0),
    "tf1.constant": lambda i, o, s: constant(0.0),
    "tf1.random_normal": lambda i, o, s: normal(1.0),
    "tf1.random_uniform": lambda i, o, s: uniform(1.0, 0.0),
    "tf1.truncated_normal": lambda i, o, s: cut2(1.0),
    # init_ops.py: tf.glorot_*_initializer, tf.initializers.he_* / lecun_* and
    # tf.variance_scaling_initializer are Keras's VarianceScaling laws.
    **{f"tf1.{name}": formula for name, formula in FAMILY.items()},
    "tf1.variance_scaling_initializer": LECUN_N,
    "tf1.variance_scaling": lambda i, o, s: cut2(math.sqrt(1.3 * 2 / i)),
    "tf1.xavier": GLOROT_U,
    "tf1.uniform_unit_scaling": LECUN_U,
    "tf1.orthogonal": ORTHO,
    "tf1.identity": EYE,
    # JAX
    "jax.zeros": lambda i, o, s: constant(0.0),
    "jax.ones": lambda i, o, s: constant(1.0),
    "jax.constant": lambda i, o, s: constant(0.1),
    "jax.uniform": lambda i, o, s: uniform(0.01, 0.0),
    "jax.normal": lambda i, o, s: normal(0.01),
    "jax.truncated_normal": lambda i, o, s: cut2(0.01),
    "jax.variance_scaling": HE_N,
    **{f"jax.{name}": formula for name, formula in FAMILY.items()},
    "jax.orthogonal": ORTHO,
    "jax.delta_orthogonal": DELTA,
}


def test_every_entry_has_a_formula() -> None:
    assert set(EXPECTED) == set(REGISTRY)


@pytest.mark.parametrize("name", IDS)
def test_law_matches_formula(name: str) -> None:
    init = resolve_example(name)
    shape = weight_shape(init)
    fans = compute_fans(shape, "torch")
    mean, std, low, high = EXPECTED[name](fans.fan_in, fans.fan_out, shape)
    law = init.distribution(shape)
    assert law.mean() == pytest.approx(mean, rel=1e-12, abs=1e-15)
    assert law.std() == pytest.approx(std, rel=1e-12, abs=1e-15)
    assert law.bounds() == pytest.approx((low, high), rel=1e-12)


def test_truncation_constant_is_the_std_of_a_cut_normal() -> None:
    assert pytest.approx(stats.truncnorm.std(-2, 2), rel=1e-15) == TRUNC2_STD


# --- samples against their own law -------------------------------------------------------
def continuous_part(values: np.ndarray, law: Distribution) -> np.ndarray:
    flat = values.reshape(-1).astype(np.float64)
    for value, _ in law.atoms():
        flat = flat[flat != value]
    return flat


@pytest.mark.parametrize("name", IDS)
def test_samples_follow_the_law(name: str) -> None:
    init = resolve_example(name)
    shape = weight_shape(init)
    law = init.distribution(shape)
    values = sample_weight(init, shape, np.random.default_rng(7), np.float32)
    assert values.shape == shape and values.dtype == np.float32
    low, high = law.bounds()
    assert values.min() >= np.float32(low) and values.max() <= np.float32(high)
    for value, mass in law.atoms():  # point masses are exact counts, not random
        assert np.count_nonzero(values == np.float32(value)) == round(mass * values.size)
    if not law.has_density:
        return
    part = continuous_part(values, law)
    assert stats.kstest(part, law.base_cdf).pvalue > P_MIN
    n, sigma = values.size, law.std()
    flat = values.astype(np.float64).reshape(-1)
    fourth = float(np.mean((flat - flat.mean()) ** 4))
    assert abs(flat.mean() - law.mean()) < SIGMAS * sigma / math.sqrt(n)
    std_error = math.sqrt(max(fourth - sigma**4, 0.0) / n) / (2 * sigma)
    assert abs(flat.std() - sigma) < SIGMAS * std_error + 1e-7


@pytest.mark.parametrize("name", IDS)
def test_seeds(name: str) -> None:
    init = resolve_example(name)
    shape = weight_shape(init)

    def draw(seed: int) -> np.ndarray:
        return sample_weight(init, shape, np.random.default_rng(seed), np.float32)

    np.testing.assert_array_equal(draw(3), draw(3))
    random = init.distribution(shape).has_density
    assert (not np.array_equal(draw(3), draw(4))) is random


@pytest.mark.parametrize("name", IDS)
def test_any_layout_gives_the_same_law(name: str) -> None:
    init = resolve_example(name)
    shape = weight_shape(init)
    for layout in ("keras", "jax"):
        written = torch_to_layout(shape, layout)
        assert init.distribution(written, layout) == init.distribution(shape, "torch")
        values = init.sample(written, np.random.default_rng(0), layout)
        assert values.shape == written


@pytest.mark.parametrize("name", IDS)
def test_float64(name: str) -> None:
    init = resolve_example(name)
    values = init.sample(weight_shape(init), np.random.default_rng(0), dtype=np.float64)
    assert values.dtype == np.float64


# --- structure -----------------------------------------------------------------------------
ORTHOGONAL = [e.name for e in ENTRIES if isinstance(resolve_example(e.name).law, Orthogonal)]


@pytest.mark.parametrize("name", ORTHOGONAL)
@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (16, 8, 3, 3), (96, 8, 1, 3)])
def test_orthogonal_is_orthogonal(name: str, shape: tuple[int, ...]) -> None:
    init = resolve_example(name)
    gain = init.law.gain  # type: ignore[attr-defined]
    matrix = sample_weight(init, shape, np.random.default_rng(1), np.float64).reshape(shape[0], -1)
    small = min(matrix.shape)
    gram = matrix @ matrix.T if matrix.shape[0] == small else matrix.T @ matrix
    np.testing.assert_allclose(gram, gain**2 * np.eye(small), atol=1e-12)


def test_orthogonal_gain_and_float32() -> None:
    init = resolve_initializer("orthogonal(gain=2.0)")
    matrix = sample_weight(init, (50, 20), np.random.default_rng(0), np.float32)
    np.testing.assert_allclose(matrix.T @ matrix, 4 * np.eye(20), atol=2e-5)


@pytest.mark.parametrize("spec", ["identity", "torch.eye", "keras.identity(gain=0.5)", "eye"])
@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5)])
def test_identity_is_the_identity(spec: str, shape: tuple[int, int]) -> None:
    init = resolve_initializer(spec)
    gain = init.params.get("gain", 1.0)
    values = sample_weight(init, shape, np.random.default_rng(0), np.float32)
    np.testing.assert_array_equal(values, np.float32(gain) * np.eye(*shape, dtype=np.float32))


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("shape", [(8, 4, 3), (8, 6, 3, 5), (4, 2, 3, 3, 2), (6, 8, 4, 4)])
def test_dirac_structure(groups: int, shape: tuple[int, ...]) -> None:
    values = sample_weight(
        resolve_initializer(f"dirac(groups={groups})"), shape, np.random.default_rng(0), np.float32
    )
    per_group = shape[0] // groups
    centre = tuple(k // 2 for k in shape[2:])
    expected = np.zeros(shape, dtype=np.float32)
    for out in range(shape[0]):
        d = out % per_group
        if d < min(per_group, shape[1]):
            expected[(out, d, *centre)] = 1
    np.testing.assert_array_equal(values, expected)


def test_dirac_refuses_bad_groups_and_ranks() -> None:
    with pytest.raises(InitcliError, match="not divisible by groups=3"):
        resolve_initializer("dirac(groups=3)").distribution((8, 4, 3, 3))
    with pytest.raises(InitcliError, match=r"^dirac: needs a 3-, 4- or 5-D"):
        resolve_initializer("dirac").distribution((8, 4))


@pytest.mark.parametrize("kernel", [(3,), (3, 3), (4, 4), (3, 2, 5)])
def test_delta_orthogonal_structure(kernel: tuple[int, ...]) -> None:
    init = resolve_initializer("jax.delta_orthogonal(scale=2.0)")
    keras_shape = (*kernel, 8, 16)
    values = init.sample(keras_shape, np.random.default_rng(0), "jax").astype(np.float64)
    centre = tuple((k - 1) // 2 for k in kernel)  # JAX's centre; PyTorch's dirac uses k // 2
    matrix = values[centre]
    np.testing.assert_allclose(matrix @ matrix.T, 4 * np.eye(8), atol=1e-5)
    values[centre] = 0
    assert not values.any()
    with pytest.raises(InitcliError, match="in <= out"):
        init.distribution((*kernel, 16, 8), "jax")


def test_sparse_zeros_per_column() -> None:
    init = resolve_initializer("sparse(sparsity=0.3, std=0.5)")
    values = sample_weight(init, (50, 40), np.random.default_rng(0), np.float32)
    assert (np.count_nonzero(values == 0, axis=0) == math.ceil(0.3 * 50)).all()
    with pytest.raises(InitcliError, match="2-D weight"):
        init.distribution((50, 40, 3))


def test_identity_refuses_convolutions() -> None:
    with pytest.raises(InitcliError, match=r"^identity: needs a 2-D weight.*use dirac"):
        resolve_initializer("identity").distribution((8, 4, 3, 3))


# --- biases ----------------------------------------------------------------------------------
def test_torch_default_bias_uses_the_weights_fan_in() -> None:
    init = resolve_initializer("torch_default")
    fans = compute_fans((64, 32, 3, 3), "torch")
    bias = sample_bias(init, 64, fans, np.random.default_rng(0), np.float32)
    limit = 1 / math.sqrt(fans.fan_in)
    assert bias.shape == (64,) and np.abs(bias).max() <= limit
    assert bias_distribution(init, 64, fans).bounds() == pytest.approx((-limit, limit))


@pytest.mark.parametrize(
    ("spec", "limit"),
    [
        ("keras.he_uniform", math.sqrt(6 / 10)),  # Keras: fan_in = fan_out = units
        ("glorot_uniform", math.sqrt(6 / 20)),  # bare names follow Keras
        ("tf1.uniform_unit_scaling(factor=2.0)", 2 * math.sqrt(3)),  # prod(shape[:-1]) = 1
    ],
)
def test_bias_rank_one_rules(spec: str, limit: float) -> None:
    init = resolve_initializer(spec)
    bias = sample_bias(init, 10, Fans(5, 7, 1), np.random.default_rng(0), np.float32)
    assert bias.shape == (10,) and np.abs(bias).max() <= limit
    assert bias_distribution(init, 10, Fans(5, 7, 1)).bounds() == pytest.approx((-limit, limit))


@pytest.mark.parametrize("spec", ["torch.kaiming_normal", "jax.glorot_normal", "orthogonal"])
def test_bias_refused_where_the_framework_refuses_rank_one(spec: str) -> None:
    init = resolve_initializer(spec)
    with pytest.raises(InitcliError) as info:
        sample_bias(init, 10, Fans(5, 7, 1), np.random.default_rng(0), float)
    assert info.value.exit_code == EXIT_BAD_USAGE
    assert spec in info.value.message and "2 dimensions" in info.value.message
    with pytest.raises(InitcliError):
        bias_distribution(init, 10, Fans(5, 7, 1))


def test_zeros_bias() -> None:
    bias = sample_bias(
        resolve_initializer("zeros"), 4, Fans(5, 7, 1), np.random.default_rng(0), float
    )
    np.testing.assert_array_equal(bias, np.zeros(4))


# --- names, specs, parameters ------------------------------------------------------------------
@pytest.mark.parametrize("name", known_names())
def test_every_name_resolves_to_its_entry(name: str) -> None:
    entry = next(e for e in ENTRIES if name in (e.name, *e.aliases))
    spec = entry.example.replace(entry.name, name, 1) if entry.example else name
    init = resolve_initializer(spec)
    assert init.name == entry.name
    if "." in entry.name:
        assert init.framework == entry.name.split(".")[0]
    else:
        assert init.framework == "initcli"


@pytest.mark.parametrize(
    "spec",
    [
        *[entry.example or entry.name for entry in ENTRIES],
        "he_normal(a=0.1, nonlinearity=leaky_relu)",
        "kaiming_normal(a=0.1, nonlinearity=leaky_relu, mode=fan_out)",
        "variance_scaling(scale=2.0, mode=fan_out, distribution=uniform)",
        "truncated_normal(std=0.02)",
        "constant(value=0.1)",
        "orthogonal(gain=sqrt(2))",
        "orthogonal(gain=1.41)",
        "torch.kaiming_normal(a=0.1, nonlinearity=leaky_relu, mode=fan_in)",
        "torch.trunc_normal(std=0.02, a=-0.04, b=0.04)",
        "tf1.variance_scaling(factor=2.0, mode=FAN_IN, uniform=False)",
        "keras.variance_scaling(distribution=normal)",
        "random_uniform(minval=-1, maxval=1)",
        "torch.xavier_normal_",
        "TORCH.Xavier_Normal",
    ],
)
def test_spec_round_trips(spec: str) -> None:
    init = resolve_initializer(spec)
    again = resolve_initializer(init.spec)
    assert again == init and again.spec == init.spec and hash(again) == hash(init)
    assert again.describe() == init.describe()


def test_canonical_specs() -> None:
    assert resolve_initializer("kaiming").spec == "he_normal"
    assert resolve_initializer("he_normal(a=0.0)").spec == "he_normal"
    assert resolve_initializer("torch.xavier_normal_").spec == "torch.xavier_normal"
    assert resolve_initializer("uniform(minval=-1, maxval=1)").spec == "random_uniform(low=-1.0)"
    # Keras accepts distribution="normal" as the old name of truncated_normal.
    keras = resolve_initializer("keras.variance_scaling(distribution=normal)")
    assert keras.spec == "keras.variance_scaling"
    assert keras.distribution((8, 8), "keras").kind == "truncated_normal"
    assert resolve_initializer("tf1.variance_scaling(mode=fan_avg)").params["mode"] == "FAN_AVG"


def test_bare_names_meanings() -> None:
    shape = (64, 32)
    assert resolve_initializer("xavier_normal").distribution(shape).kind == "truncated_normal"
    assert resolve_initializer("torch.xavier_normal").distribution(shape).kind == "normal"
    normal = resolve_initializer("variance_scaling(distribution=normal)")
    assert normal.distribution(shape).kind == "normal"  # JAX's meaning: untruncated
    # a, b in standard deviations: std=0.02 cuts at ±0.04, unlike torch.trunc_normal.
    assert resolve_initializer("truncated_normal(std=0.02)").distribution(shape).bounds() == (
        pytest.approx((-0.04, 0.04))
    )
    assert resolve_initializer("torch.trunc_normal(std=0.02)").distribution(shape).bounds() == (
        -2.0,
        2.0,
    )
    leaky = resolve_initializer("kaiming_normal(a=0.1, nonlinearity=leaky_relu)")
    expected = math.sqrt(2 / (1 + 0.1**2)) / math.sqrt(32)
    assert leaky.distribution(shape).std() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("spec", "pieces"),
    [
        ("he_norml", ["unknown initializer 'he_norml'", "did you mean he_normal?"]),
        ("torch.xavier_norml", ["did you mean torch.xavier_normal?"]),
        ("he_normal(b=1)", ["he_normal", "unknown parameter 'b'", "a, mode, nonlinearity"]),
        ("torch.trunc_normal(stddev=1)", ["unknown parameter 'stddev'", "did you mean std?"]),
        ("random_normal(std=-1)", ["std=-1", "out of range", "[0.0, inf)"]),
        ("torch.sparse(sparsity=1.0)", ["sparsity=1.0", "[0.0, 1.0)"]),
        ("torch.sparse", ["sparsity is required", "torch.sparse(sparsity=0.5)"]),
        ("orthogonal(gain=0)", ["gain=0", "(0.0, inf)"]),
        ("dirac(groups=0)", ["groups=0", "[1, inf)"]),
        ("he_normal(mode=fan_avg)", ["mode=fan_avg", "one of fan_in, fan_out"]),
        ("he_normal(nonlinearity=gelu)", ["nonlinearity=gelu", "one of"]),
        ("random_uniform(low=1, high=0)", ["low=1 must be less than high=0"]),
        ("torch.trunc_normal(a=1, b=-1)", ["a must be less than b"]),
        ("torch.trunc_normal(std=0.01, a=1, b=2)", ["more than 30 std"]),
        ("jax.variance_scaling(scale=2.0)", ["mode is required"]),
        ("he_normal(", ["unbalanced parentheses"]),
    ],
)
def test_bad_specs_say_what_and_how(spec: str, pieces: list[str]) -> None:
    with pytest.raises(InitcliError) as info:
        resolve_initializer(spec)
    assert info.value.exit_code == EXIT_BAD_USAGE
    assert "\n" not in info.value.message
    for piece in pieces:
        assert piece in info.value.message


def test_list_covers_the_registry() -> None:
    infos = list_initializers()
    assert [info.name for info in infos] == IDS
    for info in infos:
        assert info.summary.distribution and info.description
    for row in CONTRAST:
        for spec in row[1:]:
            resolve_initializer(spec)


# --- differential: the frameworks themselves ------------------------------------------------
N_MIN = 40_000  # elements per side of every two-sample test


def pooled(draw: Callable[[int], np.ndarray], n_min: int = N_MIN) -> np.ndarray:
    """Concatenate draws with seeds 0, 1, ... until at least ``n_min`` elements."""
    parts, total, seed = [], 0, 0
    while total < n_min:
        part = np.asarray(draw(seed), dtype=np.float64).reshape(-1)
        parts.append(part)
        total += part.size
        seed += 1
    return np.concatenate(parts)


def ours(spec: str, shape: tuple[int, ...], layout: str) -> np.ndarray:
    init = resolve_initializer(spec)
    return pooled(lambda seed: init.sample(shape, np.random.default_rng(1000 + seed), layout))


def same_law(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.ks_2samp(a, b).pvalue)


TORCH_SHAPES = [(96, 64), (32, 16, 3, 3)]


def torch_cases() -> list[tuple[str, Callable[..., object]]]:
    torch = pytest.importorskip("torch")
    init = torch.nn.init
    return [
        ("torch.xavier_uniform", lambda t: init.xavier_uniform_(t)),
        ("torch.xavier_normal(gain=2.0)", lambda t: init.xavier_normal_(t, gain=2.0)),
        (
            "torch.kaiming_uniform(a=0.1, mode=fan_out)",
            lambda t: init.kaiming_uniform_(t, a=0.1, mode="fan_out"),
        ),
        (
            "torch.kaiming_normal(nonlinearity=tanh)",
            lambda t: init.kaiming_normal_(t, nonlinearity="tanh"),
        ),
        (
            "torch.trunc_normal(mean=0.1, std=0.5, a=-0.3, b=1.0)",
            lambda t: init.trunc_normal_(t, 0.1, 0.5, -0.3, 1.0),
        ),
        (
            "torch.trunc_normal(std=0.1, a=0.2, b=0.4)",
            lambda t: init.trunc_normal_(t, 0, 0.1, 0.2, 0.4),
        ),
        ("torch.normal(mean=0.2, std=0.3)", lambda t: init.normal_(t, 0.2, 0.3)),
        ("torch.uniform(a=-0.3, b=0.7)", lambda t: init.uniform_(t, -0.3, 0.7)),
        ("torch.orthogonal(gain=1.5)", lambda t: init.orthogonal_(t, gain=1.5)),
        ("torch_default", lambda t: init.kaiming_uniform_(t, a=math.sqrt(5))),
        ("torch.default", lambda t: init.kaiming_uniform_(t, a=math.sqrt(5))),
        ("kaiming_uniform(a=0.2)", lambda t: init.kaiming_uniform_(t, a=0.2)),  # same as torch
        ("xavier_uniform(gain=3.0)", lambda t: init.xavier_uniform_(t, gain=3.0)),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("shape", TORCH_SHAPES)
def test_matches_torch_in_distribution(shape: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch")

    def theirs(fill: Callable[..., object]) -> np.ndarray:
        def draw(seed: int) -> np.ndarray:
            torch.manual_seed(seed)
            tensor = torch.empty(shape)
            fill(tensor)
            return tensor.numpy()

        return pooled(draw)

    for spec, fill in torch_cases():
        assert same_law(ours(spec, shape, "torch"), theirs(fill)) > P_MIN, spec


def test_matches_torch_exactly_where_deterministic() -> None:
    torch = pytest.importorskip("torch")
    for shape in [(8, 4, 3), (8, 6, 3, 4), (4, 2, 3, 3, 2)]:
        for groups in (1, 2):
            tensor = torch.empty(shape)
            torch.nn.init.dirac_(tensor, groups=groups)
            init = resolve_initializer(f"torch.dirac(groups={groups})")
            ours_ = sample_weight(init, shape, np.random.default_rng(0), np.float32)
            np.testing.assert_array_equal(ours_, tensor.numpy())
    for shape in [(5, 3), (3, 5)]:
        tensor = torch.empty(shape)
        torch.nn.init.eye_(tensor)
        ours_ = sample_weight(
            resolve_initializer("torch.eye"), shape, np.random.default_rng(0), float
        )
        np.testing.assert_array_equal(ours_, tensor.numpy())


def test_matches_torch_sparse_and_linear_defaults() -> None:
    torch = pytest.importorskip("torch")

    def sparse(seed: int) -> np.ndarray:
        torch.manual_seed(seed)
        tensor = torch.empty(64, 48)
        torch.nn.init.sparse_(tensor, sparsity=0.25, std=0.2)
        return tensor.numpy()

    theirs = pooled(sparse)
    mine = ours("torch.sparse(sparsity=0.25, std=0.2)", (64, 48), "torch")
    assert np.mean(theirs == 0) == np.mean(mine == 0) == math.ceil(0.25 * 64) / 64
    assert same_law(mine[mine != 0], theirs[theirs != 0]) > P_MIN

    def linear_bias(seed: int) -> np.ndarray:
        torch.manual_seed(seed)
        return torch.nn.Conv2d(16, 512, 3).bias.detach().numpy()

    init = resolve_initializer("torch_default")
    fans = compute_fans((512, 16, 3, 3), "torch")
    mine = pooled(
        lambda seed: sample_bias(init, 512, fans, np.random.default_rng(seed), np.float32)
    )
    assert same_law(mine, pooled(linear_bias)) > P_MIN


KERAS_SHAPES = [(64, 96), (3, 3, 16, 32)]


@pytest.mark.slow
@pytest.mark.parametrize("shape", KERAS_SHAPES)
def test_matches_keras_in_distribution(shape: tuple[int, ...]) -> None:
    keras = pytest.importorskip("keras")
    k = keras.initializers
    cases: list[tuple[str, Callable[[int], object]]] = [
        ("keras.glorot_normal", lambda s: k.GlorotNormal(seed=s)),
        ("keras.glorot_uniform", lambda s: k.GlorotUniform(seed=s)),
        ("keras.he_normal", lambda s: k.HeNormal(seed=s)),
        ("keras.he_uniform", lambda s: k.HeUniform(seed=s)),
        ("keras.lecun_normal", lambda s: k.LecunNormal(seed=s)),
        ("keras.lecun_uniform", lambda s: k.LecunUniform(seed=s)),
        (
            "keras.variance_scaling(scale=2.0, mode=fan_out, distribution=untruncated_normal)",
            lambda s: k.VarianceScaling(2.0, "fan_out", "untruncated_normal", seed=s),
        ),
        (
            "keras.variance_scaling(scale=0.5, mode=fan_avg, distribution=normal)",
            lambda s: k.VarianceScaling(0.5, "fan_avg", "normal", seed=s),
        ),
        (
            "keras.truncated_normal(mean=0.1, stddev=0.3)",
            lambda s: k.TruncatedNormal(0.1, 0.3, seed=s),
        ),
        ("keras.random_normal(mean=-0.1, stddev=0.2)", lambda s: k.RandomNormal(-0.1, 0.2, seed=s)),
        ("keras.random_uniform", lambda s: k.RandomUniform(seed=s)),
        ("keras.orthogonal(gain=2.0)", lambda s: k.Orthogonal(gain=2.0, seed=s)),
        ("glorot_normal", lambda s: k.GlorotNormal(seed=s)),  # bare names follow Keras
        ("he_normal", lambda s: k.HeNormal(seed=s)),
        ("tf1.glorot_normal", lambda s: k.GlorotNormal(seed=s)),
        # TF1's tf.initializers.he_normal / lecun_uniform and tf.variance_scaling_initializer
        # are init_ops.VarianceScaling, the law Keras 3 kept (REFERENCE.md, TensorFlow 1)
        ("tf1.he_normal", lambda s: k.HeNormal(seed=s)),
        ("tf1.lecun_uniform", lambda s: k.LecunUniform(seed=s)),
        (
            "tf1.variance_scaling_initializer(scale=2.0, mode=fan_avg, distribution=normal)",
            lambda s: k.VarianceScaling(2.0, "fan_avg", "truncated_normal", seed=s),
        ),
    ]
    for spec, make in cases:
        theirs = pooled(lambda seed, make=make: np.asarray(make(seed)(shape)))  # type: ignore[misc]
        assert same_law(ours(spec, shape, "keras"), theirs) > P_MIN, spec


def test_keras_variance_scaling_std_equals_ours() -> None:
    keras = pytest.importorskip("keras")
    shape = (3, 3, 32, 64)
    for scale, mode in [(2.0, "fan_in"), (1.0, "fan_avg"), (0.3, "fan_out")]:
        spec = f"keras.variance_scaling(scale={scale}, mode={mode})"
        law = resolve_initializer(spec).distribution(shape, "keras")
        fans = compute_fans(shape, "keras")
        n = {"fan_in": fans.fan_in, "fan_out": fans.fan_out}.get(
            mode, (fans.fan_in + fans.fan_out) / 2
        )
        assert law.std() == pytest.approx(math.sqrt(scale / n), rel=1e-12)
        theirs = np.concatenate(
            [
                np.asarray(keras.initializers.VarianceScaling(scale, mode, seed=s)(shape)).ravel()
                for s in range(4)
            ]
        ).astype(np.float64)
        se = law.std() / math.sqrt(2 * theirs.size)  # sqrt((kurtosis - 1) / 4n), kurtosis < 3
        assert abs(theirs.std() - law.std()) < SIGMAS * se
    identity = np.asarray(keras.initializers.Identity(gain=0.5)((4, 6)))
    mine = resolve_initializer("keras.identity(gain=0.5)").sample(
        (4, 6), np.random.default_rng(0), "keras"
    )
    np.testing.assert_array_equal(mine, identity)


@pytest.mark.slow
def test_matches_jax_in_distribution() -> None:
    jax = pytest.importorskip("jax")
    j = jax.nn.initializers
    dense, conv = KERAS_SHAPES
    cases: list[tuple[str, Callable[..., object], tuple[int, ...]]] = [
        ("jax.glorot_normal", j.glorot_normal(), dense),
        ("jax.glorot_normal", j.glorot_normal(), conv),
        ("jax.he_uniform", j.he_uniform(), dense),
        (
            "jax.variance_scaling(scale=2.0, mode=fan_geo_avg, distribution=normal)",
            j.variance_scaling(2.0, "fan_geo_avg", "normal"),
            conv,
        ),
        (
            "jax.truncated_normal(stddev=0.5, lower=-1.0, upper=3.0)",
            j.truncated_normal(0.5, lower=-1.0, upper=3.0),
            dense,
        ),
        ("jax.orthogonal(scale=1.5)", j.orthogonal(1.5), dense),
        ("jax.delta_orthogonal", j.delta_orthogonal(), conv),
    ]
    for spec, init, shape in cases:

        def draw(
            seed: int, init: Callable[..., object] = init, shape: tuple[int, ...] = shape
        ) -> np.ndarray:
            return np.asarray(init(jax.random.PRNGKey(seed), shape))

        theirs, mine = pooled(draw), ours(spec, shape, "jax")
        if spec == "jax.delta_orthogonal":  # compare the non-zero (centre) entries
            theirs, mine = theirs[theirs != 0], mine[mine != 0]
        assert same_law(mine, theirs) > P_MIN, spec


def test_frameworks_disagree_where_list_says_so() -> None:
    """Power check: the two-sample test sees PyTorch's untruncated xavier_normal differ from
    Keras' truncated glorot_normal (same std, different tails)."""
    keras_like = ours("keras.glorot_normal", (256, 256), "torch")
    torch_like = ours("torch.xavier_normal", (256, 256), "torch")
    assert keras_like.std() == pytest.approx(torch_like.std(), rel=0.01)
    assert same_law(keras_like, torch_like) < 1e-6


def test_an_unknown_parameter_names_the_entry_of_that_framework_that_takes_it() -> None:
    """tf1.variance_scaling is contrib's (factor, mode, uniform); TF1's own
    tf.variance_scaling_initializer(scale, mode, distribution) is another entry."""
    with pytest.raises(InitcliError) as refused:
        resolve_initializer("tf1.variance_scaling(scale=1.0, distribution=truncated_normal)")
    assert refused.value.message.endswith(
        "; tf1.variance_scaling_initializer takes distribution, scale"
    )
    with pytest.raises(InitcliError) as typo:
        resolve_initializer("tf1.variance_scaling(fctor=1.0)")
    assert "did you mean factor?" in typo.value.message and "takes" not in typo.value.message


def test_weights_beyond_float32_are_inf_without_a_numpy_warning() -> None:
    """std 1e39 is a float64 number but no float32 one: the run shows inf statistics, and
    stderr stays one line per error (no RuntimeWarning from the cast)."""
    import warnings

    from initcli.initializers import sample_weight

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drawn = sample_weight(
            resolve_initializer("random_normal(std=1e39)"), (4, 4), np.random.default_rng(0),
            np.float32,
        )  # fmt: skip
    assert drawn.dtype == np.float32 and np.all(np.isinf(drawn))


def test_wide_truncation_bounds_and_a_large_scale_are_not_squared() -> None:
    """torch.trunc_normal's a, b are bounds (as wide as one likes: untruncated) and scale is
    already a variance: only parameters that get squared are held below 1.34e154."""
    wide = resolve_initializer("torch.trunc_normal(a=-1e200, b=1e200)").distribution((64, 64))
    assert wide.std() == pytest.approx(1.0, rel=1e-12)
    resolve_initializer("variance_scaling(scale=1e200)")
    with pytest.raises(InitcliError, match=r"a=-1e\+200, b=1e\+200 are too large"):
        resolve_initializer("torch.uniform(a=-1e200, b=1e200)")
    with pytest.raises(InitcliError) as hint:
        resolve_initializer("tf1.variance_scaling_initializer(factor=2.0)")
    assert hint.value.message.endswith("; tf1.variance_scaling takes factor")
