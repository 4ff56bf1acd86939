"""Initializers: one variance-scaling core, named initializers as specialisations of it.

The design follows ``jax/_src/nn/initializers.py``: :class:`VarianceScaling` does the real
work (std = sqrt(scale / n), n = fan_in, fan_out, their mean or geometric mean, drawn from a
truncated normal, a normal or a uniform), and the frameworks' quirks are parameters of it:

* ``correction``: Keras/TF2/JAX divide the std of a ±2σ truncated normal by 0.87962566...
  (the std of N(0, 1) cut at ±2) so the std after truncation is exactly sqrt(scale / n);
  TF1 contrib's ``variance_scaling_initializer`` uses sqrt(1.3 * factor / n) instead, which
  is ``correction = 1 / sqrt(1.3)`` (std 0.29% high); ``correction = 1`` is early TF1.
* ``fan_floor``: Keras and TF1 use max(1, n).
* PyTorch's kaiming: std = gain / sqrt(fan) is ``scale = calculate_gain(nonlinearity, a)^2``;
  xavier's ``gain`` is ``scale = gain^2`` on fan_avg; nn.Linear/ConvNd's default
  kaiming_uniform(a=sqrt(5)) is ``scale = 1/3`` on fan_in, i.e. U(±1/sqrt(fan_in)).

Every named initializer is one registry line. A prefix selects a framework's exact
semantics, parameter names and defaults: ``torch.`` (torch.nn.init), ``keras.`` (Keras 3),
``tf1.`` (TensorFlow 1 and tf.contrib), ``jax.`` (jax.nn.initializers).

Bare names (no prefix) have one meaning each, shown by ``initcli list``:

* glorot_*, he_*, lecun_*, variance_scaling follow Keras/TF2/JAX: ``*_normal`` is a normal
  cut at ±2σ and rescaled so that its std is *exactly* the formula's (glorot_normal: std =
  sqrt(2 / (fan_in + fan_out))); ``variance_scaling(distribution=normal)`` is untruncated
  (JAX's meaning). xavier_* and kaiming_* are plain aliases, as in JAX. The PyTorch
  parameters are accepted: glorot_*(gain), he_*(a, mode, nonlinearity) with PyTorch's
  ``calculate_gain``. So bare ``xavier_normal`` is *truncated*; ``torch.xavier_normal``
  is PyTorch's untruncated normal.
* random_normal N(mean=0, std=1) and random_uniform U(low=0, high=1) use PyTorch's and
  TF1's defaults; truncated_normal(mean, std, a, b) cuts at a and b *standard deviations*
  around the mean (JAX, Keras, TF), so ``truncated_normal(std=0.02)`` cuts at ±0.04;
  ``torch.trunc_normal`` takes absolute a, b.
* torch_default, dirac, sparse follow PyTorch; uniform_unit_scaling TF1; delta_orthogonal
  JAX; orthogonal and identity agree in every framework.
* Fans: rank >= 2 by the layout of the shape; rank 0/1 by Keras' rule (fan_in = fan_out =
  size), so a bare fan-based initializer can also initialize a bias.

Sampling (:func:`sample_weight`): elementwise laws are drawn directly in the requested layout
(their law does not depend on the element order, and skipping the transpose keeps
8192x8192 draws as fast as numpy's own). Structured ones (orthogonal, identity, dirac,
sparse, delta_orthogonal) are drawn in the layout their framework defines them in (bare
names: PyTorch's, except delta_orthogonal: JAX's) and transposed into the requested layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from initcli.distributions import TRUNC2_STD, Distribution, truncated_standard_moments
from initcli.errors import EXIT_BAD_USAGE, InitcliError, did_you_mean
from initcli.fans import Fans, Layout, check_layout, compute_fans, convert_axes, convert_shape
from initcli.gains import TORCH_GAIN_NAMES, torch_gain
from initcli.specparse import Param, Value, bind, format_call, parse_call

FRAMEWORKS = ("initcli", "torch", "keras", "tf1", "jax")
FRAMEWORK_TITLES = {
    "initcli": "initcli (bare names)",
    "torch": "PyTorch (torch.nn.init)",
    "keras": "Keras 3 (keras.initializers)",
    "tf1": "TensorFlow 1 (tf.*_initializer, tf.contrib.layers)",
    "jax": "JAX (jax.nn.initializers)",
}
_NATIVE_LAYOUT: dict[str, Layout] = {
    "initcli": "torch",
    "torch": "torch",
    "keras": "keras",
    "tf1": "keras",
    "jax": "jax",
}
# Which compute_fans rule a framework applies to rank-0/1 shapes ("keras": size, size).
_SMALL_RANK_RULE = {
    "initcli": "keras",
    "torch": "torch",
    "keras": "keras",
    "tf1": "keras",
    "jax": "jax",
}

CONTRIB_CORRECTION = 1.0 / math.sqrt(1.3)  # tf.contrib: stddev = sqrt(1.3 * factor / n)
MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
# sqrt(c / n) written per mode; fan_avg as 2c / (fan_in + fan_out), as papers write it.
_MODE_TEXT = {
    "fan_in": ("{c}", "fan_in"),
    "fan_out": ("{c}", "fan_out"),
    "fan_avg": ("{c2}", "(fan_in + fan_out)"),
    "fan_geo_avg": ("{c}", "sqrt(fan_in fan_out)"),
}
_TRUNCATION_LIMIT = 30.0  # refuse intervals this many std from the mean (no mass left)


def _usage(message: str) -> InitcliError:
    return InitcliError(message, EXIT_BAD_USAGE)


@dataclass(frozen=True)
class Summary:
    """What an initializer resolves to, as ``initcli list`` shows it."""

    distribution: str
    scale: str
    mode: str
    truncation: str


class Law(Protocol):
    """What an initializer draws, given a shape in its own layout (and fans if it uses them)."""

    uses_fans: ClassVar[bool]

    def distribution(self, shape: tuple[int, ...], fans: Fans | None) -> Distribution: ...

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
        """Structured laws only; elementwise ones are drawn by Distribution.sample."""
        ...

    def summary(self) -> Summary: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class VarianceScaling:
    """The core: std = sqrt(scale / max(fan_floor, n)), n chosen by ``mode``.

    ``truncated_normal``: N(0, σ²) cut at ±2σ with σ = std / correction.
    ``normal``: N(0, std²), untruncated. ``uniform``: U(±sqrt(3 scale / n)).
    """

    scale: float
    mode: str
    distribution_name: str
    correction: float = TRUNC2_STD
    fan_floor: float = 0.0
    uses_fans: ClassVar[bool] = True

    def fan(self, fans: Fans) -> float:
        if self.mode == "fan_in":
            n: float = fans.fan_in
        elif self.mode == "fan_out":
            n = fans.fan_out
        elif self.mode == "fan_avg":
            n = (fans.fan_in + fans.fan_out) / 2.0
        else:
            n = math.sqrt(fans.fan_in * fans.fan_out)
        n = max(self.fan_floor, n)
        if n <= 0:
            raise _usage(f"{self.mode} is 0, so std = sqrt(scale / 0) is undefined")
        return n

    def std(self, fans: Fans) -> float:
        """The std the formula asks for (after truncation, when corrected)."""
        return math.sqrt(self.scale / self.fan(fans))

    def distribution(self, shape: tuple[int, ...], fans: Fans | None) -> Distribution:
        if fans is None:
            raise ValueError("variance scaling needs fans")
        variance = self.scale / self.fan(fans)
        if self.distribution_name == "uniform":
            limit = math.sqrt(3.0 * variance)
            return Distribution("uniform", low=-limit, high=limit)
        if self.distribution_name == "normal":
            return Distribution("normal", scale=math.sqrt(variance))
        sigma = math.sqrt(variance) / self.correction
        return Distribution("truncated_normal", scale=sigma, low=-2.0 * sigma, high=2.0 * sigma)

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
        raise ValueError("elementwise law: draw it with Distribution.sample")

    def _truncation(self) -> str:
        if self.distribution_name != "truncated_normal":
            return "none"
        if self.correction == TRUNC2_STD:
            return "±2σ, σ = std / 0.8796 (std exact)"
        if self.correction == CONTRIB_CORRECTION:
            return "±2σ, σ = sqrt(1.3 scale/n) (std 0.29% high)"
        return f"±2σ, σ = std / {self.correction:.6g}"

    def summary(self) -> Summary:
        name = self.distribution_name.replace("_", " ")
        mode = self.mode if not self.fan_floor else f"{self.mode}, max(1, n)"
        return Summary(name, f"{self.scale:.6g}", mode, self._truncation())

    def _formula(self, c: float) -> str:
        numerator, n = _MODE_TEXT[self.mode]
        return f"sqrt({numerator.format(c=f'{c:.6g}', c2=f'{2.0 * c:.6g}')} / {n})"

    def describe(self) -> str:
        std, limit = self._formula(self.scale), self._formula(3.0 * self.scale)
        if self.fan_floor:
            std += " (fan taken as at least 1)"
        if self.distribution_name == "uniform":
            return f"uniform U(-limit, limit), limit = {limit} (std = {std})"
        if self.distribution_name == "normal":
            return f"normal N(0, std^2), untruncated, std = {std}"
        if self.correction == TRUNC2_STD:
            return (
                f"truncated normal with std exactly {std}: N(0, σ^2) cut at ±2σ, "
                "σ = std / 0.87962566 (std of N(0,1) cut at ±2)"
            )
        if self.correction == CONTRIB_CORRECTION:
            after = math.sqrt(1.3) * TRUNC2_STD
            return (
                f"truncated normal N(0, σ^2) cut at ±2σ, σ = sqrt(1.3) * {std} "
                f"(std after truncation {after:.5f} * {std})"
            )
        return f"truncated normal N(0, σ^2) cut at ±2σ, σ = {std} / {self.correction:.6g}"


@dataclass(frozen=True)
class Elementwise:
    """A law that ignores the shape: normal, uniform, truncated normal, constant."""

    law: Distribution
    truncation: str = "none"
    uses_fans: ClassVar[bool] = False

    def distribution(self, shape: tuple[int, ...], fans: Fans | None) -> Distribution:
        return self.law

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
        raise ValueError("elementwise law: draw it with Distribution.sample")

    def summary(self) -> Summary:
        law = self.law
        if law.kind == "constant":
            return Summary("constant", f"value={law.loc:.6g}", "-", "-")
        if law.kind == "uniform":
            return Summary("uniform", f"[{law.low:.6g}, {law.high:.6g})", "-", "-")
        name = law.kind.replace("_", " ")
        return Summary(name, f"mean={law.loc:.6g}, std={law.scale:.6g}", "-", self.truncation)

    def describe(self) -> str:
        text = self.law.describe()
        if self.law.kind == "truncated_normal":
            text += f" ({self.truncation}; std after truncation {self.law.std():.6g})"
        return text


def _rank_error(shape: tuple[int, ...], needs: str) -> InitcliError:
    return _usage(f"needs {needs}, got shape {shape} of rank {len(shape)}")


def _haar(rows: int, cols: int, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """A rows x cols matrix with orthonormal columns (rows >= cols) or rows (rows < cols).

    QR of a Gaussian matrix with Q's columns multiplied by sign(diag R), which makes Q
    Haar-distributed (Mezzadri 2007), as torch.nn.init.orthogonal_ and Keras Orthogonal do.
    """
    work = np.dtype(dtype) if np.dtype(dtype) in (np.float32, np.float64) else np.float32
    gaussian = rng.standard_normal((max(rows, cols), min(rows, cols)), dtype=work)
    q, r = np.linalg.qr(gaussian)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.astype(dtype, copy=False)


@dataclass(frozen=True)
class Orthogonal:
    """gain x a (semi-)orthogonal matrix; PyTorch flattens to (shape[0], rest), Keras and
    JAX to (rest, shape[-1]) (the same filters are orthonormal either way)."""

    gain: float
    rows_first: bool
    uses_fans: ClassVar[bool] = False

    def _matrix(self, shape: tuple[int, ...]) -> tuple[int, int]:
        if len(shape) < 2:
            raise _rank_error(shape, "a weight with at least 2 dimensions")
        if self.rows_first:
            return shape[0], math.prod(shape[1:])
        return math.prod(shape[:-1]), shape[-1]

    def distribution(self, shape: tuple[int, ...], fans: Fans | None) -> Distribution:
        rows, cols = self._matrix(shape)
        return Distribution("orthogonal", scale=self.gain, dim=max(rows, cols))

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
        rows, cols = self._matrix(shape)
        matrix = _haar(rows, cols, rng, dtype)
        matrix *= self.gain
        return matrix.reshape(shape)

    def summary(self) -> Summary:
        return Summary("orthogonal", f"gain={self.gain:.6g}", "-", "-")

    def describe(self) -> str:
        flat = "(shape[0], rest)" if self.rows_first else "(rest, shape[-1])"
        return (
            f"{self.gain:.6g} x Haar-random (semi-)orthogonal matrix of the weight flattened "
            f"to {flat}: QR of a Gaussian, signs fixed by diag(R); element std = "
            "gain / sqrt(max(rows, cols))"
        )


@dataclass(frozen=True)
class Identity:
    """gain x the (rectangular) identity; 2-D weights only."""

    gain: float
    uses_fans: ClassVar[bool] = False

    def _check(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 2:
            raise _rank_error(shape, "a 2-D weight (dense layer; use dirac for convs)")

    def distribution(self, shape: tuple[int, ...], fans: Fans | None) -> Distribution:
        self._check(shape)
        return Distribution("identity", loc=self.gain, nonzero=min(shape) / math.prod(shape))

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
        self._check(shape)
        return np.eye(shape[0], shape[1], dtype=dtype) * np.asarray(self.gain, dtype=dtype)

    def summary(self) -> Summary:
        return Summary("identity", f"gain={self.gain:.6g}", "-", "-")

    def describe(self) -> str:
        return f"{self.gain:.6g} x identity matrix (rectangular allowed), 2-D only"


@dataclass(frozen=True)
class Dirac:
    """torch.nn.init.dirac_: w[g*out/groups + d, d, centre] = 1 for d < min(out/groups, in)."""

    groups: int
    uses_fans: ClassVar[bool] = False

    def _check(self, shape: tuple[int, ...]) -> tuple[int, int]:
        if len(shape) not in (3, 4, 5):
            raise _rank_error(shape, "a 3-, 4- or 5-D conv weight (out, in, *kernel)")
        if shape[0] % self.groups:
            raise _usage(f"out channels {shape[0]} are not divisible by groups={self.groups}")
        per_group = shape[0] // self.groups
        return per_group, min(per_group, shape[1])

    def distribution(self, shape: tuple[int, ...], fans: Fans | None) -> Distribution:
        _, diagonal = self._check(shape)
        return Distribution("dirac", loc=1.0, nonzero=self.groups * diagonal / math.prod(shape))

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
        per_group, diagonal = self._check(shape)
        weight = np.zeros(shape, dtype=dtype)
        d = np.arange(diagonal)
        out_index = (np.arange(self.groups)[:, None] * per_group + d[None, :]).ravel()
        index: tuple[Any, ...] = (out_index, np.tile(d, self.groups), *(k // 2 for k in shape[2:]))
        weight[index] = 1
        return weight

    def summary(self) -> Summary:
        return Summary("dirac", f"groups={self.groups}", "-", "-")

    def describe(self) -> str:
        return "Dirac delta at the kernel centre k//2 (identity conv), 3-5-D, per group"


@dataclass(frozen=True)
class Sparse:
    """torch.nn.init.sparse_: N(0, std^2), then ceil(sparsity * rows) zeros in every column."""

    sparsity: float
    std: float
    uses_fans: ClassVar[bool] = False

    def _zeros(self, shape: tuple[int, ...]) -> int:
        if len(shape) != 2:
            raise _rank_error(shape, "a 2-D weight (out, in)")
        return math.ceil(self.sparsity * shape[0])

    def distribution(self, shape: tuple[int, ...], fans: Fans | None) -> Distribution:
        zeros = self._zeros(shape)
        return Distribution("sparse", scale=self.std, nonzero=(shape[0] - zeros) / shape[0])

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
        zeros = self._zeros(shape)
        rows, cols = shape
        weight = Distribution("normal", scale=self.std).sample(shape, rng, dtype)
        if zeros:
            # a uniformly random set of `zeros` rows per column: the smallest of iid keys
            keys = rng.random((rows, cols))
            chosen = np.argpartition(keys, zeros - 1, axis=0)[:zeros]
            weight[chosen, np.arange(cols)] = 0
        return weight

    def summary(self) -> Summary:
        return Summary(
            "sparse normal", f"std={self.std:.6g}, sparsity={self.sparsity:.6g}", "-", "-"
        )

    def describe(self) -> str:
        return (
            f"N(0, {self.std:.6g}^2), then ceil({self.sparsity:.6g} * rows) entries of every "
            "column set to 0 (Martens 2010), 2-D only"
        )


@dataclass(frozen=True)
class DeltaOrthogonal:
    """jax.nn.initializers.delta_orthogonal: an orthogonal (in x out) matrix at the kernel
    centre (k-1)//2 of a (*k, in, out) kernel, zeros elsewhere; in <= out (Xiao et al. 2018).

    TF1's contrib ``convolutional_delta_orthogonal(gain)`` is the same law (the first ``in``
    rows of a Haar ``out x out`` matrix), centre and refusals; tests/test_delta_orthogonal.py
    checks this class against JAX exactly (zero pattern, scale, refusals, law)."""

    scale: float
    uses_fans: ClassVar[bool] = False

    def _check(self, shape: tuple[int, ...]) -> None:
        if len(shape) not in (3, 4, 5):
            raise _rank_error(shape, "a 3-, 4- or 5-D conv kernel")
        if shape[-2] > shape[-1]:
            raise _usage(
                f"needs in <= out channels, got in={shape[-2]}, "
                f"out={shape[-1]} (shape {shape} in JAX layout (*kernel, in, out))"
            )

    def distribution(self, shape: tuple[int, ...], fans: Fans | None) -> Distribution:
        self._check(shape)
        return Distribution(
            "delta_orthogonal",
            scale=self.scale,
            dim=shape[-1],
            nonzero=1.0 / math.prod(shape[:-2]),
        )

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
        self._check(shape)
        weight = np.zeros(shape, dtype=dtype)
        centre = tuple((k - 1) // 2 for k in shape[:-2])
        weight[centre] = _haar(shape[-2], shape[-1], rng, dtype) * self.scale
        return weight

    def summary(self) -> Summary:
        return Summary("delta orthogonal", f"scale={self.scale:.6g}", "-", "-")

    def describe(self) -> str:
        return (
            f"{self.scale:.6g} x orthogonal (in x out) matrix at the kernel centre (k-1)//2, "
            "zeros elsewhere; 3-5-D, in <= out"
        )


# --------------------------------------------------------------------------- builders
Params = Mapping[str, Value]


def _f(params: Params, key: str) -> float:
    value = params[key]
    assert isinstance(value, (int, float)), key
    return float(value)


def _s(params: Params, key: str) -> str:
    return str(params[key])


def _constant(value: float) -> Elementwise:
    return Elementwise(Distribution("constant", loc=value))


def _normal(mean: float, std: float) -> Elementwise:
    if std == 0:
        return _constant(mean)
    return Elementwise(Distribution("normal", loc=mean, scale=std))


def _uniform(low: float, high: float, names: tuple[str, str]) -> Elementwise:
    if not low < high:
        raise _usage(f"{names[0]}={low:g} must be less than {names[1]}={high:g}")
    return Elementwise(Distribution("uniform", low=low, high=high))


def _truncated(
    mean: float, std: float, low: float, high: float, names: tuple[str, str], how: str
) -> Elementwise:
    """N(mean, std^2) restricted to the absolute interval [low, high]."""
    if not low < high:
        raise _usage(f"{names[0]} must be less than {names[1]} (got {low:g} and {high:g})")
    alpha, beta = (low - mean) / std, (high - mean) / std
    if beta < -_TRUNCATION_LIMIT or alpha > _TRUNCATION_LIMIT:
        raise _usage(
            f"the interval [{low:g}, {high:g}] is more than {_TRUNCATION_LIMIT:g} std from "
            f"mean={mean:g}: it holds no probability; move it or raise std"
        )
    if truncated_standard_moments(alpha, beta)[0] == -math.inf:
        raise _usage(f"the interval [{low:g}, {high:g}] is too narrow to hold any probability")
    law = Distribution("truncated_normal", loc=mean, scale=std, low=low, high=high)
    return Elementwise(law, how)


def _kaiming_scale(params: Params) -> float:
    """PyTorch's kaiming: std = gain / sqrt(fan) with gain = calculate_gain(nonlinearity, a)."""
    return torch_gain(_s(params, "nonlinearity"), _f(params, "a")) ** 2


