"""Progress of long work on stderr: a rich progress bar with a time estimate, or nothing.

A bar is drawn only when stderr is a terminal and the command is not printing ``--json``
(so pipes, logs and machine-readable output stay clean), and only for work estimated to take
long enough to watch. Otherwise every call is a no-op. The bar is transient: it disappears
when the work is done, leaving the tables alone on the screen.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SHOW_AFTER_SECONDS = 1.0  # the up-front estimate from which a bar is worth drawing


class Progress:
    """One bar: ``start`` a stage of ``total`` units, ``advance`` it as units finish."""

    def __init__(self, bar: Any | None = None) -> None:
        self._bar = bar
        self._task: Any | None = None

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def start(self, description: str, total: int) -> None:
        if self._bar is None:
            return
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(description, total=max(total, 1))

    def advance(self, amount: int = 1) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, amount)


def wanted(as_json: bool, estimate_seconds: float) -> bool:
    """Draw a bar? Only on a terminal, never with ``--json``, only for long-enough work."""
    return (
        not as_json
        and sys.stderr.isatty()
        and os.environ.get("TERM") != "dumb"
        and estimate_seconds >= SHOW_AFTER_SECONDS
    )


@contextmanager
def progress(show: bool) -> Iterator[Progress]:
    """A :class:`Progress` drawing on stderr when ``show``, a no-op one otherwise."""
    if not show:
        yield Progress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr, no_color="NO_COLOR" in os.environ),
        transient=True,
    )
    with bar:
        yield Progress(bar)
