"""Reproduce the classic initialization results: every figure and number of
docs/reproductions.md.

    python scripts/reproduce.py                 # full sizes, figures into docs/figures
    python scripts/reproduce.py --quick         # the test suite's sizes (about a minute)
    python scripts/reproduce.py --out /tmp/figs --no-calibrate
    python scripts/reproduce.py --only saxe2014 --only he2015

Each reproduction is a function of the ``reproductions`` package (at the repository root,
one module per paper) returning its numbers and its claims; this script prints them as
Markdown tables and draws the figures. The tests
(tests/test_reproductions.py) assert the same claims. Exit status 1 if any claim fails.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the reproductions package lives beside initcli, uninstalled
    sys.path.insert(0, str(REPO))

from initcli.network_spec import load_spec  # noqa: E402
from reproductions import (  # noqa: E402
    FULL,
    QUICK,
    SCHOENHOLZ_SIGMA_W2,
    Z_BOUND,
    CalibrationRow,
    Claim,
    Glorot2010,
    He2015,
    Klambauer2017,
    Saxe2014,
    Schoenholz2017,
    Series,
    calibrate_noise_model,
    reproduce_glorot2010,
    reproduce_he2015,
    reproduce_klambauer2017,
    reproduce_saxe2014,
    reproduce_schoenholz2017,
)

DPI = 100
INIT_COLOURS = {
    "glorot_uniform": "C0",
    "he_normal": "C3",
    "torch_default": "C3",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, directory: Path, name: str) -> Path:
    path = directory / name
    figure.savefig(path, dpi=DPI)
    _pyplot().close(figure)
    size = path.stat().st_size
    print(
        f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path} "
        f"({size / 1024:.0f} KB)"
    )
    return path


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def g(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "∞" if value == math.inf else "-"
    return f"{value:.{digits}g}"


def claims_table(claims: Sequence[Claim]) -> str:
    rows = []
    for claim in claims:
        if claim.score:
            rows.append(
                [
                    claim.text,
                    f"{claim.measured:.2f} sd",
                    "0",
                    f"≤ {claim.high:g} sd",
                    "yes" if claim.holds else "**NO**",
                ]
            )
        else:
            rows.append(
                [
                    claim.text,
                    g(claim.measured, 4),
                    g(claim.expected, 4),
                    f"[{g(claim.low, 4)}, {g(claim.high, 4)}]",
                    "yes" if claim.holds else "**NO**",
                ]
            )
    return _table(["claim", "measured", "theory", "accepted", "holds"], rows)


def _band(axis: Any, series: Series, colour: str) -> None:
    if series.theory is None or series.band is None:
        return
    theory = np.array(series.theory)
    band = np.array(series.band)
    axis.fill_between(
        series.layers,
        theory * np.exp(-band),
        theory * np.exp(band),
        color=colour,
        alpha=0.12,
        linewidth=0,
    )


def _series_plot(axis: Any, series: Series, colour: str, label: str) -> None:
    axis.plot(series.layers, series.measured, "o-", color=colour, markersize=3, label=label)
    if series.theory is not None:
        axis.plot(series.layers, series.theory, "--", color=colour, linewidth=1.2)
    _band(axis, series, colour)


def _legend_note(axis: Any) -> None:
    axis.plot([], [], "k--", linewidth=1.2, label="mean-field theory")
    axis.fill_between([], [], [], color="k", alpha=0.12, label=f"accepted band ({Z_BOUND} sd)")


# --- He et al. 2015 -----------------------------------------------------------------------


def he_figure(result: He2015, directory: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for axis, stat, title in (
        (axes[0], "Var z", "forward: Var z (pre-activation)"),
        (axes[1], "Var dL/dz", "backward: Var ∂L/∂z (back-propagated gradient)"),
    ):
        for init, label in (
            ("glorot_uniform", "Glorot (glorot_uniform)"),
            ("he_normal", "He (he_normal)"),
        ):
            series = next(s for s in result.series if s.label == f"{init}: {stat}")
            _series_plot(axis, series, INIT_COLOURS[init], label)
        _legend_note(axis)
        axis.set_yscale("log")
        axis.set_xlabel("layer (1 = input side)")
        axis.set_ylabel("variance (log scale)")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=8, loc="lower left" if stat == "Var z" else "lower right")
    figure.suptitle(
        f"He et al. 2015: {result.depth}-layer relu net, width {result.width}, batch "
        f"{result.batch}: Glorot halves the variance per layer, He keeps it",
        fontsize=11,
    )
    return _save(figure, directory, "he2015.png")


def he_report(result: He2015) -> str:
    rows = []
    for init in ("glorot_uniform", "he_normal"):
        f_m, f_t = result.forward_factor[init]
        b_m, b_t = result.backward_factor[init]
        run = result.runs[init]
        total = run.layers[-1].preact_var / run.layers[0].preact_var
        rows.append([f"`{init}`", g(f_m, 4), g(f_t, 4), g(b_m, 4), g(b_t, 4), g(total, 3)])
    return _table(
        [
            "init",
            "Var z factor / layer",
            "theory",
            "Var ∂L/∂z factor / layer (backward)",
            "theory",
            f"Var z_{result.depth} / Var z_1",
        ],
        rows,
    )


# --- Glorot & Bengio 2010 -----------------------------------------------------------------


def glorot_figures(result: Glorot2010, directory: Path) -> list[Path]:
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
    for axis, stat, title in (
        (axes[0], "Var phi(z)", "activations: Var tanh(z)"),
        (axes[1], "Var dL/dz", "back-propagated gradients: Var ∂L/∂z"),
        (axes[2], "Var dL/dW", "weight gradients: Var ∂L/∂W"),
    ):
        for init, label in (
            ("torch_default", "standard U(±1/√n) (torch_default)"),
            ("glorot_uniform", "normalized (glorot_uniform)"),
        ):
            series = next(s for s in result.series if s.label == f"{init}: {stat}")
            _series_plot(axis, series, INIT_COLOURS[init], label)
        _legend_note(axis)
        axis.axvspan(result.hidden + 0.5, result.hidden + 1.5, color="0.9", zorder=0)
        axis.set_yscale("log")
        axis.set_xticks(range(1, result.hidden + 2))
        axis.set_xlabel(f"layer (1-{result.hidden}: tanh, {result.hidden + 1}: linear output)")
        axis.set_ylabel("variance (log scale)")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    width = result.runs["torch_default"].layers[0].out_shape[0]
    figure.suptitle(
        f"Glorot & Bengio 2010, {result.name}: {result.hidden} tanh layers of {width}, "
        f"batch {result.batch}",
        fontsize=11,
    )
    paths = [_save(figure, directory, "glorot2010_variance.png")]

    figure, axes = plt.subplots(2, 2, figsize=(11, 7), layout="constrained")
    for column, (which, what) in enumerate(
        (("act", "activation value tanh(z)"), ("grad", "back-propagated gradient ∂L/∂z"))
    ):
        for row, init in enumerate(("torch_default", "glorot_uniform")):
            axis = axes[row][column]
            run = result.runs[init]
            colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, result.hidden))
            for position in range(result.hidden):
                values = getattr(run.samples[position], which)
                if which == "grad":  # each layer on its own scale would hide the shrinking
                    values = values / math.sqrt(run.layers[result.hidden - 1].grad_var or 1)
                edges = np.linspace(-1, 1, 81) if which == "act" else np.linspace(-4, 4, 81)
                counts, _ = np.histogram(values, bins=edges)
                density = counts / (values.size * np.diff(edges))
                axis.plot(
                    (edges[:-1] + edges[1:]) / 2,
                    density,
                    drawstyle="steps-mid",
                    color=colours[position],
                    label=f"layer {position + 1}",
                )
            kind = "standard (torch_default)" if row == 0 else "normalized (glorot_uniform)"
            axis.set_title(f"{kind}: {what}", fontsize=10)
            axis.set_yscale("log")
            axis.set_ylabel("density (log scale)")
            if which == "grad":
                axis.set_xlabel(f"∂L/∂z / std of layer {result.hidden}'s ∂L/∂z")
            else:
                axis.set_xlabel(what)
            axis.grid(True, alpha=0.3)
            axis.legend(fontsize=7, loc="upper right")
    figure.suptitle(
        "Glorot & Bengio 2010, figures 6-7 at initialization: standard init narrows activations "
        "going up and gradients going down",
        fontsize=11,
    )
    paths.append(_save(figure, directory, "glorot2010_histograms.png"))
    return paths


def glorot_report(result: Glorot2010) -> str:
    rows = []
    for k, (measured, theory) in enumerate(result.preact_ratios):
        grad = result.grad_ratios[k] if k < len(result.grad_ratios) else None
        rows.append(
            [
                f"{k + 1} → {k + 2}",
                g(1 / measured, 4),
                g(1 / theory, 4),
                g(1 / grad[0], 4) if grad else "-",
                g(1 / grad[1], 4) if grad else "-",
            ]
        )
    ratios = _table(
        ["layers", "Var z shrinks ×", "theory", "Var ∂L/∂z shrinks × (going down)", "theory"],
        rows,
    )
    rows = []
    for init in ("torch_default", "glorot_uniform"):
        spans = result.spans[init]
        rows.append(
            [f"`{init}`"]
            + [
                f"{g(spans[key][0])} ({g(spans[key][1])})"
                for key in ("Var phi(z)", "Var dL/dz", "Var dL/dW")
            ]
        )
    span_table = _table(
        [
            "init",
            f"Var φ(z): max/min over layers 1-{result.hidden} (theory)",
            "Var ∂L/∂z",
            "Var ∂L/∂W",
        ],
        rows,
    )
    return ratios + "\n\n" + span_table


# --- Saxe et al. 2014 -------------------------------------------------------------------------


def saxe_figure(result: Saxe2014, directory: Path) -> Path:
    from scipy.special import polygamma, psi

    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    layers = np.arange(1, result.depth + 1)
    gaussian_key = next(k for k in result.log_ratios if k != "orthogonal")
    gaussian = result.log_ratios[gaussian_key]
    axis = axes[0]
    shown = 25
    for row in gaussian[:shown]:
        axis.plot(layers, np.exp(row), color="C0", alpha=0.3, linewidth=0.8)
    step_var = float(polygamma(1, result.width / 2))
    step_mean = float(psi(result.width / 2) - math.log(result.width / 2))
    centre, sd = layers * step_mean, np.sqrt(layers * step_var)
    axis.plot(layers, np.exp(centre + sd), "k--", linewidth=1, label="theory: median × e^(±1 sd)")
    axis.plot(layers, np.exp(centre - sd), "k--", linewidth=1)
    axis.plot([], [], color="C0", label=f"Gaussian N(0, 1/n): {shown} of {result.seeds} draws")
    for row in result.log_ratios["orthogonal"]:
        axis.plot(layers, np.exp(row), color="C3", linewidth=2)
    axis.plot([], [], color="C3", linewidth=2, label="orthogonal: every draw, exactly 1")
    axis.set_yscale("log")
    axis.set_xlabel("layer")
    axis.set_ylabel("|z_l|² / |x|²  (log scale)")
    axis.set_title(
        f"one input through a {result.depth}-layer linear net, width {result.width}", fontsize=10
    )
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="lower left")

    axis = axes[1]
    measured = np.std(gaussian, axis=0, ddof=1)
    axis.plot(
        layers,
        measured,
        "o",
        color="C0",
        markersize=3,
        label=f"Gaussian: sd over {result.seeds} draws",
    )
    axis.plot(layers, sd, "k--", label="theory √(l ψ'(n/2))")
    checkpoints = [row[0] for row in result.spread]
    low = [row[3] for row in result.spread]
    high = [row[4] for row in result.spread]
    axis.vlines(checkpoints, low, high, color="k", linewidth=2, label="accepted (checked layers)")
    axis.plot(
        layers,
        np.std(result.log_ratios["orthogonal"], axis=0, ddof=1),
        color="C3",
        linewidth=2,
        label="orthogonal (0 up to rounding)",
    )
    axis.set_xlabel("layer")
    axis.set_ylabel("sd of ln(|z_l|² / |x|²) over draws")
    axis.set_title("the spread over draws grows like √depth", fontsize=10)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    figure.suptitle(
        "Saxe et al. 2014: orthogonal weights preserve norms exactly; Gaussian "
        "ones only on average",
        fontsize=11,
    )
    return _save(figure, directory, "saxe2014.png")


def saxe_report(result: Saxe2014) -> str:
    rows = [
        [str(layer), g(sd, 4), g(theory, 4), f"[{g(low, 3)}, {g(high, 3)}]"]
        for layer, sd, theory, low, high in result.spread
    ]
    worst = float(np.max(np.abs(result.log_ratios["orthogonal"])))
    return (
        _table(["layer", "sd of ln(|z|²/|x|²), Gaussian", "theory √(l ψ'(n/2))", "accepted"], rows)
        + f"\n\nOrthogonal: largest |ln(|z_l|²/|x|²)| over all layers and draws = {worst:.2g} "
        f"(float64 rounding bound {result.rounding_bound:.2g})."
    )


# --- Klambauer et al. 2017 --------------------------------------------------------------------


def klambauer_figure(result: Klambauer2017, directory: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    layers = np.arange(1, result.depth + 1)
    for index, path in enumerate(result.paths):
        colour = f"C{index}"
        label = f"input mean {path.input_mean:g}, variance {path.input_var:g}"
        axes[0].plot(layers, path.act_mean, "o-", color=colour, markersize=3, label=label)
        axes[0].plot(layers, path.theory_mean, "--", color=colour, linewidth=1.2)
        axes[0].fill_between(
            layers,
            np.array(path.theory_mean) - path.mean_bands,
            np.array(path.theory_mean) + path.mean_bands,
            color=colour,
            alpha=0.1,
            linewidth=0,
        )
        axes[1].plot(layers, path.act_var, "o-", color=colour, markersize=3, label=label)
        axes[1].plot(layers, path.theory_var, "--", color=colour, linewidth=1.2)
        theory = np.array(path.theory_var)
        axes[1].fill_between(
            layers,
            theory * np.exp(-np.array(path.var_bands)),
            theory * np.exp(np.array(path.var_bands)),
            color=colour,
            alpha=0.1,
            linewidth=0,
        )
    axes[0].axhline(0.0, color="k", linewidth=0.8)
    axes[1].axhline(1.0, color="k", linewidth=0.8)
    for axis in axes:
        _legend_note(axis)
        axis.set_xlabel("layer")
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("mean of selu(z)")
    axes[0].set_title("activation mean → 0", fontsize=10)
    axes[1].set_ylabel("variance of selu(z) (log scale)")
    axes[1].set_yscale("log")
    axes[1].set_title("activation variance → 1", fontsize=10)
    axes[1].legend(fontsize=8, loc="upper right")
    figure.suptitle(
        f"Klambauer et al. 2017: selu with lecun_normal, width {result.width}, batch "
        f"{result.batch}: (mean, variance) → (0, 1) from any start",
        fontsize=11,
    )
    return _save(figure, directory, "klambauer2017.png")


def klambauer_report(result: Klambauer2017) -> str:
    picks = sorted({1, 2, 4, 8, 16, result.depth})
    rows = []
    for path in result.paths:
        cells = [f"({path.input_mean:g}, {path.input_var:g})"]
        for layer in picks:
            k = layer - 1
            cells.append(
                f"{path.act_mean[k]:+.3f}, {path.act_var[k]:.3f} "
                f"({path.theory_mean[k]:+.3f}, {path.theory_var[k]:.3f})"
            )
        rows.append(cells)
    return _table(["input (mean, var)"] + [f"layer {p}" for p in picks], rows)


# --- Schoenholz et al. 2017 -------------------------------------------------------------------


def schoenholz_figure(result: Schoenholz2017, directory: Path) -> Path:
    from initcli.activations import resolve_activation
    from initcli.theory import analyse

    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(14, 4.6), layout="constrained")
    layers = np.arange(1, result.depth + 1)
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.92, len(result.scales)))
    for scale, colour in zip(result.scales, colours, strict=True):
        label = f"σw² = {scale.sigma_w2:g} ({scale.analysis.phase})"
        top_m, top_t = scale.grad_log[-1], scale.grad_log_theory[-1]
        axes[0].plot(
            layers, np.exp(np.array(scale.grad_log) - top_m), "-", color=colour, label=label
        )
        axes[0].plot(
            layers, np.exp(np.array(scale.grad_log_theory) - top_t), "--", color=colour, linewidth=1
        )
        if scale.gap_log is not None and scale.gap_log_theory is not None:
            axes[1].plot(layers, np.exp(scale.gap_log), "-", color=colour, label=label)
            axes[1].plot(layers, np.exp(scale.gap_log_theory), "--", color=colour, linewidth=1)
        else:
            c_star = scale.analysis.c_star or 0.0
            distance = np.abs(np.array(scale.cosine) - c_star)
            axes[1].plot(
                layers, distance, ":", color=colour, linewidth=1, label=label + ": |c - c*|"
            )
            axes[1].plot([], [], "-", color=colour, label=label)
            theory = np.abs(np.array(scale.cosine_theory) - c_star)
            axes[1].plot(layers, theory, "--", color=colour, linewidth=1)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("layer")
    axes[0].set_ylabel(f"Var ∂L/∂z_l / Var ∂L/∂z_{result.depth}  (log scale)")
    axes[0].set_title("gradients ∝ χ₁^(L−l): vanish or explode", fontsize=10)
    axes[1].set_yscale("log")
    axes[1].set_ylim(bottom=max(axes[1].get_ylim()[0], 1e-12))
    axes[1].set_xlabel("layer")
    axes[1].set_ylabel("1 − c (solid, ordered) or |c − c*| (dotted, chaotic)")
    axes[1].set_title("two inputs' correlation c approaches c*", fontsize=10)
    for axis in axes[:2]:
        axis.grid(True, alpha=0.3)
    axes[1].plot([], [], "k--", linewidth=1, label="mean-field theory")
    axes[1].plot([], [], "k:", label="chaotic phase: |c − c*|")
    handles, labels = axes[1].get_legend_handles_labels()
    keep = [i for i, text in enumerate(labels) if not text.endswith("|c - c*|")]
    figure.legend(
        [handles[i] for i in keep],
        [labels[i] for i in keep],
        loc="outside lower left",
        ncol=(len(keep) + 1) // 2,
        fontsize=8,
    )

    axis = axes[2]
    tanh = resolve_activation("tanh")
    grid = np.linspace(0.8, 4.2, 69)
    xi_c, xi_grad = [], []
    for sigma_w2 in grid:
        analysis = analyse(tanh, float(sigma_w2), result.sigma_b2, depth=1)
        xi_c.append(analysis.xi_c or math.nan)
        xi_grad.append(1 / abs(math.log(analysis.chi_1)))
    axis.plot(grid, xi_c, "k-", label="theory ξ_c (correlation)")
    axis.plot(grid, xi_grad, "k--", label="theory 1/|ln χ₁| (gradient)")
    sig = [s.sigma_w2 for s in result.scales]
    grad_xi = [1 / abs(s.grad_slope[0]) if s.grad_slope[0] else math.inf for s in result.scales]
    low = [1 / (abs(s.grad_slope[0]) + s.grad_slope[2]) for s in result.scales]
    high = [1 / max(abs(s.grad_slope[0]) - s.grad_slope[2], 1e-9) for s in result.scales]
    axis.errorbar(
        sig,
        grad_xi,
        yerr=[np.array(grad_xi) - low, np.array(high) - grad_xi],
        fmt="s",
        color="C1",
        capsize=3,
        label="measured: gradient slope (± band)",
    )
    axis.plot(
        sig,
        [s.xi_c_measured for s in result.scales],
        "o",
        color="C0",
        label="measured: fit to the correlation",
    )
    axis.set_yscale("log")
    axis.set_ylim(1, 300)
    axis.set_xlabel("σw²")
    axis.set_ylabel("depth scale (layers, log scale)")
    axis.set_title(f"depth scales, σb² = {result.sigma_b2:g}", fontsize=10)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8, loc="upper right")
    figure.suptitle(
        f"Schoenholz et al. 2017: tanh, width {result.width}, {result.depth} layers, "
        f"{result.seeds} draws",
        fontsize=11,
    )
    return _save(figure, directory, "schoenholz2017.png")


def schoenholz_report(result: Schoenholz2017) -> str:
    rows = []
    for s in result.scales:
        a = s.analysis
        measured, theory, half = s.grad_slope
        gap = s.gap_slope
        rows.append(
            [
                g(s.sigma_w2),
                a.phase,
                g(a.q_star, 4),
                g(a.chi_1, 4),
                g(a.c_star, 3),
                g(a.xi_q, 3),
                g(a.xi_c, 4),
                g(s.xi_c_measured, 3),
                f"{measured:+.4f} ({theory:+.4f} ± {half:.3f})",
                f"{gap[0]:+.4f} ({gap[1]:+.4f} ± {gap[2]:.3f})" if gap else "-",
            ]
        )
    return _table(
        [
            "σw²",
            "phase",
            "q*",
            "χ₁",
            "c*",
            "ξ_q",
            "ξ_c theory",
            "ξ_c measured",
            "slope of ln Var ∂L/∂z: measured (theory ± band)",
            "slope of ln(1 − c): measured (theory ± band)",
        ],
        rows,
    )


# --- calibration ----------------------------------------------------------------------------


def calibration_report(rows: Sequence[CalibrationRow], seeds: int) -> str:
    return _table(
        [
            "network",
            "statistic",
            "noise model sd",
            f"sd over {seeds} seeds",
            "95% interval of the true sd",
        ],
        [
            [
                r.case,
                r.statistic,
                g(r.model_sd),
                g(r.observed_sd),
                f"[{g(r.interval[0])}, {g(r.interval[1])}]",
            ]
            for r in rows
        ],
    )


# --- main -------------------------------------------------------------------------------------


def run_he(sizes: dict[str, dict[str, Any]], out: Path) -> list[Claim]:
    result = reproduce_he2015(**sizes["he2015"])
    he_figure(result, out)
    print(he_report(result), end="\n\n")
    return result.claims


def run_glorot(sizes: dict[str, dict[str, Any]], out: Path) -> list[Claim]:
    spec = load_spec(REPO / "configs" / "glorot2010.yaml")
    result = reproduce_glorot2010(spec, **sizes["glorot2010"])
    glorot_figures(result, out)
    print(glorot_report(result), end="\n\n")
    return result.claims


def run_saxe(sizes: dict[str, dict[str, Any]], out: Path) -> list[Claim]:
    result = reproduce_saxe2014(**sizes["saxe2014"])
    saxe_figure(result, out)
    print(saxe_report(result), end="\n\n")
    return result.claims


def run_klambauer(sizes: dict[str, dict[str, Any]], out: Path) -> list[Claim]:
    result = reproduce_klambauer2017(**sizes["klambauer2017"])
    klambauer_figure(result, out)
    print(klambauer_report(result), end="\n\n")
    return result.claims


def run_schoenholz(sizes: dict[str, dict[str, Any]], out: Path) -> list[Claim]:
    options = {"sigma_w2s": SCHOENHOLZ_SIGMA_W2, **sizes["schoenholz2017"]}
    result = reproduce_schoenholz2017(**options)
    schoenholz_figure(result, out)
    print(schoenholz_report(result), end="\n\n")
    return result.claims


def run_calibration(sizes: dict[str, dict[str, Any]], out: Path) -> list[Claim]:
    seeds = sizes["calibration"]["seeds"]
    print(calibration_report(calibrate_noise_model(seeds), seeds))
    return []


SECTIONS = {
    "he2015": ("He et al. 2015", run_he),
    "glorot2010": ("Glorot & Bengio 2010", run_glorot),
    "saxe2014": ("Saxe et al. 2014", run_saxe),
    "klambauer2017": ("Klambauer et al. 2017", run_klambauer),
    "schoenholz2017": ("Schoenholz et al. 2017", run_schoenholz),
    "calibration": ("Noise model against seeds", run_calibration),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "docs" / "figures",
        help="directory for the PNG figures (default: docs/figures)",
    )
    parser.add_argument("--quick", action="store_true", help="the test suite's smaller networks")
    parser.add_argument(
        "--only", choices=list(SECTIONS), action="append", help="run only these (repeatable)"
    )
    parser.add_argument(
        "--no-calibrate",
        action="store_true",
        help="skip checking the noise model against many seeds",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = args.only or [
        name for name in SECTIONS if not (args.no_calibrate and name == "calibration")
    ]
    claims: list[Claim] = []
    started = time.perf_counter()
    for name in chosen:
        title, run = SECTIONS[name]
        print(f"\n## {title}\n", flush=True)
        found = run(sizes, args.out)
        if found:
            print(claims_table(found))
        claims += found
    failed = [c for c in claims if not c.holds]
    print(
        f"\n{len(claims) - len(failed)} of {len(claims)} claims hold "
        f"({time.perf_counter() - started:.0f} s)."
    )
    for claim in failed:
        print(claim.describe(), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
