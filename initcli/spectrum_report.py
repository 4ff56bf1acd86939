"""Views of a :class:`~initcli.spectrum.SpectrumResult`: the rich tables, the verdict and the
singular-value density plot (measured histogram, theoretical density over it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from initcli.report import fmt
from initcli.spectrum import SpectrumResult

VERDICT_STYLE = {"well-conditioned": "green", "ill-conditioned": "yellow", "exploded": "red"}


def _method_text(result: SpectrumResult) -> str:
    method = result.method
    if method["kind"] == "exact":
        return "exact SVD of the full Jacobian"
    return f"stochastic Lanczos quadrature, {method['steps']} steps"


def header(result: SpectrumResult) -> str:
    return (
        f"{result.name}: init {result.init}, bias {result.bias_init}, seed {result.seed}, "
        f"{result.examples} examples, Jacobian {result.out_dim} x {result.in_dim} "
        f"({_method_text(result)})"
    )


def summary_table(results: Sequence[SpectrumResult], title: str | None = None) -> Table:
    """One column per result: moments, extremes, condition and quantiles of s, with theory."""
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("singular values s")
    for result in results:
        table.add_column(result.init if len(results) > 1 else "measured", justify="right")
        table.add_column("theory", justify="right")
    rows: list[tuple[str, list[tuple[str, str]]]] = [
        (
            "mean s²",
            [(fmt(r.mean_sq_singular), fmt(r.theory.mean_sq_singular)) for r in results],
        ),
        ("var s²", [(fmt(r.var_sq_singular), fmt(r.theory.var_sq_singular)) for r in results]),
        ("max s", [(fmt(r.max_singular), "") for r in results]),
        ("min s", [(fmt(r.min_singular), "") for r in results]),
        ("max/min (median)", [(fmt(r.condition), "") for r in results]),
    ]
    for key in results[0].quantiles:
        label = f"{key[1:]}% quantile"
        rows.append((label, [(fmt(r.quantiles[key]), "") for r in results]))
    rows.append(("share in [0.5, 2]", [(f"{100 * r.share_in_band:.1f}%", "") for r in results]))
    for label, cells in rows:
        table.add_row(label, *[cell for pair in cells for cell in pair])
    return table


def layer_table(result: SpectrumResult) -> Table:
    table = Table(
        title="per layer: mean s² of its own Jacobian D W (chi)",
        title_justify="left",
        header_style="bold",
    )
    for name in ("#", "layer", "φ", "mean s²", "theory", "q (mean field)"):
        table.add_column(name, justify="left" if name in ("layer", "φ") else "right")
    for row in result.per_layer:
        table.add_row(
            str(row["index"]),
            row["name"],
            str(row["activation"]),
            fmt(row["mean_sq_singular"]),
            fmt(row["theory_mean_sq_singular"]),
            fmt(row["theory_q"]),
        )
    return table


def verdict_line(result: SpectrumResult, label: str = "") -> Text:
    line = Text(label)
    line.append(result.message, style=VERDICT_STYLE.get(result.verdict, ""))
    return line


def print_result(console: Console, result: SpectrumResult, layers: bool = True) -> None:
    console.print(header(result))
    console.print(summary_table([result]))
    if layers:
        console.print(layer_table(result))
    console.print(verdict_line(result))
    for note in result.notes:
        console.print(f"note: {note}")


# --- the figure --------------------------------------------------------------------------------


PLOT_DECADES = 8.0  # the x axis spans at most this many decades below the largest s


def _log_bins(results: Sequence[SpectrumResult]) -> np.ndarray:
    values = np.concatenate([r.values[np.isfinite(r.values) & (r.values > 0)] for r in results])
    if values.size == 0:
        return np.logspace(-1, 1, 41)
    high = np.log10(values.max())
    low = max(np.log10(values.min()), high - PLOT_DECADES)
    if high - low < 0.1:
        middle = 0.5 * (low + high)
        low, high = middle - 0.05, middle + 0.05
    return np.logspace(low - 0.02 * (high - low), high + 0.02 * (high - low), 61)


def spectrum_figure(results: Sequence[SpectrumResult], title: str) -> Any:
    """Density of log10 s: a step histogram per result (weights = each value's share), the
    theoretical density (Fuss-Catalan) dashed, a point mass as a vertical line, and the
    theory's root-mean-square singular value as a dotted line."""
    from initcli.plots import new_figure

    figure = new_figure(8, 5)
    figure.set_layout_engine("constrained")
    axis = figure.add_subplot()
    bins = _log_bins(results)
    widths = np.diff(np.log10(bins))
    for number, result in enumerate(results):
        colour = f"C{number % 10}"
        keep = np.isfinite(result.values)
        # values below the axis (zero, or below the rounding floor) go into the first bin
        clipped = np.clip(result.values[keep], bins[0], bins[-1])
        counts, _ = np.histogram(clipped, bins=bins, weights=result.weights[keep])
        label = result.init if len(results) > 1 else "measured"
        axis.stairs(counts / widths, bins, color=colour, linewidth=1.6, label=label)
        density = result.theory.density
        if density is not None and density.get("law") == "fuss_catalan":
            s = np.asarray(density["s"], dtype=float)
            pdf = np.asarray(density["density"], dtype=float)
            axis.plot(
                s,
                pdf * s * math.log(10),
                color=colour,
                linestyle="--",
                label=f"{result.init}: Fuss-Catalan (L={density['order']})",
            )
        elif density is not None and density.get("law") == "point_mass":
            axis.axvline(
                float(density["at"]),  # type: ignore[arg-type]
                color=colour,
                linestyle="--",
                label=f"{result.init}: theory, every s = {float(density['at']):.3g}",  # type: ignore[arg-type]
            )
        elif (
            len(results) == 1
            and result.theory.mean_sq_singular
            and math.isfinite(result.theory.mean_sq_singular)
        ):
            axis.axvline(
                math.sqrt(result.theory.mean_sq_singular),
                color=colour,
                linestyle=":",
                label=f"{result.init}: theory sqrt(mean s²)",
            )
    axis.axvspan(0.5, 2.0, color="0.85", alpha=0.4, zorder=0, label="[0.5, 2]")
    axis.set_xscale("log")
    below = any(np.any(r.values[np.isfinite(r.values)] < bins[0] * (1 + 1e-12)) for r in results)
    axis.set_xlabel(
        "singular value s of d output / d input (log scale)"
        + (f"; s below {bins[0]:.1g} counted in the leftmost bin" if below else "")
    )
    axis.set_ylabel("density of log10 s")
    import textwrap

    wrapped = "\n".join(textwrap.fill(line, 95) for line in title.split("\n"))
    axis.set_title(wrapped, fontsize=10)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    return figure
