"""Activations by SPEC string: phi(z), its exact derivative phi'(z), kinks and saturation.

``resolve_activation("leaky_relu(negative_slope=0.2)")`` returns an :class:`Activation`;
its ``spec`` (the name plus the parameters that differ from their defaults) resolves back
to an equal one. Definitions follow ``torch.nn.functional``, including the value of phi'
at a kink (relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha, hard_tanh' = 0 at its
bounds), so initcli's backward pass is PyTorch's autograd.

Numerics: forward and derivative keep a floating input's dtype (other inputs become
float64), never modify their input, and are exact in the limits: finite for any finite z
(also |z| ~ 1e30), the limit of phi or phi' at z = +-inf, NaN for NaN, and no floating-point
warnings. Formulas avoid cancellation: exp only of -|z|, ``expm1`` for elu/selu, the normal
CDF ``ndtr`` (not 1 + erf) for gelu, and for mish tanh(softplus(z)) written as a ratio of
polynomials in exp(-|z|). scipy.special is imported inside the functions that need it, so
importing this module costs only NumPy.

Two unit-level rules feed the "dead" and "saturated" statistics of ``initcli run``:

- ``can_die``: phi and phi' are both exactly zero on a whole half-line, so a unit whose
  pre-activations all fall there outputs zeros and passes no gradient (relu; leaky_relu
  with slope 0; elu with alpha 0). hard_tanh's flat parts are saturation, not death.
- ``saturated(a)``: only for the squashing activations, bounded on both sides (tanh,
  sigmoid, softsign, hard_tanh). A value a = phi(z) is saturated when phi'(z) is at most
  ``SATURATION`` (2%) of phi's largest slope. Each rule is written in terms of a, since
  phi' is a function of phi for these: tanh |a| >= sqrt(0.98) ~ 0.99; sigmoid
  4a(1 - a) <= 0.02, i.e. a <= 0.005 or a >= 0.995; softsign (1 - |a|)^2 <= 0.02, i.e.
  |a| >= 0.859; hard_tanh a at a bound (phi' = 0). Other activations return None.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from initcli.errors import EXIT_BAD_USAGE, InitcliError, did_you_mean
from initcli.spec_strings import Param, Value, bind, format_call, parse_call

SATURATION = 0.02  # saturated: phi'(z) <= 2% of the activation's largest slope

# Klambauer et al. 2017, "Self-Normalizing Neural Networks", eq. 14 (as in torch's selu).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715  # Hendrycks & Gimpel 2016, tanh approximation
# Beyond |z| = 1e3 every phi' below equals its limit in float64 (e.g. exp(-1e3) == 0), so
# derivatives clip z there rather than meeting inf * 0; 1e3 cubed still fits in float32.
_CLIP = 1e3
# Values per block when backward reads phi' from phi(z) into dL/dphi's buffer: 2**18 (1 MiB
# of float32, in L2) ran relu 1.9x and leaky_relu 1.3x as fast as one whole-tensor pass on
# 8 Mi values (Zen 4); 2**14 and 2**16 in between.
FROM_OUTPUT_BLOCK = 2**18

Array = np.ndarray
Params = Mapping[str, Value]
_Fn = Callable[[Array, Params], Array]
_Fused = Callable[[Array, Params, bool, bool], tuple[Array, Array | None]]


def _special() -> Any:
    import scipy.special  # ~0.3 s; only the commands that evaluate activations pay it

    return scipy.special


def _num(params: Params, key: str) -> float:
    value = params[key]
    assert isinstance(value, (int, float))
    return float(value)


def _keep_nan(out: Array, z: Array) -> Array:
    np.copyto(out, z, where=np.isnan(z))
    return out


def _limits(out: Array, z: Array, minus: float | None, plus: float | None) -> Array:
    """Write phi's limits at z = -inf / +inf where the finite formula met inf * 0."""
    if minus is not None:
        np.copyto(out, out.dtype.type(minus), where=np.isneginf(z))
    if plus is not None:
        np.copyto(out, out.dtype.type(plus), where=np.isposinf(z))
    return out