def _keras_vs(scale: float, mode: str, distribution: str) -> VarianceScaling:
    """keras.initializers.VarianceScaling (and TF1 init_ops): corrected, n = max(1, n)."""
    return VarianceScaling(scale, mode, distribution, TRUNC2_STD, fan_floor=1.0)


def _contrib_vs(factor: float, mode: str, uniform: bool) -> VarianceScaling:
    """tf.contrib.layers.variance_scaling_initializer: sqrt(1.3 factor / n) when not uniform."""
    return VarianceScaling(
        factor, mode.lower(), "uniform" if uniform else "truncated_normal", CONTRIB_CORRECTION
    )


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class _Entry:
    name: str
    framework: str
    build: Callable[[Params], Law]
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    reference: str = ""
    layout: Layout | None = None  # where the law is defined; default: the framework's
    small_rank: str | None = None  # rank-0/1 fan rule; default: the framework's
    bias_from_weight: bool = False  # torch_default: a bias uses the weight's fan_in
    renames: Mapping[str, str] = field(default_factory=dict)  # accepted parameter synonyms
    canonical: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # value synonyms
    example: str = ""

    @property
    def native_layout(self) -> Layout:
        return self.layout or _NATIVE_LAYOUT[self.framework]

    @property
    def small_rank_rule(self) -> str:
        return self.small_rank or _SMALL_RANK_RULE[self.framework]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.default is None)


