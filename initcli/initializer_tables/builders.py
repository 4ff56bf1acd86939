"""What the five framework tables share: parameter schemas, law builders, and the rows every
framework has under its own names (:func:`add_basics`, :func:`add_family`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from initcli.distributions import TRUNC2_STD, Distribution, truncated_standard_moments
from initcli.errors import EXIT_BAD_USAGE, InitcliError
from initcli.gains import TORCH_GAIN_NAMES, torch_gain
from initcli.initializers import (
    CONTRIB_CORRECTION,
    Elementwise,
    Law,
    Params,
    VarianceScaling,
    _Entry,
)
from initcli.spec_strings import Param, Value

_TRUNCATION_LIMIT = 30.0  # refuse intervals this many std from the mean (no mass left)


def _usage(message: str) -> InitcliError:
    return InitcliError(message, EXIT_BAD_USAGE)


# --------------------------------------------------------------------------- parameters
def number(params: Params, key: str) -> float:
    value = params[key]
    assert isinstance(value, (int, float)), key
    return float(value)


def text(params: Params, key: str) -> str:
    return str(params[key])


def positive(name: str, default: Value, help: str = "") -> Param:
    return Param(name, default, low=0.0, low_open=True, help=help)


def nonnegative(name: str, default: Value, help: str = "") -> Param:
    return Param(name, default, low=0.0, help=help)


def free(name: str, default: Value, help: str = "") -> Param:
    return Param(name, default, help=help)


def choice(name: str, default: Value, choices: tuple[str, ...], help: str = "") -> Param:
    return Param(name, default, kind=str, choices=choices, help=help)


GAIN = positive("gain", 1.0, "multiplies the values (PyTorch's gain)")
TORCH_KAIMING = (
    free("a", 0.0, "negative slope of leaky_relu, passed to calculate_gain"),
    choice("mode", "fan_in", ("fan_in", "fan_out")),
    choice("nonlinearity", "leaky_relu", TORCH_GAIN_NAMES),
)
FAN_MODES3 = ("fan_in", "fan_out", "fan_avg")
BARE_RENAMES = {"stddev": "std", "minval": "low", "maxval": "high", "val": "value"}
KERAS_TRUNC = "±2 stddev around mean, uncorrected"


# --------------------------------------------------------------------------- laws
def constant(value: float) -> Elementwise:
    return Elementwise(Distribution("constant", loc=value))


def normal(mean: float, std: float) -> Elementwise:
    if std == 0:
        return constant(mean)
    return Elementwise(Distribution("normal", loc=mean, scale=std))


def uniform(low: float, high: float, names: tuple[str, str]) -> Elementwise:
    if not low < high:
        raise _usage(f"{names[0]}={low:g} must be less than {names[1]}={high:g}")
    return Elementwise(Distribution("uniform", low=low, high=high))


def truncated(
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


def kaiming_scale(params: Params) -> float:
    """PyTorch's kaiming: std = gain / sqrt(fan) with gain = calculate_gain(nonlinearity, a)."""
    return torch_gain(text(params, "nonlinearity"), number(params, "a")) ** 2


def keras_vs(scale: float, mode: str, distribution: str) -> VarianceScaling:
    """keras.initializers.VarianceScaling (and TF1 init_ops): corrected, n = max(1, n)."""
    return VarianceScaling(scale, mode, distribution, TRUNC2_STD, fan_floor=1.0)


def contrib_vs(factor: float, mode: str, uniform: bool) -> VarianceScaling:
    """tf.contrib.layers.variance_scaling_initializer: sqrt(1.3 factor / n) when not uniform."""
    return VarianceScaling(
        factor, mode.lower(), "uniform" if uniform else "truncated_normal", CONTRIB_CORRECTION
    )


def glorot(dist: str) -> Callable[[Params], Law]:
    return lambda p: VarianceScaling(number(p, "gain") ** 2, "fan_avg", dist)


def he(dist: str) -> Callable[[Params], Law]:
    return lambda p: VarianceScaling(kaiming_scale(p), text(p, "mode"), dist)


def fixed_vs(scale: float, mode: str, dist: str, keras: bool) -> Callable[[Params], Law]:
    law = keras_vs(scale, mode, dist) if keras else VarianceScaling(scale, mode, dist)
    return lambda p: law


