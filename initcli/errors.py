"""The one error type initcli raises for anything a user can fix.

The CLI turns an :class:`InitcliError` into one line on stderr and an exit code:
1 for bad data (a config file, resources), 2 for bad usage (flags, SPEC strings, shapes).
Library code raises it with a message that names the value, where it came from and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

EXIT_BAD_DATA = 1
EXIT_BAD_USAGE = 2


class InitcliError(Exception):
    """A user-facing error: ``str(err)`` is the whole one-line message."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_DATA) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __reduce__(self) -> tuple[type[InitcliError], tuple[str, int]]:
        """Keep the exit code when a pool worker's error comes back to the parent."""
        return (InitcliError, (self.message, self.exit_code))

    def with_context(self, context: str, exit_code: int | None = None) -> InitcliError:
        """The same error, prefixed by where the bad value came from (``file:line: key``)."""
        return InitcliError(
            f"{context}: {self.message}", self.exit_code if exit_code is None else exit_code
        )


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The registered name closest to a misspelt one, or None if nothing is close."""
    matches = difflib.get_close_matches(name.lower(), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ``" (did you mean X?)"`` suffix, or a short list of valid names when nothing is close."""
    choices = sorted(set(choices))
    match = closest(name, choices)
    if match is not None:
        return f" (did you mean {match}?)"
    shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
    return f" (known: {shown})"


@contextmanager
def error_context(context: str) -> Iterator[None]:
    """Prefix any :class:`InitcliError` raised inside with where its value came from.

    ``with error_context("--activation"): resolve_activation(text)`` makes the message
    ``--activation: unknown activation ...``.
    """
    try:
        yield
    except InitcliError as err:
        raise err.with_context(context) from None
