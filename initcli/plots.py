"""Matplotlib figures of a :class:`~initcli.stats.RunResult` (Agg backend, written atomically).

- ``variance_by_layer.png``: Var z, Var phi(z), Var dL/dz and Var dL/dW per layer on a log
  scale, theory dashed with crosses on top of the measurements, legend outside the data
  (He et al. 2015, fig. 1 style).
- ``activation_histograms.png`` / ``gradient_histograms.png``: per-layer histograms of
  phi(z) and of dL/dz (Glorot & Bengio 2010, figs. 3, 6 and 7); the figure says which
  layers it shows when it cannot show them all.

Figures are drawn with matplotlib's object-oriented API (``Figure`` + ``FigureCanvasAgg``),
never through pyplot's global state, and matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from initcli.outputs import save_figure
from initcli.stats import LayerStats, RunResult

MAX_HISTOGRAM_LAYERS = 8


def import_matplotlib() -> None:
    """The matplotlib modules the figures use (about 0.4 s of pure Python the first time):
    ``initcli run`` has this done by a helper forked before the computation starts."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure
    import matplotlib.ticker  # noqa: F401


def new_figure(width: float, height: float) -> Any:
    """An Agg figure of ``width`` x ``height`` inches, outside pyplot (nothing to close).

    No layout engine: constrained layout measured 0.1-0.3 s per figure (it lays out every
    tick label twice); :func:`arrange` places the axes once from measured text extents.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


_PAD_INCHES = 0.12  # around the figure's edge and between neighbouring labels


def arrange(figure: Any) -> Any:
    """Place the figure's axes (one row) so that every label, title and the legend outside
    the last axes fit, measuring each text once with the Agg renderer; returns ``figure``."""
    renderer = figure.canvas.get_renderer()
    width, height = figure.get_size_inches()
    dpi = figure.dpi
    axes = figure.axes

    def inches(artist: Any) -> tuple[float, float]:
        if artist is None or not artist.get_visible() or not artist.get_text():
            return 0.0, 0.0
        box = artist.get_window_extent(renderer)
        return box.width / dpi, box.height / dpi

    def tick_extent(axis: Any, along: str) -> float:
        labels = axis.get_yticklabels() if along == "y" else axis.get_xticklabels()
        sizes = [inches(label)[0 if along == "y" else 1] for label in labels]
        return max(sizes, default=0.0)

    left_need = max(tick_extent(axis, "y") + inches(axis.yaxis.label)[0] for axis in axes)
    bottom_need = max(tick_extent(axis, "x") + inches(axis.xaxis.label)[1] for axis in axes)
    title_need = max(inches(axis.title)[1] for axis in axes)
    suptitle = getattr(figure, "_suptitle", None)
    top_need = title_need + inches(suptitle)[1] + (_PAD_INCHES if suptitle is not None else 0)
    legend = axes[-1].get_legend()
    legend_need = legend.get_window_extent(renderer).width / dpi if legend is not None else 0.0
    left = left_need + 2 * _PAD_INCHES
    # legend_outside anchors the legend at 1.01 of the last axes' width
    right = legend_need + 2 * _PAD_INCHES + (0.02 * width if legend is not None else 0.0)
    bottom = bottom_need + 2 * _PAD_INCHES
    top = top_need + 2 * _PAD_INCHES
    gap = left_need + 3 * _PAD_INCHES  # between panels: room for the next one's y labels
    panels = len(axes)
    # n panels of width w with n - 1 gaps fill the middle: n w + (n - 1) gap = middle
    middle = max(width - left - right, 0.3 * width)
    panel = max((middle - (panels - 1) * gap) / panels, 0.1 * width / panels)
    figure.subplots_adjust(
        left=left / width,
        right=(left + panels * panel + (panels - 1) * gap) / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=gap / panel,
    )
    return figure


def integer_layers(axis: Any, count: int) -> None:
    """Layer numbers on the x axis: whole numbers only, every one when there are few."""
    from matplotlib.ticker import MaxNLocator

    if count <= 25:
        axis.set_xticks(range(1, count + 1))
    else:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))


def _plain_number(value: float, _position: object = None) -> str:
    """``0.001``, ``1``, ``1e+06``: a log axis's labels without mathtext (which costs
    a tenth of a second per figure to lay out)."""
    return f"{value:g}"


MINOR_LABELS_BELOW_DECADES = 2.0


def log_y(axis: Any) -> None:
    """A log y axis labelled in plain numbers at the decades, and at the minor ticks (2 and
    5 x 10^k) too when it spans less than two decades, where the decades alone would leave
    one label or none (matplotlib's LogFormatter does the same with its minor_thresholds)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    def minor_label(value: float, _position: object = None) -> str:
        low, high = axis.get_ylim()
        narrow = 0 < low < high and math.log10(high / low) < MINOR_LABELS_BELOW_DECADES
        return f"{value:g}" if narrow else ""

    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(FuncFormatter(_plain_number))
    axis.yaxis.set_minor_formatter(FuncFormatter(minor_label))
    axis.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))


