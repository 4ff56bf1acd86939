"""SPEC strings: ``name`` or ``name(key=value, ...)``, shared by initializers and activations.

What :func:`format_call` prints, :func:`parse_call` reads back (Keras's ``get_config``
round-trip, as a string): ``list`` shows exactly what ``run`` accepts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from initcli.errors import EXIT_BAD_USAGE, InitcliError, closest

Value = bool | int | float | str | None

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# One way to split the digits (no `\d+\.?\d*`): a long run of digits cannot backtrack.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_RESERVED_WORDS = ("true", "false", "none", "null", "inf", "+inf", "-inf", "nan")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
MAX_SPEC_LENGTH = 1000  # the longest registry example is ~100 characters
MAX_DIGITS = 300  # longer integers exceed every float (1.8e308) and Python's str->int limit
_SHOWN = 80  # characters of a bad spec quoted in an error


def _shown(text: str) -> str:
    return repr(text) if len(text) <= _SHOWN else repr(text[:_SHOWN]) + "..."


def _error(text: str, why: str) -> InitcliError:
    return InitcliError(f"invalid spec {_shown(text)}: {why}", EXIT_BAD_USAGE)


def _hint(name: str, choices: Sequence[str]) -> str:
    """`` (did you mean X?)`` when a choice is close; the caller lists the choices anyway."""
    match = closest(name, choices)
    return f" (did you mean {match}?)" if match else ""


def _parse_value(raw: str, text: str, key: str) -> Value:
    raw = raw.strip()
    if not raw:
        raise _error(text, f"parameter {key!r} has no value (write {key}=VALUE)")
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if _NUMBER.fullmatch(raw):
        if re.fullmatch(r"[+-]?\d+", raw) is None:
            return float(raw)  # 1e999 -> inf: Param.check names it as not finite
        digits = len(raw.lstrip("+-"))
        if digits > MAX_DIGITS:
            raise _error(
                text, f"parameter {key!r} has a {digits}-digit number; give a value below 1e300"
            )
        return int(raw)
    if low in ("inf", "+inf", "-inf", "nan"):
        return float(low)
    if re.fullmatch(r"sqrt\(\s*[0-9.eE+-]+\s*\)", low):  # gain=sqrt(2), as papers write it
        inner = _parse_value(low[5:-1], text, key)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool) and inner >= 0:
            return math.sqrt(inner)
        raise _error(text, f"parameter {key!r}: cannot take sqrt of {inner!r}; write sqrt(2)")
    if _NAME.fullmatch(raw):
        return raw
    raise _error(
        text,
        f"parameter {key!r} has an unreadable value {_shown(raw)}; "
        "write a number, true/false, a word or a quoted string",
    )


def _split_arguments(body: str, text: str) -> list[str]:
    """Split on commas at parenthesis depth 0 and outside quotes (so ``gain=sqrt(2)`` and
    ``name='a,b'`` stay whole)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    quote: str | None = None
    for char in body:
        if quote is not None:
            quote = None if char == quote else quote
            current.append(char)
            continue
        if char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise _unbalanced(text)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise _unbalanced(text)
    parts.append("".join(current))
    return parts


def _unbalanced(text: str) -> InitcliError:
    opened, closed = text.count("("), text.count(")")
    return _error(
        text,
        f"unbalanced parentheses ({opened} '(' and {closed} ')'); "
        "write name or name(key=value, ...)",
    )


def parse_call(text: str) -> tuple[str, dict[str, Value]]:
    """Parse ``name`` or ``name(k=v, ...)`` into ``(name, {k: v})``; names are lower-cased.

    Values become bool, int, float, None or str; ``sqrt(x)`` is accepted for gains.
    """
    if not isinstance(text, str):
        raise _error(str(text), "expected a string like name or name(key=value)")
    stripped = text.strip()
    if not stripped:
        raise _error(text, "empty spec; give a name such as he_normal or relu")
    if len(stripped) > MAX_SPEC_LENGTH:
        raise _error(
            text,
            f"{len(stripped)} characters is too long for a spec (at most {MAX_SPEC_LENGTH}); "
            "write name or name(key=value, ...)",
        )
    unquoted = _QUOTED.sub("", stripped)
    if unquoted.count("(") != unquoted.count(")"):
        raise _unbalanced(text)
    open_at = stripped.find("(")
    if open_at == -1:
        name, body = stripped, None
    else:
        if not stripped.endswith(")"):
            raise _error(
                text, "text after the closing parenthesis; write name or name(key=value, ...)"
            )
        name, body = stripped[:open_at].strip(), stripped[open_at + 1 : -1]
    if not _NAME.fullmatch(name):
        raise _error(
            text,
            f"{_shown(name)} is not a valid name; names are letters, digits, '_', '.' and '-' "
            "such as he_normal or torch.kaiming_uniform",
        )
    kwargs: dict[str, Value] = {}
    if body is not None and body.strip():
        for part in _split_arguments(body, text):
            if not part.strip():
                raise _error(text, "empty argument (a stray comma?); remove it")
            if "=" not in part:
                raise _error(text, f"argument {_shown(part.strip())} must be written key=value")
            key, raw = part.split("=", 1)
            key = key.strip().lower()
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
                raise _error(
                    text,
                    f"{_shown(key)} is not a valid parameter name; write key=value with key "
                    "made of letters, digits and '_'",
                )
            if key in kwargs:
                raise _error(text, f"parameter {key!r} given twice; keep one")
            kwargs[key] = _parse_value(raw, text, key)
    return name.lower(), kwargs