def _positive(name: str, default: Value, help: str = "") -> Param:
    return Param(name, default, low=0.0, low_open=True, help=help)


def _nonnegative(name: str, default: Value, help: str = "") -> Param:
    return Param(name, default, low=0.0, help=help)


def _any(name: str, default: Value, help: str = "") -> Param:
    return Param(name, default, help=help)


def _choice(name: str, default: Value, choices: tuple[str, ...], help: str = "") -> Param:
    return Param(name, default, kind=str, choices=choices, help=help)


_GAIN = _positive("gain", 1.0, "multiplies the values (PyTorch's gain)")
_TORCH_KAIMING = (
    _any("a", 0.0, "negative slope of leaky_relu, passed to calculate_gain"),
    _choice("mode", "fan_in", ("fan_in", "fan_out")),
    _choice("nonlinearity", "leaky_relu", TORCH_GAIN_NAMES),
)
_FAN_MODES3 = ("fan_in", "fan_out", "fan_avg")
_BARE_RENAMES = {"stddev": "std", "minval": "low", "maxval": "high", "val": "value"}

_ENTRIES: list[_Entry] = []


def _register(
    name: str,
    framework: str,
    build: Callable[[Params], Law],
    params: tuple[Param, ...] = (),
    aliases: tuple[str, ...] = (),
    reference: str = "",
    **extra: Any,
) -> None:
    if framework != "initcli":
        name = f"{framework}.{name}"
        aliases = tuple(f"{framework}.{alias}" for alias in aliases)
    else:
        extra.setdefault("renames", _BARE_RENAMES)
    _ENTRIES.append(_Entry(name, framework, build, params, aliases, reference, **extra))


