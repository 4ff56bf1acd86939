"""``initcli phase``: the order-to-chaos phase diagram of one activation.

A heatmap of chi_1 over (sigma_w^2, sigma_b^2) with the critical line chi_1 = 1, as in
Schoenholz et al. 2017, figure 1 (Poole et al. 2016, figure 2). Default ranges cover
tanh's critical line there: sigma_w^2 in [1, 4], sigma_b^2 in [0, 0.25].

JSON (``--json``) keys: ``activation``, ``figure`` (path of the PNG), ``sigma_w2`` and
``sigma_b2`` (the grid axes), ``chi_1`` and ``q_star`` (rows follow sigma_b2, columns
sigma_w2; q_star is null where the variance diverges), ``critical_line``
(``[{sigma_b2, sigma_w2}]``: per grid row, the smallest sigma_w^2 with chi_1 = 1, linearly
interpolated; null where the row does not cross 1).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from initcli.console import console, print_json
from initcli.errors import EXIT_BAD_USAGE, InitcliError, error_context

if TYPE_CHECKING:  # numpy is imported where it is used: `initcli --help` stays numpy-free
    import numpy as np

DEFAULT_OUT = Path("outputs")
DEFAULT_SIGMA_W2 = "1,4"
DEFAULT_SIGMA_B2 = "0,0.25"
DEFAULT_GRID = 100


def parse_range(text: str, flag: str) -> tuple[float, float]:
    """``"1,4"`` -> (1.0, 4.0): two finite numbers, 0 <= low < high."""
    pieces = [piece.strip() for piece in text.split(",")]
    try:
        values = [float(piece) for piece in pieces]
    except ValueError:
        values = []
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise InitcliError(
            f"{flag} {text!r} is not a range: write LOW,HIGH, e.g. {flag} 1,4", EXIT_BAD_USAGE
        )
    low, high = values
    if low < 0 or low >= high:
        raise InitcliError(
            f"{flag} {text!r} must satisfy 0 <= LOW < HIGH (variances), e.g. {flag} 1,4",
            EXIT_BAD_USAGE,
        )
    return low, high


def figure_name(activation_spec: str) -> str:
    """``phase_<activation>.png`` with the SPEC made filename-safe."""
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "-", activation_spec).strip("-")
    return f"phase_{slug}.png"


def phase(
    activation: str = typer.Option(
        ..., "--activation", "-a", help="Activation SPEC, e.g. tanh or 'elu(alpha=0.5)'."
    ),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Directory for phase_<activation>.png."),
    force: bool = typer.Option(False, "--force", help="Replace a plot of the same name."),
    sigma_w2: str = typer.Option(
        DEFAULT_SIGMA_W2, "--sigma-w2", help="Range LOW,HIGH of sigma_w^2 = fan_in * Var(W)."
    ),
    sigma_b2: str = typer.Option(
        DEFAULT_SIGMA_B2, "--sigma-b2", help="Range LOW,HIGH of sigma_b^2 = Var(b)."
    ),
    grid: int = typer.Option(
        DEFAULT_GRID, "--grid", min=2, max=1000, help="Grid points along each axis."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON only."),
) -> None:
    """Draw the order-to-chaos phase diagram: chi_1 over (sigma_w^2, sigma_b^2) with the
    critical line chi_1 = 1 (Schoenholz et al. 2017, figure 1).

    Example: initcli phase --activation tanh --out outputs --sigma-w2 1,4 --sigma-b2 0,0.25
    """
    import numpy as np

    from initcli.activations import resolve_activation
    from initcli.outputs import ensure_directory, unique_path
    from initcli.theory import phase_diagram

    with error_context("--activation"):
        act = resolve_activation(activation)
    w_low, w_high = parse_range(sigma_w2, "--sigma-w2")
    b_low, b_high = parse_range(sigma_b2, "--sigma-b2")
    diagram = phase_diagram(act, np.linspace(w_low, w_high, grid), np.linspace(b_low, b_high, grid))
    ensure_directory(out)
    path = unique_path(out / figure_name(act.spec), force)
    _save_figure(diagram, act.spec, path)
    critical = diagram.critical_sigma_w2()
    data: dict[str, Any] = {
        "activation": act.spec,
        "figure": str(path),
        "sigma_w2": diagram.sigma_w2,
        "sigma_b2": diagram.sigma_b2,
        "chi_1": diagram.chi_1,
        "q_star": diagram.q_star,
        "critical_line": [
            {"sigma_b2": b, "sigma_w2": w} for b, w in zip(diagram.sigma_b2, critical, strict=True)
        ],
    }
    if as_json:
        print_json(data)
        return
    _render(data, critical)


def _render(data: dict[str, Any], critical: np.ndarray) -> None:
    import numpy as np
    from rich.table import Table

    out = console()
    table = Table(title=f"Critical line chi_1 = 1 of {data['activation']}")
    table.add_column("sigma_b^2", justify="right")
    table.add_column("critical sigma_w^2", justify="right")
    rows = np.unique(np.linspace(0, len(critical) - 1, min(len(critical), 6)).round().astype(int))
    for row in rows:
        value = critical[row]
        shown = f"{value:.4g}" if math.isfinite(value) else "not in range"
        table.add_row(f"{data['sigma_b2'][row]:.4g}", shown)
    out.print(table)
    out.print("ordered (chi_1 < 1) left of the line, chaotic (chi_1 > 1) right of it")
    out.print(f"wrote {data['figure']}")


def _label_spot(mask: np.ndarray) -> tuple[int, int] | None:
    """The cell of ``mask`` farthest from its edge (where a region's label fits best)."""
    import numpy as np

    if not mask.any():
        return None
    from scipy.ndimage import distance_transform_edt

    padded = np.pad(mask, 1)  # the plot border counts as an edge
    distance = distance_transform_edt(padded)[1:-1, 1:-1]
    row, column = np.unravel_index(int(np.argmax(distance)), mask.shape)
    return int(row), int(column)


def _ticks(span: float) -> list[float]:
    """Readable colorbar ticks within [1/span, span], symmetric about 1 on the log scale."""
    nice = [1.0]
    for value in (1.25, 1.5, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000):
        if value <= span * (1 + 1e-9):
            nice += [value, 1 / value]
    chosen = sorted(nice)
    while len(chosen) > 9:  # thin out, keeping 1 and the extremes
        chosen = sorted({*chosen[::2], 1.0, chosen[-1]})
    return [round(value, 3) for value in chosen]


def _save_figure(diagram: Any, activation_spec: str, path: Path) -> None:
    import numpy as np
    from matplotlib.artist import Artist
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    from initcli.outputs import save_figure
    from initcli.plots import new_figure

    chi = diagram.chi_1
    finite = chi[np.isfinite(chi) & (chi > 0)]
    # A log scale symmetric about chi_1 = 1, so ordered and chaotic get equal colour room.
    span = max(finite.max(), 1 / finite.min()) if finite.size else 2.0
    span = min(max(span, 1.05), 1e3)
    norm = LogNorm(vmin=1 / span, vmax=span)
    extent = (
        diagram.sigma_w2[0],
        diagram.sigma_w2[-1],
        diagram.sigma_b2[0],
        diagram.sigma_b2[-1],
    )
    figure = new_figure(6.4, 4.8)
    figure.set_layout_engine("constrained")
    axes = figure.add_subplot()
    image = axes.imshow(
        np.clip(chi, 1 / span, span),
        origin="lower",
        extent=extent,
        aspect="auto",
        cmap="RdBu_r",
        norm=norm,
        interpolation="nearest",
    )
    colorbar = figure.colorbar(image, ax=axes)
    colorbar.set_label(r"$\chi_1 = \sigma_w^2\ \mathrm{E}\,[\phi'(\sqrt{q^*}\,z)^2]$  (log scale)")
    colorbar.set_ticks(_ticks(span))
    colorbar.minorticks_off()
    colorbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    handles: list[Artist] = []
    if np.nanmin(chi) < 1 < np.nanmax(chi):
        axes.contour(
            diagram.sigma_w2, diagram.sigma_b2, chi, levels=[1.0], colors="black", linewidths=2
        )
        handles.append(Line2D([], [], color="black", linewidth=2, label=r"$\chi_1 = 1$"))
    diverging = np.isinf(diagram.q_star)
    if diverging.any():
        axes.contourf(
            diagram.sigma_w2,
            diagram.sigma_b2,
            diverging.astype(float),
            levels=[0.5, 1.5],
            colors="none",
            hatches=["//"],
        )
        handles.append(Patch(facecolor="none", hatch="//", label=r"$q^*$ diverges"))
    for name, mask in (("ordered", chi < 1), ("chaotic", chi > 1)):
        spot = _label_spot(mask)
        if spot is not None:
            axes.text(
                diagram.sigma_w2[spot[1]],
                diagram.sigma_b2[spot[0]],
                name,
                ha="center",
                va="center",
                fontsize=12,
                bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"},
            )
    if handles:
        axes.legend(handles=handles, loc="upper right")
    axes.set_xlabel(r"$\sigma_w^2$ = fan_in $\times$ Var(W)")
    axes.set_ylabel(r"$\sigma_b^2$ = Var(b)")
    axes.set_title(f"Order-to-chaos phase diagram: {activation_spec}")
    save_figure(path, figure)


def register(app: typer.Typer) -> None:
    app.command(name="phase")(phase)
