"""Shape strings: ``64,3,7,7`` -> ``(64, 3, 7, 7)``.

Accepted spellings: ``64,3,7,7``, ``64x3x7x7``, ``64 3 7 7``, ``(64, 3, 7, 7)`` and
``[64,3]``. Every size must be a positive integer written in decimal digits; anything else
(``64,x,7``, ``0,3``, ``-1``, ``3.5``, ``64,,7``) is refused with one line naming the text,
the bad piece and where the text came from.
"""

from __future__ import annotations

import re

from initcli.errors import EXIT_BAD_USAGE, InitcliError

_TIMES = re.compile(r"[xX×]")


_MAX_DIGITS = 18  # sizes beyond 10^18 elements are no real tensor; refuse before int()


def parse_shape(text: str, source: str = "--shape", allow_empty: bool = False) -> tuple[int, ...]:
    """Parse a shape string into a tuple of positive ints.

    ``""`` (or ``()``) is the rank-0 shape ``()`` and only accepted if ``allow_empty``.
    Errors are :class:`InitcliError` with exit code 2 (bad usage).
    """
    stripped = text.strip()
    if len(stripped) >= 2 and (stripped[0], stripped[-1]) in (("(", ")"), ("[", "]")):
        stripped = stripped[1:-1].strip()
    if stripped.endswith(","):  # "(64,)" is how Python writes a 1-tuple
        stripped = stripped[:-1].rstrip()
    if not stripped:
        if allow_empty:
            return ()
        raise InitcliError(
            f"{source} {text!r} is empty; give sizes like 64,3,7,7 (out, in, kh, kw)",
            EXIT_BAD_USAGE,
        )
    # One separator style per string, so "64,x,7" reports 'x' instead of an empty piece.
    # Split, then strip each piece: a regex like r"\s*,\s*" is quadratic on long blank runs.
    if "," in stripped:
        pieces = [piece.strip() for piece in stripped.split(",")]
    elif any(mark in stripped for mark in "xX×"):
        pieces = [piece.strip() for piece in _TIMES.split(stripped)]
    else:
        pieces = stripped.split()
    sizes = []
    for piece in pieces:
        if not piece:
            raise InitcliError(
                f"{source} {text!r} has an empty size (a doubled separator?); "
                "write sizes like 64,3,7,7",
                EXIT_BAD_USAGE,
            )
        if not piece.isdecimal() or not piece.isascii() or len(piece) > _MAX_DIGITS:
            raise InitcliError(
                f"{source} {text!r}: {piece!r} is not a positive integer; "
                "write sizes like 64,3,7,7",
                EXIT_BAD_USAGE,
            )
        size = int(piece)
        if size < 1:
            raise InitcliError(
                f"{source} {text!r}: size {piece} must be at least 1; write sizes like 64,3,7,7",
                EXIT_BAD_USAGE,
            )
        sizes.append(size)
    return tuple(sizes)
