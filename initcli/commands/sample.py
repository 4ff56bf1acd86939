"""``initcli sample SPEC --shape S``: draw one tensor and compare it with its law."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from initcli.console import console, print_json

# Largest tensor drawn at once: 2^30 elements is 4 GiB of float32.
MAX_ELEMENTS = 1 << 30


def _check_target(path: Path, flag: str, force: bool) -> None:
    """Refuse, before anything is drawn or written, a ``path`` that is a directory, or an
    existing file without ``--force`` (as ``convert -o`` does): a draw never silently
    replaces a file."""
    from initcli.errors import EXIT_BAD_DATA, InitcliError
    from initcli.outputs import check_writable, refuse_existing

    if path.is_dir():
        raise InitcliError(f"{flag} {str(path)!r} is a directory; give a file name", EXIT_BAD_DATA)
    refuse_existing(path, flag, force)
    check_writable(path.parent if path.exists() else path, flag)


def _target(path: Path, flag: str) -> Path:
    """``path`` with its directory created, or a one-line error naming ``flag``."""
    from initcli.errors import error_context
    from initcli.outputs import ensure_directory

    with error_context(f"{flag} {str(path)!r}"):
        ensure_directory(path.parent, what="its directory", flag=flag)
    return path


def plot_histogram(values: Any, law: Any, title: str, path: Path) -> Path:
    """Histogram of ``values`` with ``law``'s density (or point masses) drawn over it."""
    import numpy as np

    from initcli.outputs import save_figure
    from initcli.plots import new_figure

    flat = values.reshape(-1)
    atoms = law.atoms()
    figure = new_figure(7.5, 4.5)
    axes = figure.add_subplot()
    if law.has_density:
        # Point masses (the zeros of sparse/delta_orthogonal) would dwarf the density: show
        # the continuous part's histogram and density, and the masses in the legend.
        part = flat
        for value, _ in atoms:
            part = part[part != value]
        low, high = (float(part.min()), float(part.max())) if part.size else (-1.0, 1.0)
        bins = int(min(120, max(10, math.sqrt(max(part.size, 1)))))
        counts, edges = np.histogram(part, bins=bins, range=(low, high))
        density = counts / (max(part.size, 1) * np.diff(edges))
        which = "samples" if not atoms else "samples besides the point masses"
        axes.stairs(density, edges, fill=True, alpha=0.5, label=f"{which} (n={part.size})")
        grid = np.linspace(low, high, 800)
        axes.plot(grid, law.base_pdf(grid), color="C3", label="theoretical density")
        axes.set_ylabel("density")
        for value, mass in atoms:
            seen = float(np.count_nonzero(flat == value)) / flat.size
            axes.plot([], [], " ", label=f"point mass at {value:g}: {mass:.4g} (seen {seen:.4g})")
    else:
        low, high = float(flat.min()), float(flat.max())
        observed = [float(np.count_nonzero(flat == value)) / flat.size for value, _ in atoms]
        where = [value for value, _ in atoms]
        span = (high - low) or max(1.0, abs(low))
        axes.bar(where, observed, width=0.03 * span, alpha=0.5, label=f"samples (n={flat.size})")
        axes.set_xlim(low - 0.25 * span, high + 0.25 * span)
        axes.plot(
            where, [mass for _, mass in atoms], "x", color="C3", ms=10, label="theoretical mass"
        )
        axes.set_ylabel("fraction of elements")
    axes.set_xlabel("weight value")
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    return save_figure(path, figure)


def _number(value: float) -> str:
    return "unbounded" if math.isinf(value) else f"{value:.6g}"


PLOT_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "webp", "eps", "tif", "tiff")


