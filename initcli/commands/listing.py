"""``initcli list``: every initializer and activation, and where frameworks disagree."""

from __future__ import annotations

from typing import Any

import typer

from initcli.console import console, print_json


def _param_text(param: Any) -> str:
    default = "(required)" if param.default is None else f"={param.default}"
    return f"{param.name}{default}"


def initializer_rows() -> list[dict[str, Any]]:
    """One JSON-ready dict per registered initializer."""
    from initcli.initializers import list_initializers

    return [
        {
            "name": info.name,
            "framework": info.framework,
            "aliases": list(info.aliases),
            "distribution": info.summary.distribution,
            "scale": info.summary.scale,
            "mode": info.summary.mode,
            "truncation": info.summary.truncation,
            "description": info.description,
            "reference": info.reference,
            "example": info.example,
            "params": [
                {
                    "name": param.name,
                    "default": param.default,
                    "required": param.default is None,
                    "allowed": param.allowed(),
                    "help": param.help,
                }
                for param in info.params
            ],
        }
        for info in list_initializers()
    ]


def contrast_rows() -> list[dict[str, str]]:
    """The "same name, different meaning" table, each cell resolved through the registry."""
    from initcli.initializers import CONTRAST, LAYOUT_CONTRAST, resolve_initializer

    rows = []
    for topic, *specs in CONTRAST:
        torch, keras, bare = (
            f"{spec}: {resolve_initializer(spec).law.describe()}" for spec in specs
        )
        rows.append({"topic": topic, "torch": torch, "keras_tf2_jax": keras, "initcli": bare})
    topic, torch, keras, bare = LAYOUT_CONTRAST
    rows.append({"topic": topic, "torch": torch, "keras_tf2_jax": keras, "initcli": bare})
    return rows


def activation_rows() -> list[dict[str, Any]]:
    from initcli.activations import list_activations

    return [
        {
            "name": act.name,
            "spec": act.spec,
            "aliases": list(getattr(act, "aliases", ())),
            "params": dict(act.params),
            "torch_gain_name": act.torch_gain_name,
            "formula": getattr(act, "formula", ""),
        }
        for act in list_activations()
    ]


def listing(
    as_json: bool = typer.Option(False, "--json", help="Print only the result as JSON."),
) -> None:
    """Every initializer (what it resolves to, aliases, parameters with defaults), every
    activation, and the names that mean different things in PyTorch and Keras.

    Example: initcli list --json
    """
    from initcli.initializers import BARE_NAMES_NOTE, FRAMEWORK_TITLES, FRAMEWORKS, REGISTRY

    initializers = initializer_rows()
    contrast = contrast_rows()
    activations = activation_rows()
    if as_json:
        print_json(
            {
                "bare_names": BARE_NAMES_NOTE,
                "initializers": initializers,
                "contrast": contrast,
                "activations": activations,
            }
        )
        return

    from rich.table import Table
    from rich.text import Text

    out = console()
    out.print(Text(BARE_NAMES_NOTE))
    for framework in FRAMEWORKS:
        table = Table(title=Text(FRAMEWORK_TITLES[framework]), title_justify="left")
        for column in ("name", "aliases", "distribution", "scale", "mode", "truncation"):
            table.add_column(column)
        table.add_column("parameters")
        table.add_column("reproduces")
        prefix = f"{framework}."
        for row in initializers:
            if row["framework"] != framework:
                continue
            params = ", ".join(_param_text(p) for p in REGISTRY[row["name"]].params)
            aliases = ", ".join(
                a.removeprefix(prefix) if framework != "initcli" else a for a in row["aliases"]
            )
            cells = (row["name"], aliases, row["distribution"], row["scale"], row["mode"])
            rest = (row["truncation"], params or "-", row["reference"])
            table.add_row(*(Text(cell) for cell in (*cells, *rest)))
        out.print(table)

    table = Table(title=Text("Same name, different meaning"), title_justify="left")
    for column in ("", "PyTorch", "Keras / TF2 / JAX", "initcli (bare name)"):
        table.add_column(column)
    for row in contrast:
        texts = (row["topic"], row["torch"], row["keras_tf2_jax"], row["initcli"])
        table.add_row(*(Text(text) for text in texts))
    out.print(table)

    table = Table(title=Text("Activations"), title_justify="left")
    for column in ("name", "aliases", "parameters", "calculate_gain name", "formula"):
        table.add_column(column)
    for row in activations:
        params = ", ".join(f"{key}={value}" for key, value in row["params"].items())
        values = (
            row["name"],
            ", ".join(row["aliases"]),
            params or "-",
            row["torch_gain_name"] or "- (none in PyTorch)",
            row["formula"],
        )
        table.add_row(*(Text(value) for value in values))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command(name="list")(listing)