def _step(z: Array, below: float, above: float) -> Array:
    """``above`` where z > 0, ``below`` where z <= 0 (PyTorch's side at a kink), NaN kept."""
    kind = z.dtype.type
    return _keep_nan(np.where(z > 0, kind(above), kind(below)), z)


def _exp_minus_abs(z: Array, factor: float = 1.0) -> Array:
    """exp(-factor |z|) in (0, 1]: never overflows."""
    out = np.abs(z)
    out *= -factor
    return np.exp(out, out=out)


# --- definitions: forward(z, params) and derivative(z, params) on float arrays -------------


def _linear(z: Array, p: Params) -> Array:
    return z.copy()


def _linear_grad(z: Array, p: Params) -> Array:
    return _keep_nan(np.ones_like(z), z)


def _relu(z: Array, p: Params) -> Array:
    return np.maximum(z, 0)


def _relu_grad(z: Array, p: Params) -> Array:
    # 0 at z = 0, as torch's threshold_backward; NaN stays NaN. np.greater is ~6x faster
    # than np.heaviside on float32 (measured on 2M values in bench/).
    out = np.greater(z, 0).astype(z.dtype, copy=False)
    return _keep_nan(out, z)


def _leaky_relu(z: Array, p: Params) -> Array:
    slope = _num(p, "negative_slope")
    if slope == 0.0:
        return np.maximum(z, 0)  # 0 * inf would be NaN
    out = z * slope
    # max(z, s z) is z for z > 0 and s z for z < 0 when s <= 1; min when s > 1.
    return np.maximum(z, out, out=out) if slope <= 1.0 else np.minimum(z, out, out=out)


def _leaky_relu_grad(z: Array, p: Params) -> Array:
    return _step(z, _num(p, "negative_slope"), 1.0)


def _elu_with(z: Array, alpha: float) -> Array:
    out = np.minimum(z, 0)
    np.expm1(out, out=out)
    out *= alpha
    np.copyto(out, z, where=z > 0)
    return out


def _elu_grad_with(z: Array, alpha: float) -> Array:
    out = np.minimum(z, 0)
    np.exp(out, out=out)
    out *= alpha  # alpha * exp(z) for z <= 0: alpha at the kink, as torch's elu_backward
    np.copyto(out, z.dtype.type(1), where=z > 0)
    return out


def _elu(z: Array, p: Params) -> Array:
    return _elu_with(z, _num(p, "alpha"))


def _elu_grad(z: Array, p: Params) -> Array:
    return _elu_grad_with(z, _num(p, "alpha"))


def _selu(z: Array, p: Params) -> Array:
    out = _elu_with(z, SELU_ALPHA)
    out *= SELU_SCALE
    return out


def _selu_grad(z: Array, p: Params) -> Array:
    out = _elu_grad_with(z, SELU_ALPHA)
    out *= SELU_SCALE
    return out


def _gelu(z: Array, p: Params) -> Array:
    if p["approximate"] == "tanh":
        # 0.5 z (1 + tanh u) = z sigmoid(2u), u = sqrt(2/pi) (z + 0.044715 z^3): no cancellation
        out = z * z
        out *= _GELU_CUBIC
        out += 1.0
        out *= z
        out *= 2.0 * _SQRT_2_OVER_PI
        _special().expit(out, out=out)
    else:
        out = _special().ndtr(z)  # Phi(z), accurate in the left tail where 1 + erf is not
    out *= z
    return _limits(out, z, 0.0, None)