def sample(
    spec: str = typer.Argument(
        ..., help="Initializer SPEC, e.g. he_normal or 'truncated_normal(std=0.02)'."
    ),
    shape: str = typer.Option(..., "--shape", help="Tensor shape in --layout, e.g. 256,128."),
    layout: str | None = typer.Option(
        None,
        "--layout",
        help="torch (out, in, *k) | keras (*k, in, out) | jax (*k, in, out); default: the "
        "prefix's framework (keras./tf1./jax. read keras layout), else torch.",
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the draw."),
    save: Path | None = typer.Option(None, "--save", help="Save the array here (.npy)."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Save a histogram with the theoretical density here (.png)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace the --save / --plot files if they exist."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print only the result as JSON."),
) -> None:
    """Draw one tensor from an initializer and compare its empirical mean, std and range
    with the exact values of its distribution.

    Example: initcli sample keras.glorot_normal --shape 3,3,64,128 --layout keras --plot h.png
    """
    import numpy as np

    from initcli.errors import EXIT_BAD_USAGE, InitcliError, error_context
    from initcli.fans import check_layout
    from initcli.initializers import resolve_initializer
    from initcli.moments import moments
    from initcli.outputs import save_npy
    from initcli.shape_strings import parse_shape

    with error_context("SPEC"):
        init = resolve_initializer(spec)
    dims = parse_shape(shape, "--shape")
    # A keras.he_normal user writes shapes the Keras way: (*k, in, out).
    chosen = check_layout(layout) if layout is not None else init.layout
    if plot is not None and plot.suffix.lower().lstrip(".") not in PLOT_FORMATS:
        raise InitcliError(
            f"--plot {str(plot)!r}: cannot write a {plot.suffix or 'suffix-less'} image; "
            f"end the name with one of .{', .'.join(PLOT_FORMATS)}",
            EXIT_BAD_USAGE,
        )
    if save is not None and save.suffix.lower() != ".npy":
        # numpy.save(handle) writes the .npy format whatever the name says
        raise InitcliError(
            f"--save {str(save)!r}: the array is written in numpy's .npy format; end the "
            "name with .npy",
            EXIT_BAD_USAGE,
        )
    for flag, path in (("--save", save), ("--plot", plot)):
        if path is not None:
            _check_target(path, flag, force)
    count = math.prod(dims)
    if count > MAX_ELEMENTS:
        raise InitcliError(
            f"--shape {shape!r} has {count} elements, more than initcli draws at once "
            f"({MAX_ELEMENTS}); use a smaller shape",
            EXIT_BAD_USAGE,
        )
    law = init.distribution(dims, chosen)
    try:
        fans = init.fans(dims, chosen)
    except InitcliError:  # no fans for this rank, and this initializer needs none
        fans = None
    values = init.sample(dims, np.random.default_rng(seed), chosen)
    stats = moments(values)
    low, high = law.bounds()
    saved = None if save is None else save_npy(_target(save, "--save"), values)
    title = f"{init.spec}, shape {tuple(dims)} ({chosen} layout), seed {seed}"
    plotted = None if plot is None else plot_histogram(values, law, title, _target(plot, "--plot"))
    result = {
        "init": init.spec,
        "framework": init.framework,
        "distribution": init.describe(),
        "shape": list(dims),
        "layout": chosen,
        "seed": seed,
        "n": count,
        "fan_in": None if fans is None else fans.fan_in,
        "fan_out": None if fans is None else fans.fan_out,
        "receptive_field": None if fans is None else fans.receptive_field,
        "mean": stats.mean,
        "std": math.sqrt(stats.var),
        "min": float(values.min()),
        "max": float(values.max()),
        "expected_mean": law.mean(),
        "expected_std": law.std(),
        "expected_min": low,
        "expected_max": high,
        "saved": None if saved is None else str(saved),
        "plot": None if plotted is None else str(plotted),
    }
    if as_json:
        print_json(result)
        return

    from rich.table import Table
    from rich.text import Text

    out = console()
    out.print(Text(f"{init.spec}: {init.describe()}"))
    where = f"shape {tuple(dims)} in {chosen} layout, seed {seed}, n = {count}"
    if fans is not None:
        where += f", fan_in = {fans.fan_in}, fan_out = {fans.fan_out}"
    out.print(Text(where))
    table = Table()
    table.add_column("")
    table.add_column("empirical", justify="right")
    table.add_column("expected", justify="right")
    rows = (
        ("mean", stats.mean, law.mean()),
        ("std", math.sqrt(stats.var), law.std()),
        ("min", float(values.min()), low),
        ("max", float(values.max()), high),
    )
    for key, empirical, expected in rows:
        table.add_row(key, _number(empirical), _number(expected))
    out.print(table)
    out.print(Text("expected min and max are the bounds of the support", style="dim"))
    for label, path in (("array", saved), ("histogram", plotted)):
        if path is not None:
            out.print(Text(f"{label} written to {path}"))


def register(app: typer.Typer) -> None:
    app.command(name="sample")(sample)