def legend_outside(axis: Any, fontsize: float = 8) -> None:
    """The legend to the right of the axes, where it cannot cover a curve."""
    if axis.get_legend_handles_labels()[0]:
        axis.legend(
            fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0
        )


THEORY_STYLE: dict[str, Any] = {  # drawn over the measurements, visible where they agree
    "linestyle": (0, (4, 3)),
    "linewidth": 1.4,
    "marker": "x",
    "markersize": 5,
    "zorder": 4,
}
MEASURED_STYLE: dict[str, Any] = {"marker": "o", "markersize": 3, "linewidth": 1.4, "zorder": 2}


def _positive(values: Sequence[float | None]) -> np.ndarray:
    """Values for a log axis: None, non-positive and non-finite become NaN (gaps)."""
    out = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def _first_nonfinite(layers: Sequence[LayerStats]) -> int | None:
    """First layer whose forward values overflowed (backward overflow shows in the lines)."""
    return next(
        (
            layer.index
            for layer in layers
            if not (math.isfinite(layer.preact_var) and math.isfinite(layer.act_var))
        ),
        None,
    )


def variance_figure(result: RunResult) -> Any:
    layers = result.layers
    x = np.array([layer.index for layer in layers])
    figure = new_figure(10, 5)
    axis = figure.add_subplot()
    series: list[tuple[str, list[float | None], str]] = [
        ("Var z (pre-activation)", [s.preact_var for s in layers], "C0"),
        ("Var φ(z) (activation)", [s.act_var for s in layers], "C1"),
        ("Var ∂L/∂z (back-propagated gradient)", [s.grad_var for s in layers], "C2"),
        ("Var ∂L/∂W (weight gradient)", [s.weight_grad_var for s in layers], "C3"),
    ]
    keys = ("preact_var", "act_var", "grad_var", "weight_grad_var")
    for (label, values, colour), key in zip(series, keys, strict=True):
        y = _positive(values)
        if np.isfinite(y).any():
            axis.plot(x, y, color=colour, label=label, **MEASURED_STYLE)
            _band(axis, layers, key, colour)
    theory: list[tuple[str, list[float | None], str]] = [
        ("theory Var z (mean field)", [s.theory_preact_var for s in layers], "C0"),
        ("theory Var ∂L/∂z (mean field)", [s.theory_grad_var for s in layers], "C2"),
        ("theory Var ∂L/∂W (mean field)", [s.theory_weight_grad_var for s in layers], "C3"),
    ]
    for label, values, colour in theory:
        y = _positive(values)
        predicted = int(np.isfinite(y).sum())
        if predicted:
            if predicted < len(layers):  # say so, or a reader takes the gaps for a bug
                label += f", predicted at {predicted} of {len(layers)} layers"
            axis.plot(x, y, color=colour, label=label, **THEORY_STYLE)
    bad = _first_nonfinite(layers)
    if bad is not None:
        axis.axvline(bad, color="red", linestyle=":", label=f"forward inf/NaN from layer {bad}")
    log_y(axis)
    axis.set_xlabel("layer (rows of the table: weighted and norm layers, input side = 1)")
    axis.set_ylabel("variance (log scale)")
    draws = f"seeds {result.seed}..{result.seed + result.seeds - 1} (band: min-max)"
    axis.set_title(
        f"{result.name}: variance by layer — init {result.init}, batch {result.batch}, "
        + (draws if result.seeds > 1 else f"seed {result.seed}"),
        fontsize=10,
    )
    integer_layers(axis, len(x))
    axis.grid(True, which="major", alpha=0.3)
    legend_outside(axis)
    return arrange(figure)


