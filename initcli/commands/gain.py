"""``initcli gain ACTIVATION``: PyTorch's calculate_gain next to the variance-preserving gain."""

from __future__ import annotations

import typer

from initcli.console import console, print_json
from initcli.errors import EXIT_BAD_USAGE, InitcliError

# Relative difference below which the two gains are reported as equal (both are exact to
# ~1e-12; 1e-9 only absorbs rounding).
_SAME = 1e-9

_TORCH_NOTES = {
    "selu": "PyTorch's 3/4 for selu is an empirical choice (PR #50664), not variance-preserving "
    "(selu keeps unit variance with gain 1, Klambauer et al. 2017)",
}


def _with_param(spec: str, param: float | None, option: str = "--param") -> str:
    """The SPEC with ``--param X`` written into the activation's shorthand parameter."""
    from initcli.activations import resolve_activation
    from initcli.spec_strings import format_call, parse_call

    if param is None:
        return spec
    activation = resolve_activation(spec)
    key = activation.shorthand
    if key is None:
        what = (
            "no parameter"
            if not activation.parameters
            else "no single numeric parameter; write it as a SPEC, e.g. "
            + f"'{activation.name}("
            + ", ".join(f"{p.name}=..." for p in activation.parameters)
            + ")'"
        )
        raise InitcliError(
            f"{option} {param:g}: activation {activation.name} has {what} "
            f"({option} sets leaky_relu's negative_slope, elu's alpha or softplus's beta)",
            EXIT_BAD_USAGE,
        )
    name, given = parse_call(spec)
    if key in given:
        raise InitcliError(
            f"{option} {param:g}: {activation.name}'s {key} is already set in {spec!r}; "
            "give it once",
            EXIT_BAD_USAGE,
        )
    given[key] = param
    return format_call(name, given)


def _advice(name: str, torch: float | None, variance: float) -> str:
    """One line: how the two gains compare, and how to use the variance-preserving one."""
    use = (
        f"to use it: PyTorch nn.init.normal_(w, std={variance:.4f} / fan_in**0.5); "
        f"Keras VarianceScaling(scale="
        f"{variance**2:.4f}, mode='fan_in'); initcli --init "
        f"'variance_scaling(scale={variance**2:.4f}, mode=fan_in)'"
    )
    if torch is None:
        return f"PyTorch's calculate_gain has no entry for {name}; {use}"
    if abs(torch - variance) <= _SAME * variance:
        return f"PyTorch's calculate_gain is the variance-preserving gain for {name}"
    change = 100.0 * (variance / torch - 1.0)
    note = _TORCH_NOTES.get(name, f"PyTorch's {torch:.4g} for {name} is not variance-preserving")
    direction = "higher" if change > 0 else "lower"
    size = f"{abs(change):.1f}% {direction}"
    return f"{note}; the variance-preserving gain {variance:.4f} is {size}; {use}"


def gain(
    activation: str = typer.Argument(
        ...,
        help="Activation name or SPEC, e.g. tanh, gelu, 'leaky_relu(negative_slope=0.2)'.",
    ),
    param: float | None = typer.Option(
        None,
        "--param",
        help="PyTorch-style parameter: leaky_relu's negative_slope, elu's alpha, softplus's beta.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print only the result as JSON."),
) -> None:
    """PyTorch's calculate_gain and the variance-preserving gain 1/sqrt(E[phi(z)^2]),
    z ~ N(0, 1), computed by quadrature (exact also at kinks).

    Example: initcli gain leaky_relu --param 0.2
    """
    from rich.table import Table
    from rich.text import Text

    from initcli.activations import resolve_activation
    from initcli.gains import TORCH_LAYER_NAMES, torch_gain_of, variance_gain

    layer_name = activation.strip().lower()
    is_layer = layer_name in TORCH_LAYER_NAMES
    if is_layer:
        # calculate_gain('conv2d') is 1: the gain of the layer's linear map, no nonlinearity
        if param is not None:
            raise InitcliError(f"--param {param:g}: {layer_name} has no parameter", EXIT_BAD_USAGE)
        activation = "linear"
    resolved = resolve_activation(_with_param(activation, param))
    shorthand = resolved.shorthand
    value = None if shorthand is None else resolved.params[shorthand]
    torch = torch_gain_of(resolved)
    variance = variance_gain(resolved)
    if as_json:
        print_json(
            {
                "activation": resolved.spec,
                "param": value,
                "torch_gain": torch,
                "variance_gain": variance,
            }
        )
        return
    title = f"gain of {resolved.spec}"
    if is_layer:
        title = f"gain of {layer_name} (its linear map, no activation)"
    table = Table(title=Text(title), title_justify="left")
    table.add_column("gain")
    table.add_column("value", justify="right")
    table.add_column("definition")
    torch_name = layer_name if is_layer else resolved.torch_gain_name
    torch_call = (
        "—"
        if torch_name is None
        else f"calculate_gain({torch_name!r}"
        + ("" if resolved.torch_gain_param is None else f", {resolved.torch_gain_param:g}")
        + ")"
    )
    table.add_row("PyTorch", "none" if torch is None else f"{torch:.10g}", Text(torch_call))
    table.add_row(
        "variance-preserving", f"{variance:.10g}", Text("1/sqrt(E[phi(z)^2]), z ~ N(0,1)")
    )
    out = console()
    out.print(table)
    out.print(_advice(resolved.name, torch, variance), markup=False)


def register(app: typer.Typer) -> None:
    app.command(name="gain")(gain)