def _glorot(dist: str) -> Callable[[Params], Law]:
    return lambda p: VarianceScaling(_f(p, "gain") ** 2, "fan_avg", dist)


def _he(dist: str) -> Callable[[Params], Law]:
    return lambda p: VarianceScaling(_kaiming_scale(p), _s(p, "mode"), dist)


def _fixed_vs(scale: float, mode: str, dist: str, keras: bool) -> Callable[[Params], Law]:
    law = _keras_vs(scale, mode, dist) if keras else VarianceScaling(scale, mode, dist)
    return lambda p: law


_FAMILY = (
    ("glorot_uniform", 1.0, "fan_avg", "uniform", ("xavier_uniform", "glorot", "xavier")),
    ("glorot_normal", 1.0, "fan_avg", "truncated_normal", ("xavier_normal",)),
    ("he_uniform", 2.0, "fan_in", "uniform", ("kaiming_uniform",)),
    ("he_normal", 2.0, "fan_in", "truncated_normal", ("kaiming_normal", "he", "kaiming")),
    ("lecun_uniform", 1.0, "fan_in", "uniform", ()),
    ("lecun_normal", 1.0, "fan_in", "truncated_normal", ("lecun",)),
)


def _register_family(framework: str) -> None:
    """Glorot, He and LeCun of Keras, TF1 and JAX: one line of the core each."""
    for name, scale, mode, dist, aliases in _FAMILY:
        if framework == "tf1":
            if not name.startswith("glorot_"):
                continue  # TF1 core has glorot_*; He and LeCun came with tf.keras
            aliases = (f"{name}_initializer",)
        reference = {
            "keras": "".join(part.title() for part in name.split("_")),
            "tf1": f"tf.{name}_initializer = variance_scaling_initializer (as Keras)",
            "jax": f"jax.nn.initializers.{name}",
        }[framework]
        build = _fixed_vs(scale, mode, dist, keras=framework != "jax")
        _register(name, framework, build, (), aliases, reference)