def format_value(value: Value) -> str:
    """``value`` as a SPEC writes it, so that :func:`parse_call` reads back the same value."""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)  # repr round-trips exactly
    if isinstance(value, str):
        bare = _NAME.fullmatch(value) and value.lower() not in _RESERVED_WORDS
        if bare:
            return value
        quote = "'" if "'" not in value else '"'
        return f"{quote}{value}{quote}"  # '0' stays a string, not the number 0
    return str(value)


def format_call(name: str, kwargs: Mapping[str, Value]) -> str:
    """The canonical SPEC string; ``parse_call(format_call(n, k)) == (n, k)``."""
    if not kwargs:
        return name
    inner = ", ".join(f"{key}={format_value(value)}" for key, value in kwargs.items())
    return f"{name}({inner})"


@dataclass(frozen=True)
class Param:
    """One parameter of an initializer or activation, with its type, default and range.

    ``low``/``high`` bound numbers (``low_open``/``high_open`` make a bound strict);
    ``choices`` restrict strings (compared case-insensitively, stored as written here).
    """

    name: str
    default: Value
    kind: type = float
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    help: str = ""

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.low is None and self.high is None:
            return f"a {self.kind.__name__}"
        low = "-inf" if self.low is None else format_value(self.low)
        high = "inf" if self.high is None else format_value(self.high)
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"a {self.kind.__name__} in {left}{low}, {high}{right}"

    def check(self, value: Value, owner: str) -> Value:
        """Coerce and range-check one value; raise an error naming owner, param and range."""
        where = f"{owner}: parameter {self.name}={format_value(value)!s}"
        if self.choices:
            if not isinstance(value, str):
                raise InitcliError(f"{where} must be {self.allowed()}", EXIT_BAD_USAGE)
            for choice in self.choices:
                if value.lower() == choice.lower():
                    return choice
            hint = _hint(value, self.choices)
            raise InitcliError(f"{where} must be {self.allowed()}{hint}", EXIT_BAD_USAGE)
        if self.kind is str:
            if not isinstance(value, str):
                raise InitcliError(f"{where} must be a string", EXIT_BAD_USAGE)
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise InitcliError(f"{where} must be true or false", EXIT_BAD_USAGE)
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InitcliError(f"{where} must be {self.allowed()}", EXIT_BAD_USAGE)
        if self.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise InitcliError(f"{where} must be {self.allowed()}", EXIT_BAD_USAGE)
            number: float = int(value)
        elif isinstance(value, int) and abs(value) > 1e300:  # float() would overflow
            number = math.inf
        else:
            number = float(value)
        if not math.isfinite(number):
            raise InitcliError(f"{where} must be finite", EXIT_BAD_USAGE)
        too_low = self.low is not None and (
            number <= self.low if self.low_open else number < self.low
        )
        too_high = self.high is not None and (
            number >= self.high if self.high_open else number > self.high
        )
        if too_low or too_high:
            raise InitcliError(f"{where} is out of range: must be {self.allowed()}", EXIT_BAD_USAGE)
        return number


def bind(owner: str, params: Sequence[Param], given: Mapping[str, Value]) -> dict[str, Value]:
    """Defaults overlaid with the given values, each checked; unknown keys name the allowed ones."""
    by_name = {param.name: param for param in params}
    for key in given:
        if key not in by_name:
            allowed = ", ".join(by_name) if by_name else f"none (write just {owner.split()[-1]})"
            raise InitcliError(
                f"{owner}: unknown parameter {key!r}{_hint(key, list(by_name))}; "
                f"parameters: {allowed}",
                EXIT_BAD_USAGE,
            )
    bound: dict[str, Value] = {}
    for param in params:
        if param.name in given:
            bound[param.name] = param.check(given[param.name], owner)
        else:
            bound[param.name] = param.default
    return bound
