"""What every reproduction shares: a :class:`Claim` and its interval, per-layer
:class:`Series` for tables and figures, and the weights of slopes and differences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Half-width of every interval in standard deviations: a two-sided normal tail of 6.8e-6 per
# check, so the ~700 checks of the full reproductions (a claim about every layer counts each
# layer) raise a false alarm with probability below 0.5% (Bonferroni); if the noise model
# underestimates an sd by 25% (its worst case in the calibration table of
# docs/reproductions.md) a check is still at 3.6 sd, a tail of 3e-4.
Z_BOUND = 4.5


# --- claims -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One checked statement: ``low <= measured <= high``."""

    paper: str  # e.g. "He et al. 2015"
    text: str  # the statement, one line
    measured: float
    expected: float  # the theory's value (what the interval is centred on)
    low: float
    high: float
    basis: str  # how the interval was derived, one line
    score: bool = False  # measured is a worst deviation in sd (theory 0, accepted <= high)

    @property
    def holds(self) -> bool:
        return bool(self.low <= self.measured <= self.high)

    def describe(self) -> str:
        verdict = "holds" if self.holds else "FAILS"
        if self.score:
            numbers = f"worst deviation {self.measured:.2f} sd, accepted <= {self.high:g} sd"
        else:
            numbers = (
                f"measured {self.measured:.4g}, theory {self.expected:.4g}, accepted "
                f"[{self.low:.4g}, {self.high:.4g}]"
            )
        return f"[{verdict}] {self.paper}: {self.text}: {numbers} ({self.basis})"


def log_claim(
    paper: str, text: str, measured: float, expected: float, sd: float, jensen: float, basis: str
) -> Claim:
    """measured / expected within exp(+-(Z sd + jensen)): a band on the log scale."""
    half = Z_BOUND * sd + abs(jensen)
    return Claim(
        paper,
        text,
        measured,
        expected,
        expected * math.exp(-half),
        expected * math.exp(half),
        f"{Z_BOUND} sd = {Z_BOUND * sd:.3g} in ln, + Jensen {abs(jensen):.2g}; {basis}",
    )


def worst_layer_claim(
    paper: str,
    text: str,
    measured: Sequence[float],
    expected: Sequence[float],
    sds: Sequence[float],
    jensens: Sequence[float],
) -> Claim:
    """Every layer within its band: the largest |ln(m / t)| - jensen, in sd units, <= Z."""
    scores = [
        max(0.0, abs(math.log(m / t)) - abs(j)) / s
        for m, t, s, j in zip(measured, expected, sds, jensens, strict=True)
    ]
    worst = int(np.argmax(scores))
    return Claim(
        paper,
        f"{text} (worst: layer {worst + 1})",
        scores[worst],
        0.0,
        0.0,
        Z_BOUND,
        "per-layer |ln(measured / theory)| beyond Jensen, in noise-model sd",
        score=True,
    )


# --- shared pieces ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One per-layer curve for tables and figures: measured, theory and accepted band."""

    label: str
    layers: list[int]
    measured: list[float]
    theory: list[float] | None = None
    band: list[float] | None = None  # accepted half-width in ln around theory, per layer


def band(sds: Sequence[float], jensens: Sequence[float]) -> list[float]:
    return [Z_BOUND * s + abs(j) for s, j in zip(sds, jensens, strict=True)]


def difference_weights(size: int, upper: int, lower: int) -> np.ndarray:
    """Weights of ln(stat_upper) - ln(stat_lower) over ``size`` layers (0-based)."""
    weights = np.zeros(size)
    weights[upper] += 1.0
    weights[lower] -= 1.0
    return weights


def slope_weights(layers: Sequence[int] | np.ndarray) -> np.ndarray:
    """OLS slope of y on the layer index as a linear combination of the y's."""
    x = np.asarray(layers, dtype=float)
    centred = x - x.mean()
    return centred / float(centred @ centred)