# Bare names: one meaning each (module docstring).
_B = "initcli"
_register("zeros", _B, lambda p: _constant(0.0), reference="0 everywhere")
_register("ones", _B, lambda p: _constant(1.0), reference="1 everywhere")
_register("constant", _B, lambda p: _constant(_f(p, "value")), (_any("value", 0.0),))
_register(
    "random_normal",
    _B,
    lambda p: _normal(_f(p, "mean"), _f(p, "std")),
    (_any("mean", 0.0), _nonnegative("std", 1.0)),
    ("normal",),
    "N(mean, std^2); defaults as torch.nn.init.normal_ and TF1",
)
_register(
    "random_uniform",
    _B,
    lambda p: _uniform(_f(p, "low"), _f(p, "high"), ("low", "high")),
    (_any("low", 0.0), _any("high", 1.0)),
    ("uniform",),
    "U(low, high); defaults as torch.nn.init.uniform_ and TF1",
)
_register(
    "truncated_normal",
    _B,
    lambda p: _truncated(
        _f(p, "mean"),
        _f(p, "std"),
        _f(p, "mean") + _f(p, "a") * _f(p, "std"),
        _f(p, "mean") + _f(p, "b") * _f(p, "std"),
        ("a", "b"),
        "cut at mean + [a, b] std, uncorrected",
    ),
    (
        _any("mean", 0.0),
        _positive("std", 1.0, "std of the normal before truncation"),
        _any("a", -2.0, "lower cut, in standard deviations from the mean"),
        _any("b", 2.0, "upper cut, in standard deviations from the mean"),
    ),
    reference="bounds in std units as JAX/Keras/TF (torch.trunc_normal: absolute)",
)
_register(
    "glorot_uniform",
    _B,
    _glorot("uniform"),
    (_GAIN,),
    ("xavier_uniform", "xavier", "glorot"),
    "Glorot & Bengio 2010; = keras.glorot_uniform (x gain)",
)
_register(
    "glorot_normal",
    _B,
    _glorot("truncated_normal"),
    (_GAIN,),
    ("xavier_normal",),
    "Glorot & Bengio 2010; = keras/jax.glorot_normal (x gain)",
)
_register(
    "he_uniform",
    _B,
    _he("uniform"),
    _TORCH_KAIMING,
    ("kaiming_uniform",),
    "He et al. 2015; = keras.he_uniform; gain from calculate_gain(nonlinearity, a)",
)
_register(
    "he_normal",
    _B,
    _he("truncated_normal"),
    _TORCH_KAIMING,
    ("kaiming_normal", "he", "kaiming", "msra"),
    "He et al. 2015; = keras/jax.he_normal; gain from calculate_gain(nonlinearity, a)",
)
_register(
    "lecun_uniform",
    _B,
    _fixed_vs(1.0, "fan_in", "uniform", False),
    reference="LeCun 1998; = keras.lecun_uniform",
)
_register(
    "lecun_normal",
    _B,
    _fixed_vs(1.0, "fan_in", "truncated_normal", False),
    aliases=("lecun",),
    reference="LeCun 1998; = keras/jax.lecun_normal (Flax Dense default)",
)
_register(
    "variance_scaling",
    _B,
    lambda p: VarianceScaling(_f(p, "scale"), _s(p, "mode"), _s(p, "distribution")),
    (
        _positive("scale", 1.0),
        _choice("mode", "fan_in", MODES),
        _choice(
            "distribution",
            "truncated_normal",
            ("truncated_normal", "normal", "uniform", "untruncated_normal"),
        ),
    ),
    reference="jax.nn.initializers.variance_scaling ('normal' is untruncated)",
    canonical={"distribution": {"untruncated_normal": "normal"}},
)
_register(
    "orthogonal",
    _B,
    lambda p: Orthogonal(_f(p, "gain"), rows_first=True),
    (_GAIN,),
    reference="Saxe et al. 2013; as torch.nn.init.orthogonal_",
)
_register(
    "identity",
    _B,
    lambda p: Identity(_f(p, "gain")),
    (_GAIN,),
    ("eye",),
    "as keras.initializers.Identity",
)
_register(
    "dirac",
    _B,
    lambda p: Dirac(int(_f(p, "groups"))),
    (Param("groups", 1, kind=int, low=1),),
    reference="as torch.nn.init.dirac_",
)
_register(
    "uniform_unit_scaling",
    _B,
    lambda p: VarianceScaling(_f(p, "factor") ** 2, "fan_in", "uniform"),
    (_positive("factor", 1.0),),
    reference="as tf.uniform_unit_scaling_initializer: U(±factor sqrt(3 / prod(shape[:-1])))",
    small_rank="input_size",
)
_register(
    "sparse",
    _B,
    lambda p: Sparse(_f(p, "sparsity"), _f(p, "std")),
    (
        Param("sparsity", None, low=0.0, high=1.0, high_open=True, help="zeros per column"),
        _nonnegative("std", 0.01),
    ),
    reference="as torch.nn.init.sparse_",
    example="sparse(sparsity=0.5)",
)
_register(
    "torch_default",
    _B,
    _fixed_vs(1.0 / 3.0, "fan_in", "uniform", False),
    reference="nn.Linear/ConvNd: kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in)); "
    "as a bias: U(±1/sqrt(fan_in of the weight))",
    small_rank="torch",
    bias_from_weight=True,
)
_register(
    "delta_orthogonal",
    _B,
    lambda p: DeltaOrthogonal(_f(p, "gain")),
    (_GAIN,),
    reference="Xiao et al. 2018; as jax.nn.initializers.delta_orthogonal",
    layout="jax",
)