def _histogram_layers(count: int) -> list[int]:
    picks = np.linspace(0, count - 1, min(count, MAX_HISTOGRAM_LAYERS))
    return sorted({round(p) for p in picks})


@dataclass(frozen=True)
class HistogramPanel:
    """One histogram figure's curves, binned from a run's samples with numpy alone: what the
    figure helper receives instead of the samples (a few KiB, not 8 x 2 x 50,000 values)."""

    edges: np.ndarray  # 81 bin edges shared by every curve
    curves: tuple[tuple[str, np.ndarray], ...]  # (legend label, density per bin) per layer
    shown: str  # which layers the figure shows, and why not all of them
    # Gradients whose stds differ by more than STANDARDIZED_ABOVE: each layer's values over
    # its own std, on STANDARD_EDGES (density per bin, in the order of ``curves``), for a
    # second panel where the narrow layers' shapes are seen too
    standardized: tuple[np.ndarray, ...] = ()


# A second, standardized panel when the widest layer's std is this many times the narrowest:
# then the narrow layers are a few bins wide on the shared axis (cnn_relu: 0.015 vs 0.98).
STANDARDIZED_ABOVE = 4.0
STANDARD_EDGES = np.linspace(-5.0, 5.0, 81)


@dataclass(frozen=True)
class RunFigures:
    """Everything a run's figures draw: the result without its samples, and the binned
    histograms of phi(z) and dL/dz (None when there is nothing to draw)."""

    result: RunResult
    activations: HistogramPanel | None
    gradients: HistogramPanel | None


def figure_data(result: RunResult) -> RunFigures:
    return RunFigures(
        replace(result, samples=[]),
        histogram_panel(result, "act"),
        histogram_panel(result, "grad"),
    )


