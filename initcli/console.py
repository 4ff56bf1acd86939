"""Terminal output: one rich Console for stdout, colour only on a terminal, NO_COLOR honoured."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console

from initcli.serialize import to_json


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """``initcli list | head``: the reader left. Let ``cli.main`` end quietly with 0
        (rich's default exits with 1, which breaks ``set -o pipefail`` scripts)."""
        self.quiet = True
        raise BrokenPipeError


def console() -> Console:
    """A Console on stdout; plain text when piped or when NO_COLOR is set."""
    no_color = "NO_COLOR" in os.environ
    return _Console(
        file=sys.stdout,
        no_color=no_color,
        highlight=False,
        soft_wrap=False,
        width=None if sys.stdout.isatty() else 200,
    )


def print_json(value: Any) -> None:
    """The machine-readable result, and nothing else, on stdout."""
    sys.stdout.write(to_json(value))
    sys.stdout.flush()