def _gelu_grad(z: Array, p: Params) -> Array:
    special = _special()
    t = np.clip(z, -_CLIP, _CLIP)
    if p["approximate"] == "tanh":
        t2 = t * t
        u2 = t2 * _GELU_CUBIC
        u2 += 1.0
        u2 *= t
        u2 *= 2.0 * _SQRT_2_OVER_PI  # 2u
        out = special.expit(u2)  # sigmoid(2u) = (1 + tanh u) / 2
        # z sech^2(u) u' / 2 with sech^2(u) = 4 e / (1 + e)^2, e = exp(-2|u|)
        e = _exp_minus_abs(u2)
        tail = e + 1.0
        np.square(tail, out=tail)
        np.divide(e, tail, out=tail)
        t2 *= 3.0 * _GELU_CUBIC
        t2 += 1.0
        tail *= t2
        tail *= t
        tail *= 2.0 * _SQRT_2_OVER_PI
        out += tail
        return out
    # Phi(z) + z phi(z); the density term is exactly 0 in float64 beyond |z| = 40
    density = t * t
    density *= -0.5
    np.exp(density, out=density)
    density *= t
    density *= _INV_SQRT_2PI
    out = special.ndtr(z)
    out += density
    return out


def _silu(z: Array, p: Params) -> Array:
    out = _special().expit(z)
    out *= z
    return _limits(out, z, 0.0, None)


def _silu_grad(z: Array, p: Params) -> Array:
    # sigmoid(z) (1 + z sigmoid(-z)): sigmoid(-z) rather than 1 - sigmoid(z), no cancellation
    expit = _special().expit
    t = np.clip(z, -_CLIP, _CLIP)
    out = np.negative(t)
    expit(out, out=out)
    out *= t
    out += 1.0
    out *= expit(t)
    return out


def _mish_parts(t: Array) -> tuple[Array, Array, Array]:
    """tanh(softplus(t)) as num / den, and the factor of sech^2(softplus(t)) sigmoid(t).

    With n = exp(t): tanh(softplus) = (n^2 + 2n) / (n^2 + 2n + 2) and
    sigmoid sech^2(softplus) = 4 n (n + 1) / (n^2 + 2n + 2)^2. For t > 0 numerator and
    denominator are divided by n^2 so only e = exp(-|t|) <= 1 appears.
    """
    e = _exp_minus_abs(t)
    positive = t > 0
    num = np.where(positive, 2.0 * e + 1.0, e * (e + 2.0)).astype(t.dtype, copy=False)
    den = np.where(positive, 2.0 * e * e, 2.0).astype(t.dtype, copy=False)
    den += num
    scale = 1.0 + e
    scale *= np.where(positive, e * e, e)
    scale *= 4.0
    return num, den, scale


def _mish(z: Array, p: Params) -> Array:
    num, den, _ = _mish_parts(z)
    np.divide(num, den, out=num)
    num *= z
    return _limits(num, z, 0.0, None)


def _mish_grad(z: Array, p: Params) -> Array:
    t = np.clip(z, -_CLIP, _CLIP)
    num, den, scale = _mish_parts(t)
    # mish' = tanh(sp) + z sigmoid(z) sech^2(sp) = num/den + z * scale / den^2
    np.divide(num, den, out=num)
    scale *= t
    scale /= den
    scale /= den
    num += scale
    return num


def _tanh(z: Array, p: Params) -> Array:
    return np.tanh(z)


def _tanh_grad(z: Array, p: Params) -> Array:
    # sech^2(z) = 4 e / (1 + e)^2 with e = exp(-2|z|): accurate in the tails, where 1 - tanh^2
    # would round to 0
    e = _exp_minus_abs(z, 2.0)
    out = e + 1.0
    np.square(out, out=out)
    np.divide(e, out, out=out)
    out *= 4.0
    return out


def _sigmoid(z: Array, p: Params) -> Array:
    return _special().expit(z)


def _sigmoid_grad(z: Array, p: Params) -> Array:
    e = _exp_minus_abs(z)  # sigmoid(z) sigmoid(-z) = e / (1 + e)^2, e = exp(-|z|)
    out = e + 1.0
    np.square(out, out=out)
    return np.divide(e, out, out=out)


