"""``initcli theory``: mean-field fixed point, phase and depth scales of one activation.

JSON (``--json``) keys:

- ``activation``, ``init`` (SPEC strings; ``init`` is null with ``--sigma-w2``), ``width``
- ``weight_var``: Var(W) of a square ``width`` x ``width`` layer; ``weight_mean``: its mean
- ``sigma_w2`` = width * Var(W), ``sigma_b2`` = (``--bias-std``)^2
- ``q_star``: the fixed point of the variance map reached from q_1 (null if it diverges);
  ``q_diverges``: true when the variance grows without bound
- ``chi_1``: sigma_w^2 E[phi'(sqrt(q*) z)^2] (its q -> inf limit when q diverges)
- ``phase``: "ordered" (chi_1 < 1), "critical" (|chi_1 - 1| < 1e-3), "chaotic" (chi_1 > 1)
- ``variance_slope``: d q_{l+1} / d q_l at q*; ``xi_q`` = -1 / ln|variance_slope|
- ``c_star``: the stable correlation fixed point; ``chi_c``: the correlation map's slope
  there; ``xi_c`` = -1 / ln(chi_c)
- Depth scales are null when infinite (no exponential approach: critical) or undefined
  (``q_diverges``).
- ``layers``: ``[{index, preact_var, grad_var, act_mean, act_var,
  weight_grad_var_per_example}]`` for ``--depth`` layers, 1-based, unit-variance input,
  dL/d(output) ~ N(0, 1).
- ``notes``: caveats (non-zero weight mean, diverging variance).
"""

from __future__ import annotations

import math
from typing import Any

import typer

from initcli.console import console, print_json
from initcli.errors import EXIT_BAD_USAGE, InitcliError, error_context

DEFAULT_INIT = "glorot_normal"
DEFAULT_DEPTH = 10
DEFAULT_WIDTH = 1000


def check_bias_std(bias_std: float) -> float:
    """sigma_b^2 from ``--bias-std``; refuses negative and non-finite values."""
    if not math.isfinite(bias_std) or bias_std < 0:
        raise InitcliError(
            f"--bias-std {bias_std} is not a standard deviation: give a finite number >= 0 "
            "(e.g. --bias-std 0.05)",
            EXIT_BAD_USAGE,
        )
    return bias_std**2


def weight_moments(init: str, width: int) -> tuple[float, float]:
    """(Var(W), mean(W)) of ``init`` for a square ``width`` x ``width`` dense layer."""
    from initcli.initializers import resolve_initializer

    with error_context("--init"):
        distribution = resolve_initializer(init).distribution((width, width), "torch")
    return distribution.std() ** 2, distribution.mean()


