"""Terminal output: one rich Console for stdout, colour only on a terminal, NO_COLOR honoured."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich (~40 ms) is imported by the first console(), not by every command
    from rich.console import Console


def _console_class() -> type[Console]:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            """``initcli list | head``: the reader left. Let ``cli.main`` end quietly with 0
            (rich's default exits with 1, which breaks ``set -o pipefail`` scripts)."""
            self.quiet = True
            raise BrokenPipeError

    return _Console


def console() -> Console:
    """A Console on stdout; plain text when piped or when NO_COLOR is set."""
    no_color = "NO_COLOR" in os.environ
    return _console_class()(
        file=sys.stdout,
        no_color=no_color,
        highlight=False,
        soft_wrap=False,
        width=None if sys.stdout.isatty() else 200,
    )


def print_json(value: Any) -> None:
    """The machine-readable result, and nothing else, on stdout."""
    from initcli.serialize import to_json

    sys.stdout.write(to_json(value))
    sys.stdout.flush()