# --------------------------------------------------------------------------- tables
class Table:
    """One framework's rows, in the order ``initcli list`` shows them; names and aliases are
    given unprefixed (``torch.`` ... is added here)."""

    def __init__(self, framework: str) -> None:
        self.framework = framework
        self._entries: list[_Entry] = []

    def qualified(self, name: str) -> str:
        return name if self.framework == "initcli" else f"{self.framework}.{name}"

    def add(
        self,
        name: str,
        build: Callable[[Params], Law],
        params: tuple[Param, ...] = (),
        aliases: tuple[str, ...] = (),
        reference: str = "",
        **extra: Any,
    ) -> None:
        if self.framework == "initcli":
            extra.setdefault("renames", BARE_RENAMES)
        aliases = tuple(self.qualified(alias) for alias in aliases)
        self._entries.append(
            _Entry(self.qualified(name), self.framework, build, params, aliases, reference, **extra)
        )

    @property
    def entries(self) -> tuple[_Entry, ...]:
        return tuple(self._entries)


@dataclass(frozen=True)
class Row:
    """A row's unprefixed name, aliases and reference, for :func:`add_basics`."""

    name: str
    aliases: tuple[str, ...] = ()
    reference: str = ""


def add_basics(
    table: Table,
    zeros: Row,
    ones: Row,
    constant_row: tuple[Row, Param],
    normal_row: tuple[Row, Param | None, Param],
    uniform_row: tuple[Row, Param | None, Param],
    uniform_first: bool = False,
) -> None:
    """zeros, ones, constant(value), normal(mean, std) and uniform(low, high): the same five
    laws in every framework, under its names, parameter names and defaults. A ``None`` mean
    or low is fixed at 0 (JAX's normal(stddev) and uniform(scale)). A constant whose value
    is required gets an example, e.g. ``torch.constant(val=0.1)``."""
    table.add(zeros.name, lambda p: constant(0.0), (), zeros.aliases, zeros.reference)
    table.add(ones.name, lambda p: constant(1.0), (), ones.aliases, ones.reference)
    row, value = constant_row
    example = f"{table.qualified(row.name)}({value.name}=0.1)" if value.default is None else ""
    table.add(
        row.name,
        lambda p: constant(number(p, value.name)),
        (value,),
        row.aliases,
        row.reference,
        example=example,
    )

    def add_normal() -> None:
        row, mean, std = normal_row
        table.add(
            row.name,
            lambda p: normal(number(p, mean.name) if mean else 0.0, number(p, std.name)),
            (std,) if mean is None else (mean, std),
            row.aliases,
            row.reference,
        )

    def add_uniform() -> None:
        row, low, high = uniform_row
        names = ("0" if low is None else low.name, high.name)
        table.add(
            row.name,
            lambda p: uniform(number(p, low.name) if low else 0.0, number(p, high.name), names),
            (high,) if low is None else (low, high),
            row.aliases,
            row.reference,
        )

    for add in (add_uniform, add_normal) if uniform_first else (add_normal, add_uniform):
        add()


FAMILY = (
    ("glorot_uniform", 1.0, "fan_avg", "uniform", ("xavier_uniform", "glorot", "xavier")),
    ("glorot_normal", 1.0, "fan_avg", "truncated_normal", ("xavier_normal",)),
    ("he_uniform", 2.0, "fan_in", "uniform", ("kaiming_uniform",)),
    ("he_normal", 2.0, "fan_in", "truncated_normal", ("kaiming_normal", "he", "kaiming")),
    ("lecun_uniform", 1.0, "fan_in", "uniform", ()),
    ("lecun_normal", 1.0, "fan_in", "truncated_normal", ("lecun",)),
)


def add_family(table: Table) -> None:
    """Glorot, He and LeCun of Keras, TF1 and JAX: one line of the core each."""
    framework = table.framework
    for name, scale, mode, dist, aliases in FAMILY:
        if framework == "tf1":
            # init_ops.py: tf.glorot_*_initializer, and tf.initializers.he_* / lecun_*
            # (tf_export v1=["initializers.he_normal"], ...), no other aliases
            aliases = (f"{name}_initializer",) if name.startswith("glorot_") else ()
        reference = {
            "keras": "".join(part.title() for part in name.split("_")),
            "tf1": (
                f"tf.{name}_initializer = variance_scaling_initializer (as Keras)"
                if name.startswith("glorot_")
                else f"tf.initializers.{name} = variance_scaling_initializer (as Keras)"
            ),
            "jax": f"jax.nn.initializers.{name}",
        }[framework]
        build = fixed_vs(scale, mode, dist, keras=framework != "jax")
        table.add(name, build, (), aliases, reference)