def _number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "undefined"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def theory(
    activation: str = typer.Option(
        ...,
        "--activation",
        "-a",
        help="Activation SPEC, e.g. tanh or 'leaky_relu(negative_slope=0.2)'.",
    ),
    init: str | None = typer.Option(
        None,
        "--init",
        help=f"Weight initializer SPEC; sigma_w^2 = width * Var(W) (default {DEFAULT_INIT}).",
    ),
    sigma_w2: float | None = typer.Option(
        None, "--sigma-w2", help="Give sigma_w^2 = fan_in * Var(W) directly instead of --init."
    ),
    bias_std: float = typer.Option(
        0.0, "--bias-std", help="Standard deviation of the random biases: sigma_b^2 = S^2."
    ),
    depth: int = typer.Option(
        DEFAULT_DEPTH, "--depth", min=1, max=1000, help="Layers in the per-layer table (1-1000)."
    ),
    width: int = typer.Option(
        DEFAULT_WIDTH, "--width", min=1, help="Units of the square layer that sets Var(W)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON only."),
) -> None:
    """Mean-field fixed point, chi_1, phase and depth scales of a deep dense stack.

    From Poole et al. 2016 and Schoenholz et al. 2017: the variance fixed point q*, chi_1,
    the phase (ordered / critical / chaotic), the depth scales xi_q and xi_c, and the
    predicted per-layer variances forward and backward.

    Example: initcli theory --activation tanh --init glorot_normal --bias-std 0.05 --depth 20
    """
    from initcli.activations import resolve_activation
    from initcli.theory import analyse

    with error_context("--activation"):
        act = resolve_activation(activation)
    sigma_b2 = check_bias_std(bias_std)
    if init is not None and sigma_w2 is not None:
        raise InitcliError(
            f"--init {init} and --sigma-w2 {sigma_w2} both set sigma_w^2; give only one",
            EXIT_BAD_USAGE,
        )
    weight_var: float | None = None
    weight_mean = 0.0
    if sigma_w2 is None:
        init = init or DEFAULT_INIT
        weight_var, weight_mean = weight_moments(init, width)
        sigma_w2 = width * weight_var
    elif not math.isfinite(sigma_w2) or sigma_w2 < 0:
        raise InitcliError(
            f"--sigma-w2 {sigma_w2} is not a variance: give a finite number >= 0 "
            "(e.g. --sigma-w2 1.76)",
            EXIT_BAD_USAGE,
        )
    result = analyse(act, sigma_w2, sigma_b2, depth)
    notes = []
    if weight_mean != 0.0:
        notes.append(
            f"the weights have mean {weight_mean:.3g}; mean-field theory assumes zero-mean "
            "weights, so these predictions ignore it"
        )
    if result.diverges:
        notes.append(
            "the variance map has no fixed point: q grows without bound with depth; chi_1 "
            "is its q -> inf limit"
        )
    data: dict[str, Any] = {
        "activation": act.spec,
        "init": init if weight_var is not None else None,
        "width": width if weight_var is not None else None,
        "weight_var": weight_var,
        "weight_mean": weight_mean if weight_var is not None else None,
        "sigma_w2": result.sigma_w2,
        "sigma_b2": result.sigma_b2,
        "q_star": None if result.diverges else result.q_star,
        "q_diverges": result.diverges,
        "chi_1": result.chi_1,
        "phase": result.phase,
        "variance_slope": result.variance_slope,
        "xi_q": result.xi_q,
        "c_star": result.c_star,
        "chi_c": result.chi_c,
        "xi_c": result.xi_c,
        "layers": [
            {
                "index": layer.index,
                "preact_var": layer.preact_var,
                "grad_var": layer.grad_var,
                "act_mean": layer.act_mean,
                "act_var": layer.act_var,
                "weight_grad_var_per_example": layer.weight_grad_var_per_example,
            }
            for layer in result.layers
        ],
        "notes": notes,
    }
    if as_json:
        print_json(data)
        return
    _render(data, result.xi_q, result.xi_c)


_PHASE_MEANING = {
    "ordered": "nearby inputs converge with depth; gradients vanish",
    "critical": "signals and gradients propagate deep (|chi_1 - 1| < 1e-3)",
    "chaotic": "nearby inputs decorrelate with depth; gradients explode",
}


def _render(data: dict[str, Any], xi_q: float | None, xi_c: float | None) -> None:
    from rich.table import Table

    out = console()
    source = (
        f"{data['init']} at width {data['width']}: {data['width']} x Var(W) "
        f"= {data['width']} x {_number(data['weight_var'])}"
        if data["init"] is not None
        else "given with --sigma-w2"
    )
    q_star = "none (diverges)" if data["q_diverges"] else _number(data["q_star"])
    if data["q_star"] == 0.0:
        q_star = "0 (the variance decays to 0)"
    summary = Table(show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("activation", data["activation"])
    summary.add_row("sigma_w^2", f"{_number(data['sigma_w2'])}  ({source})")
    summary.add_row("sigma_b^2", _number(data["sigma_b2"]))
    summary.add_row("fixed point q*", q_star)
    summary.add_row("chi_1", _number(data["chi_1"], 6))
    summary.add_row("phase", f"{data['phase']}: {_PHASE_MEANING[data['phase']]}")
    summary.add_row("xi_q (variance)", _scale(xi_q))
    if data["c_star"] is not None and data["c_star"] < 1.0:
        summary.add_row("c* (correlation)", _number(data["c_star"]))
    summary.add_row("xi_c (correlation)", _scale(xi_c))
    out.print(summary)
    for note in data["notes"]:
        out.print(f"note: {note}")
    out.print("Predicted variance per layer (unit-variance input, dL/d(output) ~ N(0, 1)):")
    table = Table()
    table.add_column("layer", justify="right")
    table.add_column("Var(z) = q_l", justify="right")
    table.add_column("Var(dL/dz)", justify="right")
    for layer in data["layers"]:
        table.add_row(str(layer["index"]), _number(layer["preact_var"]), _number(layer["grad_var"]))
    out.print(table)


def _scale(value: float | None) -> str:
    if value is None:
        return "undefined (q diverges)"
    if math.isinf(value):
        return "inf (no exponential decay)"
    return f"{value:.4g} layers"


def register(app: typer.Typer) -> None:
    app.command(name="theory")(theory)