def _softplus(z: Array, p: Params) -> Array:
    beta = _num(p, "beta")
    # log(1 + exp(b z)) / b = max(z, 0) + log1p(exp(-b |z|)) / b
    out = _exp_minus_abs(z, beta)
    np.log1p(out, out=out)
    out /= beta
    out += np.maximum(z, 0)
    return out


def _softplus_grad(z: Array, p: Params) -> Array:
    out = z * _num(p, "beta")
    return _special().expit(out, out=out)


def _softsign(z: Array, p: Params) -> Array:
    out = np.abs(z)
    out += 1.0
    np.divide(z, out, out=out)
    return _limits(out, z, -1.0, 1.0)


def _softsign_grad(z: Array, p: Params) -> Array:
    out = np.abs(z)
    out += 1.0
    np.reciprocal(out, out=out)
    return np.square(out, out=out)  # 1 / (1 + |z|)^2, no overflow for |z| ~ 1e30


def _hard_tanh(z: Array, p: Params) -> Array:
    return np.clip(z, _num(p, "min_val"), _num(p, "max_val"))


def _hard_tanh_grad(z: Array, p: Params) -> Array:
    inside = (z > _num(p, "min_val")) & (z < _num(p, "max_val"))  # 0 at the bounds, as torch
    return _keep_nan(inside.astype(z.dtype), z)


# --- fused phi and phi': fewer passes and temporaries, the same values -----------------------
#
# Measured on 2**20 float32 values (bench/RESULTS.md): tanh' = 1 - a^2 would save two of the
# seven passes of the sech^2 formula, but it rounds to 0 beyond |z| ~ 9 in float32 and loses
# up to ~150 ulps near the saturation bound; patching those tails from z needs a mask gather
# and scatter (np.flatnonzero, compress, place: 0.3 to 3 ms on random masks) that costs more
# than the two passes it saves. So tanh keeps its exact formula here, written into z's buffer
# when allowed; sigmoid keeps forward + derivative.


def _linear_fused(z: Array, p: Params, need: bool, overwrite: bool) -> tuple[Array, Array | None]:
    a = z if overwrite else z.copy()
    if not need:
        return a, None
    if np.isnan(a).any():
        return a, _linear_grad(a, p)
    # phi' = 1: one read-only value broadcast to z's shape, no memory and no pass
    return a, np.broadcast_to(np.ones((), dtype=z.dtype), z.shape)


def _relu_grad_from_output(a: Array, p: Params) -> Array:
    """relu' from the sign of a = relu(z): 1 where a > 0, 0 at and below 0 (torch's
    threshold_backward), NaN kept, as _relu_grad(z); the comparison writes the float result
    directly (np.sign is not vectorised: 0.73 ms against 0.26 ms per 2**20 values)."""
    d = np.greater(a, 0, out=np.empty_like(a))
    if np.isnan(a).any():
        _keep_nan(d, a)
    return d


def _relu_fused(z: Array, p: Params, need: bool, overwrite: bool) -> tuple[Array, Array | None]:
    a = np.maximum(z, 0, out=z if overwrite else None)
    return a, (_relu_grad_from_output(a, p) if need else None)


def _tanh_fused(z: Array, p: Params, need: bool, overwrite: bool) -> tuple[Array, Array | None]:
    a = np.tanh(z)
    if not need:
        return a, None
    # _tanh_grad with z's buffer as e = exp(-2|z|) and as the result: the same operations
    e = np.abs(z, out=z if overwrite else None)
    e *= -2.0
    np.exp(e, out=e)
    tail = e + 1.0
    np.square(tail, out=tail)
    np.divide(e, tail, out=e)
    e *= 4.0
    return a, e


# --- saturation rules on a = phi(z) (see the module docstring) ------------------------------

