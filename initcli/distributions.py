"""What one element of an initialized tensor is drawn from: moments, support, cdf, pdf.

A :class:`Distribution` is a *base law* (normal, truncated normal, uniform, constant, or the
marginal of an orthogonal matrix) that fills a fraction ``nonzero`` of the elements; the other
elements are exactly 0 (``sparse``, ``identity``, ``dirac``, ``delta_orthogonal``). Moments
are exact formulas, so ``initcli sample`` can compare an empirical std with the right number.

Scalar moments use only :mod:`math`; cdf/pdf on arrays import :mod:`scipy.special` lazily, so
commands that only need formulas (``initcli fans``) start fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# Standard deviation of a standard normal truncated to (-2, 2); Keras, TF and JAX divide by
# it so that a truncated normal has exactly the std variance scaling asks for.
TRUNC2_STD = 0.87962566103423978

BASE_KINDS = ("normal", "truncated_normal", "uniform", "constant", "orthogonal")
_BASE_OF = {
    "sparse": "normal",
    "identity": "constant",
    "dirac": "constant",
    "delta_orthogonal": "orthogonal",
}
KINDS = (*BASE_KINDS, *_BASE_OF)
_CHUNK = 1 << 18  # elements per sampling chunk: 1 MiB of float32 stays in cache
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_ndtr(x: float) -> float:
    """log Phi(x) for scalars, accurate in both tails: erfc underflows to 0 below x ~ -38,
    where ``scipy.special.log_ndtr`` switches to its asymptotic series."""
    if x == -math.inf:
        return -math.inf
    if x > 0:
        return math.log1p(-0.5 * math.erfc(x / math.sqrt(2.0)))
    if x > -30:
        return math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))
    from scipy.special import log_ndtr  # imported only for far tails (start-up cost)

    return float(log_ndtr(x))


def _log_phi(x: float) -> float:
    return -math.inf if math.isinf(x) else -0.5 * x * x - _LOG_SQRT_2PI


def truncated_standard_moments(alpha: float, beta: float) -> tuple[float, float, float]:
    """``(log Z, mean, variance)`` of N(0, 1) restricted to [alpha, beta].

    Z = Phi(beta) - Phi(alpha). Computed on the side of the tail that keeps precision (an
    interval right of 0 is mirrored), with the density ratios phi/Z taken in log space.
    """
    if alpha > 0:
        log_z, mean, var = truncated_standard_moments(-beta, -alpha)
        return log_z, -mean, var
    if beta <= 0:  # both bounds in the lower tail
        log_b, log_a = _log_ndtr(beta), _log_ndtr(alpha)
        log_z = log_b + math.log1p(-math.exp(log_a - log_b)) if log_a < log_b else -math.inf
    else:  # the interval straddles 0
        z = 1.0 - 0.5 * math.erfc(-alpha / math.sqrt(2.0)) - 0.5 * math.erfc(beta / math.sqrt(2.0))
        log_z = math.log(z) if z > 0 else -math.inf
    if log_z == -math.inf:
        return log_z, math.nan, math.nan
    ratio_a = math.exp(_log_phi(alpha) - log_z)  # phi(alpha) / Z
    ratio_b = math.exp(_log_phi(beta) - log_z)
    mean = ratio_a - ratio_b
    a_term = alpha * ratio_a if math.isfinite(alpha) else 0.0
    b_term = beta * ratio_b if math.isfinite(beta) else 0.0
    var = 1.0 + a_term - b_term - mean * mean
    return log_z, mean, max(var, 0.0)


@dataclass(frozen=True)
class Distribution:
    """The law of one element of an initialized tensor.

    kind             base law and fields it uses
    normal           N(loc, scale^2)
    truncated_normal N(loc, scale^2) restricted to [low, high] (absolute values)
    uniform          U(low, high)
    constant         the value loc
    orthogonal       scale * t, t one coordinate of a uniform unit vector in R^dim
                     (the marginal of a Haar-random orthogonal matrix with dim rows)
    sparse           normal base on a fraction ``nonzero`` of the elements, 0 elsewhere
    identity, dirac  constant base (the gain) on a fraction ``nonzero``, 0 elsewhere
    delta_orthogonal orthogonal base on a fraction ``nonzero``, 0 elsewhere
    """

    kind: str
    loc: float = 0.0
    scale: float = 1.0
    low: float = -math.inf
    high: float = math.inf
    dim: int = 0
    nonzero: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown distribution kind {self.kind!r}")

    @property
    def base_kind(self) -> str:
        return _BASE_OF.get(self.kind, self.kind)

    @property
    def is_iid(self) -> bool:
        """True when elements are drawn independently (Distribution.sample can draw them)."""
        return self.kind in ("normal", "truncated_normal", "uniform", "constant")

    @property
    def has_density(self) -> bool:
        """True when the law has a continuous part (constant-based kinds have none)."""
        return not self._point_base and not (self.base_kind == "orthogonal" and self.dim < 2)

    @property
    def _point_base(self) -> bool:
        """The base law is a single value: a constant, or a normal with scale 0."""
        kind = self.base_kind
        return kind == "constant" or (kind in ("normal", "truncated_normal") and self.scale == 0)

    def _base_moments(self) -> tuple[float, float]:
        """Mean and second moment E[x^2] of the base law."""
        kind = self.base_kind
        if kind == "normal":
            return self.loc, self.loc * self.loc + (self.scale * self.scale)
        if kind == "truncated_normal":
            if self.scale == 0:
                return self.loc, self.loc * self.loc
            _, mean, var = truncated_standard_moments(*self._standard_bounds())
            m = self.loc + self.scale * mean
            return m, m * m + (self.scale * self.scale) * var
        if kind == "uniform":
            lo, hi = self.low, self.high
            return (lo + hi) / 2.0, (lo * lo + lo * hi + hi * hi) / 3.0
        if kind == "constant":
            return self.loc, self.loc * self.loc
        # orthogonal: a unit vector in R^dim has E[t^2] = 1/dim, and E[t] = 0 by symmetry.
        return 0.0, (self.scale * self.scale) / max(self.dim, 1)

    def _standard_bounds(self) -> tuple[float, float]:
        return (self.low - self.loc) / self.scale, (self.high - self.loc) / self.scale

    def mean(self) -> float:
        return self.nonzero * self._base_moments()[0]

    def std(self) -> float:
        base_mean, base_second = self._base_moments()
        mean = self.nonzero * base_mean
        return math.sqrt(max(self.nonzero * base_second - mean * mean, 0.0))

    def bounds(self) -> tuple[float, float]:
        """Support of the drawn values (±inf where unbounded)."""
        kind = self.base_kind
        if kind == "normal":
            lo, hi = (-math.inf, math.inf) if self.scale > 0 else (self.loc, self.loc)
        elif kind in ("truncated_normal", "uniform"):
            lo, hi = self.low, self.high
        elif kind == "constant":
            lo, hi = self.loc, self.loc
        else:
            lo, hi = -abs(self.scale), abs(self.scale)
        if self.nonzero < 1.0:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        return lo, hi

    def atoms(self) -> list[tuple[float, float]]:
        """Point masses ``(value, probability)``: the zeros of structured kinds, constants."""
        masses: dict[float, float] = {}
        if self.nonzero < 1.0:
            masses[0.0] = 1.0 - self.nonzero
        if self._point_base:
            masses[self.loc] = masses.get(self.loc, 0.0) + self.nonzero
        elif self.base_kind == "orthogonal" and self.dim < 2:
            for value in (-abs(self.scale), abs(self.scale)):
                masses[value] = masses.get(value, 0.0) + self.nonzero / 2.0
        return sorted(masses.items())

    def base_cdf(self, x: np.ndarray) -> np.ndarray | None:
        """CDF of the base law alone (what the non-zero elements follow); None if atomic."""
        if not self.has_density:
            return None
        from scipy import special

        x = np.asarray(x, dtype=np.float64)
        kind = self.base_kind
        if kind == "normal":
            return np.asarray(special.ndtr((x - self.loc) / self.scale))
        if kind == "truncated_normal":
            alpha, beta = self._standard_bounds()
            z = (x - self.loc) / self.scale
            mirror = alpha > 0  # work in the lower tail, where ndtr keeps relative precision
            if mirror:
                z, alpha, beta = -z, -beta, -alpha
            lo_cdf, hi_cdf = special.ndtr(alpha), special.ndtr(beta)
            inner = np.clip((special.ndtr(z) - lo_cdf) / (hi_cdf - lo_cdf), 0.0, 1.0)
            return np.asarray(1.0 - inner if mirror else inner)
        if kind == "uniform":
            return np.asarray(np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0))
        # orthogonal marginal: t^2 ~ Beta(1/2, (dim-1)/2), symmetric about 0.
        t = np.clip(x / abs(self.scale), -1.0, 1.0)
        half = 0.5 * special.betainc(0.5, (self.dim - 1) / 2.0, t * t)
        return np.asarray(0.5 + np.sign(t) * half)

    def base_pdf(self, x: np.ndarray) -> np.ndarray | None:
        """Density of the base law alone; None if atomic."""
        if not self.has_density:
            return None
        from scipy import special

        x = np.asarray(x, dtype=np.float64)
        kind = self.base_kind
        if kind == "normal":
            z = (x - self.loc) / self.scale
            return np.exp(-0.5 * z * z - _LOG_SQRT_2PI) / self.scale
        if kind == "truncated_normal":
            alpha, beta = self._standard_bounds()
            log_z = truncated_standard_moments(alpha, beta)[0]
            z = (x - self.loc) / self.scale
            inside = (x >= self.low) & (x <= self.high)
            density = np.exp(-0.5 * z * z - _LOG_SQRT_2PI - log_z) / self.scale
            return np.where(inside, density, 0.0)
        if kind == "uniform":
            inside = (x >= self.low) & (x <= self.high)
            return np.where(inside, 1.0 / (self.high - self.low), 0.0)
        width = abs(self.scale)
        t = x / width
        inside = np.abs(t) < 1.0
        power = (self.dim - 3) / 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            density = np.power(np.where(inside, 1.0 - t * t, 1.0), power)
        return np.where(inside, density / special.beta(0.5, (self.dim - 1) / 2.0) / width, 0.0)

    def cdf(self, x: np.ndarray) -> np.ndarray | None:
        """CDF of the drawn values (zeros included); None for purely atomic kinds."""
        base = self.base_cdf(x)
        if base is None:
            return None
        if self.nonzero >= 1.0:
            return base
        step = (np.asarray(x, dtype=np.float64) >= 0.0).astype(np.float64)
        return self.nonzero * base + (1.0 - self.nonzero) * step

    def pdf(self, x: np.ndarray) -> np.ndarray | None:
        """Density of the continuous part (weighted by ``nonzero``); None if purely atomic."""
        base = self.base_pdf(x)
        return None if base is None else self.nonzero * base

    def describe(self) -> str:
        """The law as a short formula, e.g. ``N(0, 0.05^2) cut at [-0.1, 0.1]``."""
        kind = self.base_kind
        g = _num
        if kind == "normal":
            text = f"N({g(self.loc)}, {g(self.scale)}^2)"
        elif kind == "truncated_normal":
            text = f"N({g(self.loc)}, {g(self.scale)}^2) cut at [{g(self.low)}, {g(self.high)}]"
        elif kind == "uniform":
            text = f"U({g(self.low)}, {g(self.high)})"
        elif kind == "constant":
            text = f"constant {g(self.loc)}"
        else:
            text = f"{g(self.scale)} x orthogonal (unit vectors of length {self.dim})"
        if self.nonzero < 1.0:
            text += f" on {g(100.0 * self.nonzero)}% of entries, 0 elsewhere"
        return text

    def sample(
        self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any = np.float32
    ) -> np.ndarray:
        """Draw an array of independent elements (iid kinds only), in place and chunked."""
        if not self.is_iid:
            raise ValueError(f"{self.kind} is not an elementwise law; its initializer draws it")
        target = np.dtype(dtype)
        work = target if target in (np.float32, np.float64) else np.dtype(np.float32)
        out = np.empty(shape, dtype=work)
        flat = out.reshape(-1)
        if self.kind == "constant" or (self.scale == 0 and self.kind != "uniform"):
            flat.fill(self.loc)
        elif self.kind == "truncated_normal":
            _fill_truncated(flat, self, rng)
        else:
            # A scale beyond float32's range gives inf weights, which the run reports as
            # non-finite statistics: no numpy warning on stderr on the way.
            with np.errstate(over="ignore"):
                for start in range(0, flat.size, _CHUNK):
                    chunk = flat[start : start + _CHUNK]
                    if self.kind == "normal":
                        rng.standard_normal(dtype=work, out=chunk)
                        chunk *= self.scale
                        if self.loc:
                            chunk += self.loc
                    else:
                        rng.random(dtype=work, out=chunk)
                        chunk *= self.high - self.low
                        chunk += self.low
        return out if work == target else out.astype(target)


def _num(value: float) -> str:
    return f"{value:.6g}"


def _fill_truncated(flat: np.ndarray, dist: Distribution, rng: np.random.Generator) -> None:
    """Fill ``flat`` with N(loc, scale^2) restricted to [low, high].

    When the interval holds more than 30% of the mass (always, for the ±2σ of Keras/JAX),
    draw standard normals and redraw only the rejected ones (vectorised; ~4.6% at ±2σ), as
    torch.nn.init.trunc_normal_ does. Otherwise use the inverse CDF in log space, mirrored
    into the lower tail, which stays exact far from the mean.
    """
    alpha, beta = dist._standard_bounds()
    log_z = truncated_standard_moments(alpha, beta)[0]
    rejection = log_z > math.log(0.3)
    if not rejection:
        from scipy import special

        mirror = alpha > 0
        lo, hi = (-beta, -alpha) if mirror else (alpha, beta)
        log_lo, log_hi = float(special.log_ndtr(lo)), float(special.log_ndtr(hi))
        gap = -math.expm1(log_lo - log_hi)  # 1 - Phi(lo)/Phi(hi)
    # Bounds beyond float32's range (torch.trunc_normal(a=-1e200, b=1e200): untruncated)
    # become -inf/inf in float32 comparisons and the clip, which is what they mean.
    with np.errstate(over="ignore"):
        for start in range(0, flat.size, _CHUNK):
            chunk = flat[start : start + _CHUNK]
            if rejection:
                rng.standard_normal(dtype=chunk.dtype, out=chunk)
                bad = np.flatnonzero((chunk < alpha) | (chunk > beta))
                while bad.size:
                    fresh = rng.standard_normal(bad.size, dtype=chunk.dtype)
                    chunk[bad] = fresh
                    bad = bad[(fresh < alpha) | (fresh > beta)]
            else:
                # p = Phi(lo) + u (Phi(hi) - Phi(lo)) = Phi(hi) (1 - v gap), v = 1 - u in [0, 1)
                log_p = log_hi + np.log1p(-rng.random(chunk.size) * gap)
                values = special.ndtri_exp(log_p)
                chunk[...] = -values if mirror else values
            chunk *= dist.scale
            if dist.loc:
                chunk += dist.loc
            # float rounding of scale * x may step one ulp outside; the frameworks clamp too.
            np.clip(chunk, dist.low, dist.high, out=chunk)
