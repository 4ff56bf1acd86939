"""One module per CLI command; each exposes ``register(app)``."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import typer
from typer.models import OptionInfo

# Order is the order ``initcli --help`` lists them in.
COMMAND_MODULES = (
    "run",
    "convert",
    "compare",
    "spectrum",
    "theory",
    "phase",
    "recommend",
    "fans",
    "gain",
    "sample",
    "listing",
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"initcli.commands.{name}").register(app)
    for info in app.registered_commands:
        info.options_metavar = usage_of(info.callback)


def usage_of(callback: Any) -> str:
    """``--activation TEXT [OPTIONS]``: the usage line names every required option."""
    required = []
    for parameter in inspect.signature(callback).parameters.values():
        option = parameter.default
        if isinstance(option, OptionInfo) and option.default is ...:
            flag = max(option.param_decls or (), key=len, default=f"--{parameter.name}")
            required.append(f"{flag} {parameter.name.upper()}")
    return " ".join([*required, "[OPTIONS]"])
