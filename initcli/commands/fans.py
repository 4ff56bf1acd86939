"""``initcli fans --shape S``: fan_in, fan_out and receptive field, and what they imply."""

from __future__ import annotations

import math

import typer

from initcli.console import console, print_json

# (name, variance-scaling scale, mode, formula of the std) for the table under the fans.
_RULES = (
    ("glorot", 1.0, "fan_avg", "sqrt(2 / (fan_in + fan_out))"),
    ("he", 2.0, "fan_in", "sqrt(2 / fan_in)"),
    ("lecun", 1.0, "fan_in", "sqrt(1 / fan_in)"),
    ("torch_default", 1.0 / 3.0, "fan_in", "1 / sqrt(3 fan_in)"),
)


def scales(fan_in: int, fan_out: int, receptive_field: int) -> dict[str, dict[str, float]]:
    """std and uniform limit sqrt(3) std of Glorot, He, LeCun and PyTorch's layer default.

    std = sqrt(scale / n), n the mode's fan: VarianceScaling.std's formula, written with
    math alone so that ``initcli fans`` never imports numpy (tests check both agree).
    """
    from initcli.errors import EXIT_BAD_USAGE, InitcliError

    fan = {"fan_in": float(fan_in), "fan_avg": (fan_in + fan_out) / 2.0}
    result = {}
    for name, scale, mode, _ in _RULES:
        if fan[mode] <= 0:
            raise InitcliError(
                f"{mode} is 0, so std = sqrt(scale / 0) is undefined", EXIT_BAD_USAGE
            )
        std = math.sqrt(scale / fan[mode])
        result[name] = {"std": std, "limit": math.sqrt(3.0) * std}
    return result


def _axes(shape: tuple[int, ...], layout: str) -> str:
    if len(shape) < 2:
        return "a vector" if shape else "a scalar"
    kernel = "x".join(str(k) for k in (shape[2:] if layout == "torch" else shape[:-2]))
    if layout == "torch":
        out, inp = shape[0], shape[1]
    else:
        out, inp = shape[-1], shape[-2]
    return f"out={out}, in={inp}" + (f", kernel={kernel}" if kernel else "")


def fans(
    shape: str = typer.Option(..., "--shape", help="Weight shape, e.g. 64,3,7,7."),
    layout: str = typer.Option(
        "torch", "--layout", help="torch (out, in, *k) | keras (*k, in, out) | jax (*k, in, out)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print only the result as JSON."),
) -> None:
    """fan_in, fan_out and receptive field of a weight shape under a framework's rule, and
    the std / uniform limit of Glorot, He and LeCun for it.

    Example: initcli fans --shape 64,3,7,7 --layout torch
    """
    from initcli.errors import InitcliError
    from initcli.fans import Layout, check_layout, compute_fans, convert_shape
    from initcli.shape_strings import parse_shape

    dims = parse_shape(shape, "--shape")
    chosen = check_layout(layout)
    result = compute_fans(dims, chosen)
    table_scales = scales(result.fan_in, result.fan_out, result.receptive_field)
    if as_json:
        print_json(
            {
                "shape": list(dims),
                "layout": chosen,
                "fan_in": result.fan_in,
                "fan_out": result.fan_out,
                "receptive_field": result.receptive_field,
                "scales": table_scales,
            }
        )
        return

    from rich.table import Table
    from rich.text import Text

    out = console()
    out.print(Text(f"shape {tuple(dims)} in {chosen} layout: {_axes(dims, chosen)}"))
    table = Table()
    table.add_column("fan_in", justify="right")
    table.add_column("fan_out", justify="right")
    table.add_column("receptive field", justify="right")
    table.add_row(str(result.fan_in), str(result.fan_out), str(result.receptive_field))
    out.print(table)

    rules = Table(title=Text("what these fans give"), title_justify="left")
    rules.add_column("rule")
    rules.add_column("std formula")
    rules.add_column("std", justify="right")
    rules.add_column("uniform limit ±", justify="right")
    for name, _, _, formula in _RULES:
        values = table_scales[name]
        rules.add_row(name, formula, f"{values['std']:.6g}", f"{values['limit']:.6g}")
    out.print(rules)
    other: Layout = "keras" if chosen == "torch" else "torch"
    try:
        read = compute_fans(dims, other)
    except InitcliError:  # rank < 2 under PyTorch: nothing to contrast
        return
    out.print(
        Text(
            f"The same numbers read in {other} layout give fan_in={read.fan_in}, "
            f"fan_out={read.fan_out}, receptive field={read.receptive_field}; this weight "
            f"written in {other} layout is {convert_shape(dims, chosen, other)}.",
            style="dim",
        )
    )


def register(app: typer.Typer) -> None:
    app.command(name="fans")(fans)