# PyTorch: torch.nn.init.* (torch/nn/init.py).
_T = "torch"
_register("zeros", _T, lambda p: _constant(0.0), reference="zeros_")
_register("ones", _T, lambda p: _constant(1.0), reference="ones_")
_register(
    "constant",
    _T,
    lambda p: _constant(_f(p, "val")),
    (_any("val", None),),
    reference="constant_",
    example="torch.constant(val=0.1)",
)
_register(
    "uniform",
    _T,
    lambda p: _uniform(_f(p, "a"), _f(p, "b"), ("a", "b")),
    (_any("a", 0.0), _any("b", 1.0)),
    ("random_uniform",),
    "uniform_",
)
_register(
    "normal",
    _T,
    lambda p: _normal(_f(p, "mean"), _f(p, "std")),
    (_any("mean", 0.0), _nonnegative("std", 1.0)),
    ("random_normal",),
    "normal_",
)
_register(
    "trunc_normal",
    _T,
    lambda p: _truncated(
        _f(p, "mean"), _f(p, "std"), _f(p, "a"), _f(p, "b"), ("a", "b"), "absolute [a, b]"
    ),
    (
        _any("mean", 0.0),
        _positive("std", 1.0),
        _any("a", -2.0, "absolute lower bound"),
        _any("b", 2.0, "absolute upper bound"),
    ),
    ("truncated_normal",),
    "trunc_normal_: a, b are absolute values, no variance correction",
)
_register(
    "xavier_uniform",
    _T,
    _glorot("uniform"),
    (_GAIN,),
    ("glorot_uniform", "xavier", "glorot"),
    "xavier_uniform_",
)
_register(
    "xavier_normal",
    _T,
    _glorot("normal"),
    (_GAIN,),
    ("glorot_normal",),
    "xavier_normal_: untruncated",
)
_register(
    "kaiming_uniform",
    _T,
    _he("uniform"),
    _TORCH_KAIMING,
    ("he_uniform",),
    "kaiming_uniform_: bound = gain sqrt(3 / fan)",
)
_register(
    "kaiming_normal",
    _T,
    _he("normal"),
    _TORCH_KAIMING,
    ("he_normal", "kaiming", "he", "msra"),
    "kaiming_normal_: untruncated, std = gain / sqrt(fan)",
)
_register(
    "orthogonal",
    _T,
    lambda p: Orthogonal(_f(p, "gain"), rows_first=True),
    (_GAIN,),
    reference="orthogonal_",
)
_register("eye", _T, lambda p: Identity(1.0), aliases=("identity",), reference="eye_")
_register(
    "dirac",
    _T,
    lambda p: Dirac(int(_f(p, "groups"))),
    (Param("groups", 1, kind=int, low=1),),
    reference="dirac_",
)
_register(
    "sparse",
    _T,
    lambda p: Sparse(_f(p, "sparsity"), _f(p, "std")),
    (Param("sparsity", None, low=0.0, high=1.0, high_open=True), _nonnegative("std", 0.01)),
    reference="sparse_",
    example="torch.sparse(sparsity=0.5)",
)
_register(
    "default",
    _T,
    _fixed_vs(1.0 / 3.0, "fan_in", "uniform", False),
    aliases=("torch_default", "linear", "conv"),
    reference="nn.Linear/ConvNd reset_parameters: kaiming_uniform_(a=sqrt(5)); "
    "bias U(±1/sqrt(fan_in of the weight))",
    bias_from_weight=True,
)

# Keras 3: keras.initializers.* (keras/src/initializers/).
_K = "keras"
_register("zeros", _K, lambda p: _constant(0.0), reference="Zeros")
_register("ones", _K, lambda p: _constant(1.0), reference="Ones")
_register(
    "constant", _K, lambda p: _constant(_f(p, "value")), (_any("value", 0.0),), (), "Constant"
)
_register(
    "random_normal",
    _K,
    lambda p: _normal(_f(p, "mean"), _f(p, "stddev")),
    (_any("mean", 0.0), _nonnegative("stddev", 0.05)),
    ("normal",),
    "RandomNormal",
)
_register(
    "random_uniform",
    _K,
    lambda p: _uniform(_f(p, "minval"), _f(p, "maxval"), ("minval", "maxval")),
    (_any("minval", -0.05), _any("maxval", 0.05)),
    ("uniform",),
    "RandomUniform",
)
_KERAS_TRUNC = "±2 stddev around mean, uncorrected"
_register(
    "truncated_normal",
    _K,
    lambda p: _truncated(
        _f(p, "mean"),
        _f(p, "stddev"),
        _f(p, "mean") - 2.0 * _f(p, "stddev"),
        _f(p, "mean") + 2.0 * _f(p, "stddev"),
        ("mean - 2 stddev", "mean + 2 stddev"),
        _KERAS_TRUNC,
    ),
    (_any("mean", 0.0), _positive("stddev", 0.05)),
    reference="TruncatedNormal: redraws beyond 2 stddev, actual std 0.88 stddev",
)
_register(
    "variance_scaling",
    _K,
    lambda p: _keras_vs(
        _f(p, "scale"), _s(p, "mode"), _s(p, "distribution").replace("untruncated_", "")
    ),
    (
        _positive("scale", 1.0),
        _choice("mode", "fan_in", _FAN_MODES3),
        _choice(
            "distribution",
            "truncated_normal",
            ("truncated_normal", "untruncated_normal", "uniform", "normal"),
        ),
    ),
    reference="VarianceScaling ('normal' means truncated_normal)",
    canonical={"distribution": {"normal": "truncated_normal"}},
)
_register_family("keras")
_register(
    "orthogonal",
    _K,
    lambda p: Orthogonal(_f(p, "gain"), rows_first=False),
    (_GAIN,),
    (),
    "Orthogonal",
)
_register(
    "identity", _K, lambda p: Identity(_f(p, "gain")), (_GAIN,), ("eye",), "Identity (2-D only)"
)

# TensorFlow 1: tf.*_initializer (init_ops.py) and tf.contrib.layers (initializers.py).
_F = "tf1"
_register("zeros", _F, lambda p: _constant(0.0), aliases=("zeros_initializer",))
_register("ones", _F, lambda p: _constant(1.0), aliases=("ones_initializer",))
_register(
    "constant",
    _F,
    lambda p: _constant(_f(p, "value")),
    (_any("value", 0.0),),
    ("constant_initializer",),
    "constant_initializer (scalar values only in initcli)",
)
_register(
    "random_normal",
    _F,
    lambda p: _normal(_f(p, "mean"), _f(p, "stddev")),
    (_any("mean", 0.0), _nonnegative("stddev", 1.0)),
    ("random_normal_initializer", "normal"),
    "random_normal_initializer",
)
_register(
    "random_uniform",
    _F,
    lambda p: _uniform(_f(p, "minval"), _f(p, "maxval"), ("minval", "maxval")),
    (_any("minval", 0.0), _any("maxval", 1.0)),
    ("random_uniform_initializer", "uniform"),
    "random_uniform_initializer (maxval=None means 1)",
)
_register(
    "truncated_normal",
    _F,
    lambda p: _truncated(
        _f(p, "mean"),
        _f(p, "stddev"),
        _f(p, "mean") - 2.0 * _f(p, "stddev"),
        _f(p, "mean") + 2.0 * _f(p, "stddev"),
        ("mean - 2 stddev", "mean + 2 stddev"),
        _KERAS_TRUNC,
    ),
    (_any("mean", 0.0), _positive("stddev", 1.0)),
    ("truncated_normal_initializer",),
    "truncated_normal_initializer",
)
_register_family("tf1")
_register(
    "variance_scaling",
    _F,
    lambda p: _contrib_vs(_f(p, "factor"), _s(p, "mode"), bool(p["uniform"])),
    (
        _positive("factor", 2.0),
        _choice("mode", "FAN_IN", ("FAN_IN", "FAN_OUT", "FAN_AVG")),
        Param("uniform", False, kind=bool),
    ),
    ("contrib_variance_scaling",),
    "tf.contrib.layers.variance_scaling_initializer (the 1.3 factor; "
    "tf.variance_scaling_initializer is keras.variance_scaling)",
)
_register(
    "xavier",
    _F,
    lambda p: _contrib_vs(1.0, "FAN_AVG", bool(p["uniform"])),
    (Param("uniform", True, kind=bool),),
    ("xavier_initializer",),
    "tf.contrib.layers.xavier_initializer = contrib variance_scaling(1, FAN_AVG)",
)
_register(
    "uniform_unit_scaling",
    _F,
    lambda p: VarianceScaling(_f(p, "factor") ** 2, "fan_in", "uniform"),
    (_positive("factor", 1.0),),
    ("uniform_unit_scaling_initializer",),
    "uniform_unit_scaling_initializer: U(±factor sqrt(3 / prod(shape[:-1])))",
    small_rank="input_size",
)
_register(
    "orthogonal",
    _F,
    lambda p: Orthogonal(_f(p, "gain"), rows_first=False),
    (_GAIN,),
    ("orthogonal_initializer",),
    "orthogonal_initializer",
)
_register(
    "identity",
    _F,
    lambda p: Identity(_f(p, "gain")),
    (_GAIN,),
    ("identity_initializer",),
    "identity_initializer (2-D only)",
)