_TANH_SAT = math.sqrt(1.0 - SATURATION)  # 1 - a^2 <= s
_SIGMOID_SAT = (1.0 - math.sqrt(1.0 - SATURATION)) / 2.0  # 4 a (1 - a) <= s
_SOFTSIGN_SAT = 1.0 - math.sqrt(SATURATION)  # (1 - |a|)^2 <= s


def _tanh_saturated(a: Array, p: Params) -> Array:
    return np.abs(a) >= _TANH_SAT


def _sigmoid_saturated(a: Array, p: Params) -> Array:
    return (a <= _SIGMOID_SAT) | (a >= 1.0 - _SIGMOID_SAT)


def _softsign_saturated(a: Array, p: Params) -> Array:
    return np.abs(a) >= _SOFTSIGN_SAT


def _hard_tanh_saturated(a: Array, p: Params) -> Array:
    return (a <= _num(p, "min_val")) | (a >= _num(p, "max_val"))


def _hard_tanh_check(p: Params, owner: str) -> None:
    if not _num(p, "min_val") < _num(p, "max_val"):
        raise InitcliError(
            f"{owner}: min_val={p['min_val']} must be smaller than max_val={p['max_val']}",
            EXIT_BAD_USAGE,
        )


# --- registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Definition:
    """One registered activation: its formulas and what PyTorch calls it."""

    name: str
    formula: str
    forward: _Fn
    derivative: _Fn
    aliases: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    kinks: Callable[[Params], tuple[float, ...]] = lambda p: ()
    saturated: _Fn | None = None
    can_die: Callable[[Params], bool] = lambda p: False
    torch_gain_name: str | None = None  # name in torch.nn.init.calculate_gain
    torch_param: str | None = None  # the parameter calculate_gain receives as `param`
    shorthand: str | None = None  # the parameter `initcli gain --param X` sets
    check: Callable[[Params, str], None] | None = None
    # (phi(z), phi'(z) or None) in fewer passes than forward + derivative; may reuse z's
    # buffer when its last argument is True. None: forward and derivative one after the other.
    fused: _Fused | None = None
    # phi'(z) computed from phi(z) alone, bit for bit derivative(z) (relu: phi(z) > 0 exactly
    # where z > 0, NaN where z is NaN): backward then reads phi' from phi(z), which the next
    # layer keeps as its input anyway, instead of keeping a tensor of its own.
    derivative_from_output: _Fn | None = None
    # the parameters for which derivative_from_output holds (leaky_relu: a slope >= 0)
    output_determines_derivative: Callable[[Params], bool] = lambda p: True


def _kink_at_zero(p: Params) -> tuple[float, ...]:
    return (0.0,)


