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

Every named initializer is one registry line, in the framework's table
(``initcli/initializer_tables/{bare,torch,keras,tf1,jax}.py``, read on the first lookup). A
prefix selects a framework's exact semantics, parameter names and defaults: ``torch.``
(torch.nn.init), ``keras.`` (Keras 3), ``tf1.`` (TensorFlow 1 and tf.contrib), ``jax.``
(jax.nn.initializers).

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

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from initcli.distributions import TRUNC2_STD, Distribution
from initcli.errors import EXIT_BAD_USAGE, InitcliError, did_you_mean
from initcli.fans import Fans, Layout, check_layout, compute_fans, convert_axes, convert_shape
from initcli.gains import SQUARE_LIMIT
from initcli.spec_strings import Param, Value, bind, format_call, parse_call

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


# --------------------------------------------------------------------------- registry
Params = Mapping[str, Value]


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


@dataclass(frozen=True)
class _Registry:
    entries: tuple[_Entry, ...]  # in the order ``initcli list`` shows them
    by_canonical: dict[str, _Entry]
    by_name: dict[str, _Entry]  # every accepted name, aliases included


@functools.cache
def _registry() -> _Registry:
    """The framework tables (:mod:`initcli.initializer_tables`), built on the first lookup:
    commands that never resolve a name (``initcli fans``) do not pay for them."""
    from initcli.initializer_tables import ENTRIES

    by_name: dict[str, _Entry] = {}
    for entry in ENTRIES:
        for known in (entry.name, *entry.aliases):
            assert known not in by_name, f"initializer name {known} registered twice"
            by_name[known] = entry
    return _Registry(ENTRIES, {entry.name: entry for entry in ENTRIES}, by_name)


class _RegistryView(Mapping[str, _Entry]):
    """Canonical name -> entry, in ``initcli list`` order; filled on first use."""

    def __getitem__(self, name: str) -> _Entry:
        return _registry().by_canonical[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_registry().by_canonical)

    def __len__(self) -> int:
        return len(_registry().by_canonical)


REGISTRY: Mapping[str, _Entry] = _RegistryView()


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
    return sorted(_registry().by_name)


def _lookup(name: str) -> _Entry:
    by_name = _registry().by_name
    entry = by_name.get(name) or by_name.get(name.rstrip("_"))  # torch's xavier_normal_
    if entry is None:
        raise _usage(
            f"unknown initializer {name!r}{did_you_mean(name, by_name)}; "
            "'initcli list' shows them all"
        )
    return entry


def _sibling_hint(entry: _Entry, unknown: set[str]) -> str:
    """Where the parameters ``entry`` does not take belong: a same-framework initializer of
    a similar name that takes them all (tf1.variance_scaling is contrib's, with factor;
    init_ops' tf.variance_scaling_initializer, with scale, is another entry)."""
    if not unknown:
        return ""
    stem = entry.name.split(".", 1)[-1]
    for other in _registry().entries:
        takes = {param.name for param in other.params}
        other_stem = other.name.split(".", 1)[-1]
        sibling = other is not entry and other.framework == entry.framework
        similar = stem in other_stem or other_stem in stem
        if sibling and similar and unknown <= takes:
            return f"; {other.name} takes {', '.join(sorted(unknown))}"
    return ""


# Parameters whose square enters a weight's variance or second moment: a spread, a location,
# a gain or a slope. Not ``scale`` (already a variance) and not truncation bounds, which may
# be as wide as one likes (torch.trunc_normal's a and b; kaiming's a is a slope).
_SQUARED = frozenset(
    (
        "std",
        "stddev",
        "gain",
        "factor",
        "value",
        "mean",
        "a",
        "b",
        "minval",
        "maxval",
        "low",
        "high",
    )
)


def _is_squared(entry: _Entry, key: str) -> bool:
    return key in _SQUARED and not (key in ("a", "b") and "trunc" in entry.name)


def _squares_overflow(value: Value) -> bool:
    return isinstance(value, (int, float)) and abs(value) >= SQUARE_LIMIT


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
    try:
        bound = bind(entry.name, entry.params, renamed)
    except InitcliError as err:
        hint = _sibling_hint(entry, set(renamed) - names)
        raise InitcliError(err.message + hint, err.exit_code) from None
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
    huge = [
        f"{key}={value:g}"
        for key, value in params.items()
        if _is_squared(entry, key) and _squares_overflow(value)
    ]
    if huge:  # a variance (std^2, gain^2 / fan) would overflow float64: no statistic is left
        verb, pronoun = ("is", "its square") if len(huge) == 1 else ("are", "their squares")
        raise _usage(
            f"{canonical}: {', '.join(huge)} {verb} too large: {pronoun} overflow"
            f"{'s' if len(huge) == 1 else ''} float64; keep "
            f"{'it' if len(huge) == 1 else 'them'} below {SQUARE_LIMIT:.3g}"
        )
    try:
        law = entry.build(params)
    except InitcliError as err:
        raise err.with_context(entry.name) from None
    except OverflowError:  # a product of parameters beyond float64 (each one is in range)
        raise _usage(
            f"{canonical}: its parameters overflow float64 together; give smaller ones"
        ) from None
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
    for entry in _registry().entries:
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