# JAX: jax.nn.initializers.* (jax/_src/nn/initializers.py).
_J = "jax"
_register("zeros", _J, lambda p: _constant(0.0), reference="zeros")
_register("ones", _J, lambda p: _constant(1.0), reference="ones")
_register(
    "constant",
    _J,
    lambda p: _constant(_f(p, "value")),
    (_any("value", None),),
    reference="constant(value)",
    example="jax.constant(value=0.1)",
)
_register(
    "uniform",
    _J,
    lambda p: _uniform(0.0, _f(p, "scale"), ("0", "scale")),
    (_positive("scale", 0.01),),
    reference="uniform(scale): U[0, scale)",
)
_register(
    "normal",
    _J,
    lambda p: _normal(0.0, _f(p, "stddev")),
    (_nonnegative("stddev", 0.01),),
    reference="normal(stddev)",
)
_register(
    "truncated_normal",
    _J,
    lambda p: _truncated(
        0.0,
        _f(p, "stddev"),
        _f(p, "lower") * _f(p, "stddev"),
        _f(p, "upper") * _f(p, "stddev"),
        ("lower", "upper"),
        "cut at [lower, upper] stddev, uncorrected",
    ),
    (_positive("stddev", 0.01), _any("lower", -2.0), _any("upper", 2.0)),
    reference="truncated_normal(stddev, lower, upper): bounds in std units",
)
_register(
    "variance_scaling",
    _J,
    lambda p: VarianceScaling(_f(p, "scale"), _s(p, "mode"), _s(p, "distribution")),
    (
        _positive("scale", None),
        _choice("mode", None, MODES),
        _choice("distribution", None, ("truncated_normal", "normal", "uniform")),
    ),
    reference="variance_scaling(scale, mode, distribution); 'normal' is untruncated",
    example="jax.variance_scaling(scale=2.0, mode=fan_in, distribution=truncated_normal)",
)
_register_family("jax")
_register(
    "orthogonal",
    _J,
    lambda p: Orthogonal(_f(p, "scale"), rows_first=False),
    (_positive("scale", 1.0),),
    reference="orthogonal(scale, column_axis=-1)",
)
_register(
    "delta_orthogonal",
    _J,
    lambda p: DeltaOrthogonal(_f(p, "scale")),
    (_positive("scale", 1.0),),
    reference="delta_orthogonal(scale)",
)

REGISTRY: dict[str, _Entry] = {entry.name: entry for entry in _ENTRIES}
_BY_NAME: dict[str, _Entry] = {}
for _entry in _ENTRIES:
    for _known in (_entry.name, *_entry.aliases):
        assert _known not in _BY_NAME, f"initializer name {_known} registered twice"
        _BY_NAME[_known] = _entry


# --------------------------------------------------------------------------- resolved
@dataclass(frozen=True)
class Initializer:
    """A resolved initializer: ``spec`` names it exactly; ``resolve_initializer(spec) == self``."""

    name: str
    framework: str
    params: Mapping[str, Value]
    spec: str
    entry: _Entry = field(compare=False, repr=False)
    law: Law = field(compare=False, repr=False)

    def __hash__(self) -> int:
        return hash(self.spec)

    @property
    def layout(self) -> Layout:
        """The layout this initializer's framework defines its draws in."""
        return self.entry.native_layout

    @property
    def uses_fans(self) -> bool:
        return self.law.uses_fans

    def fans(self, shape: tuple[int, ...] | list[int], layout: Layout = "torch") -> Fans:
        """Fans of ``shape`` (written in ``layout``) under this initializer's framework."""
        dims = tuple(int(n) for n in shape)
        if len(dims) >= 2:
            return compute_fans(dims, check_layout(layout, "layout"))
        rule = self.entry.small_rank_rule
        if rule == "input_size":  # TF1 uniform_unit_scaling: prod(shape[:-1]) = 1
            return Fans(1, 1, 1)
        if rule == "keras":
            return compute_fans(dims, "keras")
        who = "PyTorch" if rule == "torch" else "JAX"
        raise _usage(
            f"{self.spec}: shape {dims} has rank {len(dims)}, and {who} computes fans only for "
            "weights with at least 2 dimensions; use a bare or keras.* initializer (fan_in = "
            "fan_out = size) or one without fans (zeros, normal)"
        )

    def distribution(
        self,
        shape: tuple[int, ...] | list[int],
        layout: Layout = "torch",
        fans: Fans | None = None,
    ) -> Distribution:
        """The law of the elements of a ``shape`` tensor (written in ``layout``)."""
        dims = tuple(int(n) for n in shape)
        layout = check_layout(layout, "layout")
        if fans is None and self.law.uses_fans:
            fans = self.fans(dims, layout)
        try:
            return self.law.distribution(convert_shape(dims, layout, self.layout), fans)
        except InitcliError as err:
            raise err.with_context(self.spec) from None

    def sample(
        self,
        shape: tuple[int, ...] | list[int],
        rng: np.random.Generator,
        layout: Layout = "torch",
        dtype: Any = np.float32,
        fans: Fans | None = None,
    ) -> np.ndarray:
        """Draw a ``shape`` tensor written in ``layout`` (see module docstring)."""
        dims = tuple(int(n) for n in shape)
        layout = check_layout(layout, "layout")
        law = self.distribution(dims, layout, fans)
        if law.is_iid:
            return law.sample(dims, rng, dtype)
        native = convert_shape(dims, layout, self.layout)
        drawn = self.law.sample(native, rng, dtype)
        if self.layout == layout or len(dims) < 2:
            return drawn
        return np.ascontiguousarray(drawn.transpose(convert_axes(len(dims), self.layout, layout)))

    def summary(self) -> Summary:
        return self.law.summary()

    def describe(self) -> str:
        """What it draws, with the framework it reproduces."""
        where = FRAMEWORK_TITLES[self.framework].split(" (")[0]
        reference = f" [{self.entry.reference}]" if self.entry.reference else ""
        return f"{self.law.describe()}; {where}{reference}"