def histogram_panel(result: RunResult, which: str) -> HistogramPanel | None:
    """``which`` is "act" (phi(z)) or "grad" (dL/dz); None when no layer has a finite value."""
    chosen = _histogram_layers(len(result.layers))
    data: list[tuple[LayerStats, np.ndarray, float]] = []
    for position in chosen:
        sample = getattr(result.samples[position], which) if result.samples else None
        if sample is None:
            continue
        finite = sample[np.isfinite(sample)]
        zero_share = 0.0
        if which == "act" and result.layers[position].zero_frac is not None and finite.size:
            zero_share = float(np.mean(finite == 0))
            finite = finite[finite != 0]  # relu's spike at 0 would flatten every other bar
        if finite.size:
            data.append((result.layers[position], finite, zero_share))
    if not data:
        return None
    bounded = which == "act" and result.layers[chosen[0]].saturated_frac is not None
    if bounded:
        # Bounded activations (tanh, sigmoid) show their whole range, so saturation at the
        # bounds stays visible.
        everything = np.concatenate([values for _, values, _ in data])
        low, high = float(everything.min()), float(everything.max())
    else:
        # Wide enough for the widest layer's bulk (its 0.1% tails cut); narrower layers then
        # show as spikes, as in Glorot & Bengio's figures, on one shared axis.
        low = min(float(np.percentile(values, 0.1)) for _, values, _ in data)
        high = max(float(np.percentile(values, 99.9)) for _, values, _ in data)
    if which == "grad" or low < 0 < high:
        bound = max(abs(low), abs(high))
        low, high = -bound, bound
    if not high > low:
        low, high = low - 1.0, high + 1.0
    edges = np.linspace(low, high, 81)
    curves = []
    stds = [math.sqrt(_var(values)) for _, values, _ in data]
    for (layer, values, zero_share), std in zip(data, stds, strict=True):
        counts, _ = np.histogram(values, bins=edges)
        total = values.size / (1.0 - zero_share) if zero_share < 1 else values.size
        label = f"layer {layer.index} ({layer.name}), std {std:.3g}"
        if zero_share > 0:
            label += f", {100 * zero_share:.0f}% zeros not shown"
        curves.append((label, counts / (total * np.diff(edges))))
    standardized: tuple[np.ndarray, ...] = ()
    spread = max(stds) / min(stds) if min(stds) > 0 else math.inf
    if which == "grad" and len(data) > 1 and spread > STANDARDIZED_ABOVE:
        widths = np.diff(STANDARD_EDGES)
        standardized = tuple(
            np.histogram(values / std if std > 0 else values, bins=STANDARD_EDGES)[0]
            / (values.size * widths)
            for (_, values, _), std in zip(data, stds, strict=True)
        )
    shown = _shown_layers(result, [d[0] for d in data])
    return HistogramPanel(edges, tuple(curves), shown, standardized)


def histogram_figure(result: RunResult, panel: HistogramPanel | None, which: str) -> Any | None:
    """The figure of ``panel`` (phi(z) when ``which`` is "act", else dL/dz)."""
    if panel is None:
        return None
    from matplotlib import colormaps

    both = bool(panel.standardized)
    figure = new_figure(15 if both else 10, 5)
    axes = figure.subplots(1, 2) if both else [figure.add_subplot()]
    axis = axes[0]
    colours = colormaps["viridis"](np.linspace(0, 0.9, len(panel.curves)))
    centres = (panel.edges[:-1] + panel.edges[1:]) / 2
    for (label, density), colour in zip(panel.curves, colours, strict=True):
        axis.plot(centres, density, color=colour, label=label, drawstyle="steps-mid")
    if which == "act":
        title = f"{result.name}: activation values φ(z) per layer — init {result.init}"
        axis.set_xlabel("activation value φ(z)")
    else:
        title = f"{result.name}: back-propagated gradients ∂L/∂z per layer — init {result.init}"
        axis.set_xlabel("gradient value ∂L/∂z (one axis for all: the widths compare)")
    axis.set_ylabel("density (share of values per unit)")
    if both:
        # Each layer over its own std: the shapes of the layers that are spikes on the left
        standard = axes[1]
        middles = (STANDARD_EDGES[:-1] + STANDARD_EDGES[1:]) / 2
        for (label, _), density, colour in zip(
            panel.curves, panel.standardized, colours, strict=True
        ):  # the layers' legend goes beside this panel, the last one
            standard.plot(middles, density, color=colour, label=label, drawstyle="steps-mid")
        grid = np.linspace(STANDARD_EDGES[0], STANDARD_EDGES[-1], 201)
        standard.plot(
            grid,
            np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi),
            color="black",
            linestyle="--",
            linewidth=1,
            label="N(0, 1)",
        )
        positive = np.concatenate([d[d > 0] for d in panel.standardized])
        if positive.size:  # the data's range, not the reference's 1e-6 tails
            standard.set_ylim(0.5 * positive.min(), 2 * positive.max())
        standard.set_xlabel("∂L/∂z / its layer's std (the shapes compare)")
        standard.set_title("each layer standardized", fontsize=9)
    for each in axes:
        log_y(each)
        each.grid(True, alpha=0.3)
    if both:
        figure.suptitle(title + "\n" + panel.shown, fontsize=9)
        axis.set_title("one axis for all layers", fontsize=9)
    else:
        axis.set_title(title + "\n" + panel.shown, fontsize=9)
    legend_outside(axes[-1], fontsize=7)
    return arrange(figure)