_DEFINITIONS = (
    Definition(
        "linear",
        "z",
        _linear,
        _linear_grad,
        aliases=("identity",),
        fused=_linear_fused,
        torch_gain_name="linear",
    ),
    Definition(
        "relu",
        "max(z, 0)",
        _relu,
        _relu_grad,
        fused=_relu_fused,
        derivative_from_output=_relu_grad_from_output,
        kinks=_kink_at_zero,
        can_die=lambda p: True,
        torch_gain_name="relu",
    ),
    Definition(
        "leaky_relu",
        "z if z > 0 else negative_slope * z",
        _leaky_relu,
        _leaky_relu_grad,
        params=(
            # any float, as torch.nn.LeakyReLU and calculate_gain take it (their gain squares it)
            Param("negative_slope", 0.01, help="slope for z <= 0 (PyTorch's default)"),
        ),
        derivative_from_output=_leaky_relu_grad,
        # slope >= 0: phi(z) > 0 exactly where z > 0; a negative slope makes phi(z) > 0 for z < 0
        output_determines_derivative=lambda p: _num(p, "negative_slope") >= 0.0,
        kinks=_kink_at_zero,
        can_die=lambda p: p["negative_slope"] == 0.0,
        torch_gain_name="leaky_relu",
        torch_param="negative_slope",
        shorthand="negative_slope",
    ),
    Definition(
        "elu",
        "z if z > 0 else alpha * (exp(z) - 1)",
        _elu,
        _elu_grad,
        params=(Param("alpha", 1.0, low=0.0, help="-alpha is the limit at z -> -inf"),),
        kinks=_kink_at_zero,
        can_die=lambda p: p["alpha"] == 0.0,
        shorthand="alpha",
    ),
    Definition(
        "selu",
        "scale * elu(z, alpha), alpha = 1.6733, scale = 1.0507 (Klambauer et al. 2017)",
        _selu,
        _selu_grad,
        kinks=_kink_at_zero,
        torch_gain_name="selu",
    ),
    Definition(
        "gelu",
        "z * Phi(z), Phi the standard normal CDF (approximate=tanh: Hendrycks & Gimpel's)",
        _gelu,
        _gelu_grad,
        params=(
            Param(
                "approximate",
                "none",
                kind=str,
                choices=("none", "tanh"),
                help="none: exact erf form; tanh: the tanh approximation, as torch",
            ),
        ),
    ),
    Definition("silu", "z * sigmoid(z)", _silu, _silu_grad, aliases=("swish",)),
    Definition("mish", "z * tanh(softplus(z))", _mish, _mish_grad),
    Definition(
        "tanh",
        "tanh(z)",
        _tanh,
        _tanh_grad,
        fused=_tanh_fused,
        saturated=_tanh_saturated,
        torch_gain_name="tanh",
    ),
    Definition(
        "sigmoid",
        "1 / (1 + exp(-z))",
        _sigmoid,
        _sigmoid_grad,
        aliases=("logistic",),
        saturated=_sigmoid_saturated,
        torch_gain_name="sigmoid",
    ),
    Definition(
        "softplus",
        "log(1 + exp(beta * z)) / beta (exact; no torch-style threshold switch)",
        _softplus,
        _softplus_grad,
        params=(Param("beta", 1.0, low=0.0, low_open=True, help="sharpness"),),
        shorthand="beta",
    ),
    Definition(
        "softsign",
        "z / (1 + |z|)",
        _softsign,
        _softsign_grad,
        saturated=_softsign_saturated,
    ),
    Definition(
        "hard_tanh",
        "clip(z, min_val, max_val)",
        _hard_tanh,
        _hard_tanh_grad,
        aliases=("hardtanh",),
        params=(Param("min_val", -1.0), Param("max_val", 1.0)),
        kinks=lambda p: (_num(p, "min_val"), _num(p, "max_val")),
        saturated=_hard_tanh_saturated,
        check=_hard_tanh_check,
    ),
)

REGISTRY: dict[str, Definition] = {d.name: d for d in _DEFINITIONS}
_ALIASES: dict[str, str] = {alias: d.name for d in _DEFINITIONS for alias in d.aliases}


def _as_float(z: Any) -> Array:
    array = np.asarray(z)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    return np.atleast_1d(array)