def known_names() -> list[str]:
    """Every accepted initializer name, aliases and prefixed names included."""
    return sorted(_BY_NAME)


def _lookup(name: str) -> _Entry:
    entry = _BY_NAME.get(name) or _BY_NAME.get(name.rstrip("_"))  # torch's xavier_normal_
    if entry is None:
        raise _usage(
            f"unknown initializer {name!r}{did_you_mean(name, _BY_NAME)}; "
            "'initcli list' shows them all"
        )
    return entry


def resolve_initializer(spec: str) -> Initializer:
    """``he_normal``, ``torch.kaiming_normal(a=0.1, nonlinearity=leaky_relu)`` ... -> Initializer.

    Unknown names suggest the closest one; unknown or out-of-range parameters name
    themselves and the allowed range (:class:`InitcliError`, exit code 2).
    """
    name, given = parse_call(spec)
    entry = _lookup(name)
    renamed: dict[str, Value] = {}
    names = {param.name for param in entry.params}
    for key, value in given.items():
        target = entry.renames.get(key, key)
        target = target if target in names else key
        if target in renamed:
            raise _usage(f"{entry.name}: parameter {target!r} given twice (as {key!r})")
        renamed[target] = value
    bound = bind(entry.name, entry.params, renamed)
    for param in entry.params:
        if bound[param.name] is None:
            example = entry.example or entry.name
            raise _usage(
                f"{entry.name}: parameter {param.name} is required ({param.allowed()}); "
                f"e.g. {example}"
            )
        synonyms = entry.canonical.get(param.name, {})
        bound[param.name] = synonyms.get(str(bound[param.name]), bound[param.name])
    shown = {
        p.name: bound[p.name]
        for p in entry.params
        if p.default is None or bound[p.name] != p.default
    }
    canonical = format_call(entry.name, shown)
    # Re-read the canonical text so params hold exactly what the spec says (round-trip).
    params = bind(entry.name, entry.params, {**bound, **parse_call(canonical)[1]})
    try:
        law = entry.build(params)
    except InitcliError as err:
        raise err.with_context(entry.name) from None
    return Initializer(entry.name, entry.framework, params, canonical, entry, law)


@dataclass(frozen=True)
class InitializerInfo:
    """One registry entry as ``initcli list`` shows it (resolved with its defaults)."""

    name: str
    framework: str
    aliases: tuple[str, ...]
    params: tuple[Param, ...]
    required: tuple[str, ...]
    example: str
    reference: str
    summary: Summary
    description: str


def list_initializers() -> list[InitializerInfo]:
    """Every registered initializer, bare names first, then torch, keras, tf1, jax."""
    infos = []
    for entry in _ENTRIES:
        example = entry.example or entry.name
        init = resolve_initializer(example)
        infos.append(
            InitializerInfo(
                entry.name,
                entry.framework,
                entry.aliases,
                entry.params,
                entry.required,
                example,
                entry.reference,
                init.summary(),
                init.law.describe(),
            )
        )
    return infos


# What a name without prefix means (the module docstring has the reasons); `list` prints it.
BARE_NAMES_NOTE = (
    "Bare names: glorot/he/lecun/variance_scaling follow Keras/TF2/JAX (*_normal = normal cut "
    "at ±2σ, rescaled so its std is exactly the formula's; xavier_*/kaiming_* are aliases), "
    "accept PyTorch's gain / (a, mode, nonlinearity) parameters; random_normal/random_uniform "
    "default to N(0, 1) / U(0, 1) as PyTorch and TF1; truncated_normal's a, b are in "
    "standard deviations (torch.trunc_normal: absolute). Fans of rank 0/1 shapes follow "
    "Keras (fan_in = fan_out = size). Prefix torch., keras., tf1. or jax. for a framework's "
    "exact semantics."
)

# "Same name, different meaning" (shared/REFERENCE.md): specs whose describe() `list` shows.
CONTRAST: tuple[tuple[str, str, str, str], ...] = (
    (
        "xavier_normal / glorot_normal",
        "torch.xavier_normal",
        "keras.glorot_normal",
        "glorot_normal",
    ),
    ("kaiming_normal / he_normal", "torch.kaiming_normal", "keras.he_normal", "he_normal"),
    ("truncated normal bounds", "torch.trunc_normal", "keras.truncated_normal", "truncated_normal"),
    ("default dense/conv init", "torch.default", "keras.glorot_uniform", "torch_default"),
)
LAYOUT_CONTRAST = (
    "conv kernel layout",
    "(out, in, kh, kw)",
    "(kh, kw, in, out)",
    "weights stored (out, in, kh, kw); --layout keras|jax reads shapes as (kh, kw, in, out)",
)


def sample_weight(
    init: Initializer, torch_shape: tuple[int, ...], rng: np.random.Generator, dtype: Any
) -> np.ndarray:
    """A weight in PyTorch layout ``(out, in, *k)``, drawn as ``init``'s framework draws it."""
    return init.sample(torch_shape, rng, "torch", dtype)


def _bias_fans(init: Initializer, weight_fans: Fans) -> Fans | None:
    """The fans a bias is drawn with: the weight's for torch_default, else the rank-1 rule."""
    if init.entry.bias_from_weight:
        return weight_fans
    if init.uses_fans and init.entry.small_rank_rule in ("torch", "jax"):
        raise _usage(
            f"{init.spec} cannot initialize a bias: {FRAMEWORK_TITLES[init.framework]} computes "
            "fans only for weights with at least 2 dimensions; use zeros, torch_default or a "
            "keras.* initializer for biases"
        )
    return None


def bias_distribution(init: Initializer, units: int, weight_fans: Fans) -> Distribution:
    """The law :func:`sample_bias` draws a bias of ``units`` values from."""
    return init.distribution((units,), "torch", _bias_fans(init, weight_fans))


def sample_bias(
    init: Initializer, units: int, weight_fans: Fans, rng: np.random.Generator, dtype: Any
) -> np.ndarray:
    """A bias of ``units`` values.

    torch_default (PyTorch's layer default) draws U(±1/sqrt(fan_in of the weight)); other
    fan-based initializers use their framework's rank-1 rule (Keras and bare names:
    fan_in = fan_out = units; PyTorch and JAX refuse rank 1, and so does initcli).
    """
    return init.sample((units,), rng, "torch", dtype, fans=_bias_fans(init, weight_fans))