def _shown_layers(result: RunResult, shown: Sequence[LayerStats]) -> str:
    """Which layers the histograms show, and why not all of them."""
    total = len(result.layers)
    if len(shown) == total:
        return f"all {total} layers"
    numbers = ", ".join(str(layer.index) for layer in shown)
    why = f"at most {MAX_HISTOGRAM_LAYERS}, evenly spaced from first to last, so curves stay apart"
    chosen = len(_histogram_layers(total))
    if len(shown) < chosen:
        why += "; layers with no finite values are left out"
    return f"layers {numbers} of {total} ({why})"


def _var(values: np.ndarray) -> float:
    return float(np.var(values)) if values.size else math.nan


SPP_PANELS = (
    ("avg_channel_sq_mean", "average channel squared mean", None, None),
    ("avg_channel_var", "average channel variance", "second_moment", "theory_second_moment"),
    (
        "branch_avg_channel_var",
        "residual branch: average channel variance of scale·f(x)",
        "branch_second_moment",
        "theory_branch_second_moment",
    ),
)


def signal_propagation_figure(results: Sequence[RunResult], title: str) -> Any | None:
    """The signal-propagation plots of Brock, De & Smith (2021, fig. 1): per residual block,
    the stream's average channel squared mean and variance and the branch's variance, log
    y; one colour per result. Mean-field theory predicts the second moment E[y^2] (= squared
    mean + variance), drawn dashed beside the measured E[y^2] (dotted)."""
    if not any(result.blocks for result in results):
        return None
    figure = new_figure(15, 4.8)
    axes = figure.subplots(1, 3, sharex=True)
    for number, result in enumerate(results):
        colour = f"C{number % 10}"
        x = [block.index for block in result.blocks]
        label = result.init if len(results) > 1 else "measured"
        for axis, (key, _, second, theory_key) in zip(axes, SPP_PANELS, strict=True):
            y = _positive([getattr(block, key) for block in result.blocks])
            if np.isfinite(y).any():
                axis.plot(x, y, color=colour, marker="o", markersize=3, label=label)
                _block_band(axis, result, key, colour)
            if theory_key is None or second is None:
                continue
            theory = _positive([getattr(block, theory_key) for block in result.blocks])
            if np.isfinite(theory).any():
                measured = _positive([getattr(block, second) for block in result.blocks])
                axis.plot(
                    x,
                    measured,
                    color=colour,
                    linestyle=":",
                    alpha=0.8,
                    label=f"{label}: measured E[y²]" if len(results) > 1 else "measured E[y²]",
                )
                axis.plot(
                    x,
                    theory,
                    color=colour,
                    **THEORY_STYLE,
                    label=f"{label}: theory E[y²] (mean field)"
                    if len(results) > 1
                    else "theory E[y²] (mean field)",
                )
    for axis, (_, panel_title, _, _) in zip(axes, SPP_PANELS, strict=True):
        log_y(axis)
        axis.set_xlabel("residual block")
        integer_layers(axis, max((len(result.blocks) for result in results), default=1))
        axis.set_title(panel_title, fontsize=10)
        axis.grid(True, which="major", alpha=0.3)
    legend_outside(axes[-1], fontsize=7)
    figure.suptitle(title, fontsize=11)
    return arrange(figure)


