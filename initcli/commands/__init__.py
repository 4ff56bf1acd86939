"""One module per CLI command; each exposes ``register(app)``."""

from __future__ import annotations

import importlib

import typer

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