@dataclass(frozen=True)
class Activation:
    """A resolved activation: ``spec`` names it, ``forward``/``derivative`` evaluate it."""

    name: str
    params: Mapping[str, Value]
    spec: str
    kinks: tuple[float, ...]  # where phi or phi' is not smooth (quadrature splits there)
    torch_gain_name: str | None  # calculate_gain name; None where PyTorch has none
    can_die: bool  # phi' == 0 on a half-line: relu-like units can die
    definition: Definition = field(repr=False, compare=False)

    def __hash__(self) -> int:
        return hash(self.spec)

    def forward(self, z: npt.ArrayLike) -> np.ndarray:
        """phi(z) as a new array of z's (floating) dtype."""
        return self._apply(self.definition.forward, z)

    def derivative(self, z: npt.ArrayLike) -> np.ndarray:
        """phi'(z) as a new array of z's (floating) dtype; PyTorch's value at kinks."""
        return self._apply(self.definition.derivative, z)

    @property
    def reads_derivative_from_output(self) -> bool:
        """True when :meth:`derivative_from_output` holds (relu, leaky_relu with a slope >= 0)."""
        definition = self.definition
        return definition.derivative_from_output is not None and (
            definition.output_determines_derivative(self.params)
        )

    def derivative_from_output(self, a: np.ndarray) -> np.ndarray:
        """phi'(z) from ``a = forward(z)`` alone, bit for bit :meth:`derivative` of z."""
        rule = self.definition.derivative_from_output
        if rule is None or not self.reads_derivative_from_output:
            raise ValueError(f"{self.spec}: phi' cannot be read from phi(z)")
        with np.errstate(all="ignore"):
            return rule(a, self.params).astype(a.dtype, copy=False)

    def grad_preact(
        self,
        grad: np.ndarray,
        kept: np.ndarray | None,
        kept_is_output: bool,
        *,
        overwrite_grad: bool = False,
    ) -> np.ndarray:
        """dL/dz = phi'(z) * dL/dphi from what a layer kept for backward: phi'(z), phi(z)
        (``kept_is_output``, for :attr:`reads_derivative_from_output`; phi'(z) is then read
        from it) or None (linear: dL/dphi itself). ``grad`` has z's shape.

        With ``overwrite_grad`` (the caller owns ``grad``, as a layer's backward does) the
        product is written into ``grad``'s buffer where it can be (writeable, C-contiguous,
        the product's dtype), phi'(phi(z)) a cache-sized block at a time: no tensor of z's
        size is allocated, which was one of three alive at once at a relu layer's backward
        (its output, dL/dphi and phi'). The values are bit for bit the same either way.
        """
        if kept is None:
            return grad
        writable = overwrite_grad and grad.flags.writeable and grad.flags.c_contiguous
        if kept_is_output:
            # the product has phi(z)'s dtype and shape
            same = kept.shape == grad.shape and kept.dtype == grad.dtype
            if writable and same and kept.flags.c_contiguous:
                return self._grad_from_output_into(grad, kept)
            product = self.derivative_from_output(kept)
            product *= grad
            return product
        # the product has the broadcast shape and the promoted dtype
        into = (
            writable
            and grad.dtype == np.result_type(grad, kept)
            and np.broadcast_shapes(grad.shape, kept.shape) == grad.shape
        )
        return np.multiply(grad, kept, out=grad) if into else grad * kept

    def _grad_from_output_into(self, grad: np.ndarray, output: np.ndarray) -> np.ndarray:
        rule = self.definition.derivative_from_output
        assert rule is not None
        flat_grad, flat_output = grad.reshape(-1), output.reshape(-1)
        with np.errstate(all="ignore"):
            for start in range(0, flat_grad.size, FROM_OUTPUT_BLOCK):
                part = slice(start, start + FROM_OUTPUT_BLOCK)
                block = flat_grad[part]
                # phi' first, as in the allocating product: where both are NaN, x86 keeps
                # the first operand's NaN (sign and payload)
                derivative = rule(flat_output[part], self.params).astype(grad.dtype, copy=False)
                np.multiply(derivative, block, out=block)
        return grad

    def forward_and_derivative(
        self, z: npt.ArrayLike, *, need_derivative: bool = True, overwrite_input: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(phi(z), phi'(z))`` in z's (floating) dtype with the fewest passes over z.

        Bit for bit equal to :meth:`forward` and :meth:`derivative`, with their limits, NaN
        and no warnings: relu' is read from relu(z) by one comparison, linear' is a
        read-only broadcast 1 (no memory) unless z holds NaN, tanh writes sech^2 into z's
        buffer when allowed; the other activations call forward and derivative. ``phi'`` is
        None when ``need_derivative`` is False. With ``overwrite_input`` a C-contiguous,
        writeable floating ``z`` may become one of the outputs (its values are then lost).
        """
        x = _as_float(z)
        fused = self.definition.fused
        overwrite = overwrite_input and x is z and x.flags.c_contiguous and x.flags.writeable
        with np.errstate(all="ignore"):  # as _apply: inf and inf * 0 are handled, not errors
            if fused is not None:
                a, d = fused(x, self.params, need_derivative, overwrite)
            else:
                a = self.definition.forward(x, self.params)
                d = self.definition.derivative(x, self.params) if need_derivative else None
        shape = np.shape(z)
        a = a.astype(x.dtype, copy=False).reshape(shape)
        if d is not None:
            d = d.astype(x.dtype, copy=False).reshape(shape)
        return a, d

    def saturated_count(self, a: np.ndarray) -> int | None:
        """How many values of a = phi(z) are saturated (see :meth:`saturated`); None if unbounded.

        The statistics need only the count; the mask is a temporary freed here.
        """
        rule = self.definition.saturated
        if rule is None:
            return None
        return int(np.count_nonzero(rule(np.asarray(a), self.params)))

    def saturated(self, a: npt.ArrayLike) -> np.ndarray | None:
        """Bool mask over a = phi(z): phi'(z) <= 2% of the largest slope; None if unbounded."""
        rule = self.definition.saturated
        if rule is None:
            return None
        return np.asarray(rule(np.asarray(a), self.params))

    def _apply(self, fn: _Fn, z: npt.ArrayLike) -> np.ndarray:
        x = _as_float(z)
        with np.errstate(all="ignore"):  # overflow to inf and inf * 0 are handled, not errors
            out = fn(x, self.params)
        return out.astype(x.dtype, copy=False).reshape(np.shape(z))

    @property
    def torch_gain_param(self) -> float | None:
        """The ``param`` to pass to ``calculate_gain`` (leaky_relu's slope), else None."""
        key = self.definition.torch_param
        return None if key is None else _num(self.params, key)

    @property
    def shorthand(self) -> str | None:
        """The parameter ``initcli gain --param`` sets (leaky_relu's slope, elu's alpha)."""
        return self.definition.shorthand

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.definition.aliases

    @property
    def parameters(self) -> tuple[Param, ...]:
        return self.definition.params

    @property
    def formula(self) -> str:
        return self.definition.formula


def activation_names(aliases: bool = False) -> list[str]:
    """Canonical names in registry order (plus aliases if asked)."""
    return [*REGISTRY, *(_ALIASES if aliases else ())]


def resolve_activation(spec: str) -> Activation:
    """``relu``, ``leaky_relu(negative_slope=0.2)``, ``swish`` ... -> :class:`Activation`.

    Unknown names, parameters and out-of-range values raise :class:`InitcliError` (exit 2)
    naming the value and the allowed ones.
    """
    name, given = parse_call(spec)
    canonical = _ALIASES.get(name, name)
    definition = REGISTRY.get(canonical)
    if definition is None:
        raise InitcliError(
            f"unknown activation {name!r}{did_you_mean(name, activation_names(aliases=True))}; "
            "'initcli list' shows them all",
            EXIT_BAD_USAGE,
        )
    owner = f"activation {canonical}"
    if "approximate" in given and given["approximate"] is None:
        given["approximate"] = "none"  # the SPEC parser reads the word none as None
    params = bind(owner, definition.params, given)
    if definition.check is not None:
        definition.check(params, owner)
    non_default = {p.name: params[p.name] for p in definition.params if params[p.name] != p.default}
    return Activation(
        name=canonical,
        params=params,
        spec=format_call(canonical, non_default),
        kinks=definition.kinks(params),
        torch_gain_name=definition.torch_gain_name,
        can_die=definition.can_die(params),
        definition=definition,
    )


def list_activations() -> list[Activation]:
    """Every registered activation with default parameters, in registry order."""
    return [resolve_activation(name) for name in REGISTRY]