def _block_band(axis: Any, result: RunResult, key: str, colour: Any) -> None:
    blocks = result.blocks
    if not blocks or not blocks[0].spread or key not in blocks[0].spread:
        return
    x = [block.index for block in blocks]
    low = _positive([b.spread[key][0] if b.spread else None for b in blocks])
    high = _positive([b.spread[key][1] if b.spread else None for b in blocks])
    axis.fill_between(x, low, high, color=colour, alpha=0.15, linewidth=0)


def save_run_plots(data: RunFigures, directory: Path, side_by_side: bool = False) -> list[Path]:
    """Write every figure of a run (:func:`figure_data`) into ``directory``; returns the
    paths written.

    ``side_by_side``: draw each figure in a forked child of this process (initcli.forked;
    drawing is pure Python, 0.15-0.2 s a figure), for a caller without other threads.
    """
    from initcli.forked import run_side_by_side

    def job(filename: str, make: Callable[[], Any]) -> Callable[[], Path | None]:
        def draw_and_save() -> Path | None:
            figure = make()
            return None if figure is None else save_figure(directory / filename, figure)

        return draw_and_save

    result = data.result
    figures: list[tuple[str, Callable[[], Any]]] = [
        ("variance_by_layer.png", lambda: variance_figure(result)),
        ("activation_histograms.png", lambda: histogram_figure(result, data.activations, "act")),
        ("gradient_histograms.png", lambda: histogram_figure(result, data.gradients, "grad")),
    ]
    if result.blocks:
        title = (
            f"{result.name}: signal propagation per residual block — init {result.init}, "
            f"batch {result.batch}, seed {result.seed}"
        )
        figures.append(
            ("signal_propagation.png", lambda: signal_propagation_figure([result], title))
        )
    import_matplotlib()  # once, before the children fork, for all of them
    written = run_side_by_side([job(name, make) for name, make in figures], side_by_side)
    return [path for path in written if path is not None]


def _band(axis: Any, layers: Sequence[LayerStats], key: str, colour: Any) -> None:
    """The [min, max] over seeds of one variance, as a translucent band."""
    if not layers or not layers[0].spread or key not in layers[0].spread:
        return
    x = [layer.index for layer in layers]
    low = _positive([layer.spread[key][0] if layer.spread else None for layer in layers])
    high = _positive([layer.spread[key][1] if layer.spread else None for layer in layers])
    axis.fill_between(x, low, high, color=colour, alpha=0.15, linewidth=0)


def compare_figure(results: Sequence[RunResult], title: str) -> Any:
    """Var z (left) and Var dL/dz (right) by layer, one colour per initializer, theory dashed."""
    figure = new_figure(13, 5)
    forward, backward = figure.subplots(1, 2, sharex=True)
    panels = [
        (forward, "preact_var", "theory_preact_var", "forward: Var z (pre-activation)"),
        (backward, "grad_var", "theory_grad_var", "backward: Var ∂L/∂z (gradient)"),
    ]
    for number, result in enumerate(results):
        colour = f"C{number % 10}"
        x = [layer.index for layer in result.layers]
        for axis, key, theory_key, _ in panels:
            y = _positive([getattr(layer, key) for layer in result.layers])
            if not np.isfinite(y).any():
                continue
            axis.plot(x, y, color=colour, label=f"{result.init}", **MEASURED_STYLE)
            _band(axis, result.layers, key, colour)
            theory = _positive([getattr(layer, theory_key) for layer in result.layers])
            if np.isfinite(theory).any():
                axis.plot(x, theory, color=colour, label=f"{result.init} (theory)", **THEORY_STYLE)
    for axis, _, _, panel_title in panels:
        log_y(axis)
        axis.set_xlabel("layer (input side = 1)")
        axis.set_ylabel("variance (log scale)")
        axis.set_title(panel_title, fontsize=10)
        axis.grid(True, alpha=0.3)
        integer_layers(axis, max(len(result.layers) for result in results))
    legend_outside(backward)
    figure.suptitle(title + " — solid: measured, dashed with x: mean-field theory", fontsize=11)
    return arrange(figure)
