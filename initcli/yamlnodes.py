"""Typed, located access to composed YAML nodes: the readers every spec section uses.

``yaml.compose`` keeps each node's line, so every reader here takes the node and its
:class:`Location` and raises one :class:`~initcli.errors.InitcliError` (exit 1) of the form
``file:line: key: what is wrong; how to fix it``. :mod:`initcli.spec` reads the top level
with them and each layer kind (:mod:`initcli.layers`) reads its own keys through
:class:`Fields`, so every kind's errors are as precise as the others'.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from initcli.errors import EXIT_BAD_DATA, InitcliError, closest

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
MERGE = _TAG + "merge"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")


@dataclass(frozen=True)
class Location:
    """Where a value came from: ``configs/x.yaml:12: layers[3].units``."""

    path: str
    line: int | None = None
    key: str = ""

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.key}" if self.key else where


def error(where: Location | str, message: str) -> InitcliError:
    text = f"{where}: {message}"
    # One printable line whatever the file holds: escape anything a terminal would act on.
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return InitcliError(text, EXIT_BAD_DATA)


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


def show(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def describe(node: Node) -> str:
    """What the user wrote, in words: ``the string '64'``, ``a list of 3 items``."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        count = len(node.value)
        return f"a list of {count} item{'s' if count != 1 else ''}"
    value = str(node.value)
    words = {
        STR: "the string",
        INT: "the integer",
        FLOAT: "the number",
        _TAG + "timestamp": "the date",
    }
    if node.tag == BOOL:
        return f"the boolean {value} (YAML reads yes/no/on/off/true/false as booleans)"
    if node.tag == NULL:
        return "an empty value (null)"
    if node.tag in words:
        shown = show(value) if node.tag == STR else show(value)[1:-1]
        return f"{words[node.tag]} {shown}"
    return f"{show(value)} tagged {node.tag}"


@dataclass(frozen=True)
class Entry:
    value: Node
    loc: Location


def child_key(prefix: str, key: str) -> str:
    shown = key if re.fullmatch(r"[\w<]+", key) else repr(key)
    return f"{prefix}.{shown}" if prefix else shown


def mapping(
    node: Node,
    loc: Location,
    prefix: str,
    seen: frozenset[int] = frozenset(),
    cache: dict[int, dict[str, Entry]] | None = None,
) -> dict[str, Entry]:
    """The entries of a mapping by key, refusing duplicates and non-string keys.

    YAML merge keys (``<<: *anchor``) are honoured as PyYAML's constructor does: explicit
    keys win over merged ones, and earlier merged mappings over later ones.
    """
    assert isinstance(node, MappingNode)
    # Merged anchors are cached by node: nested merges of merges cannot blow up exponentially.
    cache = {} if cache is None else cache
    if id(node) in cache:
        return cache[id(node)]
    merged: dict[str, Entry] = {}
    explicit: dict[str, Entry] = {}
    for key_node, value_node in node.value:
        if key_node.tag == MERGE:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in reversed(sources):
                if not isinstance(source, MappingNode):
                    raise error(
                        Location(loc.path, line_of(key_node), child_key(prefix, "<<")),
                        f"a merge key needs a mapping (<<: *anchor), got {describe(source)}; "
                        "point it at an anchored mapping",
                    )
                if id(source) in seen or source is node:
                    raise error(
                        Location(loc.path, line_of(key_node), child_key(prefix, "<<")),
                        "the mapping merges itself; merge a different anchor",
                    )
                merged.update(mapping(source, loc, prefix, seen | {id(node)}, cache))
            continue
        if not isinstance(key_node, ScalarNode):
            raise error(
                Location(loc.path, line_of(key_node), prefix),
                f"keys must be plain names, got {describe(key_node)}; write key: value",
            )
        key = str(key_node.value)
        key_loc = Location(loc.path, line_of(key_node), child_key(prefix, key))
        if key in explicit:
            raise error(
                key_loc,
                f"duplicate key {key!r} (also on line {explicit[key].loc.line}); keep only one",
            )
        explicit[key] = Entry(value_node, key_loc)
    cache[id(node)] = {**merged, **explicit}
    return cache[id(node)]


def require_mapping(node: Node, loc: Location, example: str) -> None:
    if not isinstance(node, MappingNode):
        raise error(loc, f"expected a mapping, got {describe(node)}; write e.g. {example}")


def check_keys(entries: dict[str, Entry], allowed: tuple[str, ...], where: str) -> None:
    for key, entry in entries.items():
        if key not in allowed:
            raise unknown_key(key, entry.loc, allowed, where)


def unknown_key(key: str, loc: Location, allowed: tuple[str, ...], where: str) -> InitcliError:
    match = closest(key, allowed)
    hint = f"did you mean {match}? " if match else ""
    return error(loc, f"unknown key {show(key)} {where}; {hint}allowed keys: {', '.join(allowed)}")


def missing(loc: Location, key: str, example: str) -> InitcliError:
    return error(replace(loc, key=child_key(loc.key, key)), f"missing; add e.g. {example}")


def read_int(node: Node, loc: Location, minimum: int, example: str) -> int:
    """An integer >= minimum; strings, floats and booleans are refused with a precise fix."""
    allowed = f"an integer >= {minimum}"
    if isinstance(node, ScalarNode) and node.tag == INT:
        try:
            value = int(SafeConstructor().construct_yaml_int(node))
        except (ValueError, IndexError, TypeError):
            raise error(
                loc, f"{show(str(node.value))} is not {allowed}; write e.g. {example}"
            ) from None
        if value < minimum:
            raise error(loc, f"got {value}, must be {allowed}; write e.g. {example}")
        return value
    fix = f"write e.g. {example}"
    if (
        isinstance(node, ScalarNode)
        and node.tag == STR
        and re.fullmatch(r"\s*[+-]?\d+\s*", node.value)
    ):
        fix = f"remove the quotes, e.g. {example}"
    elif isinstance(node, ScalarNode) and node.tag == FLOAT:
        fix = f"use a whole number, e.g. {example}"
    raise error(loc, f"expected {allowed}, got {describe(node)}; {fix}")


def read_bool(node: Node, loc: Location, example: str) -> bool:
    if isinstance(node, ScalarNode) and node.tag == BOOL:
        try:
            return bool(SafeConstructor().construct_yaml_bool(node))
        except KeyError:  # an explicit !!bool tag on something that is not a boolean
            pass
    raise error(loc, f"expected true or false, got {describe(node)}; write e.g. {example}")


def read_text(node: Node, loc: Location, what: str, example: str) -> str:
    if isinstance(node, ScalarNode) and node.tag == STR and str(node.value).strip():
        return str(node.value).strip()
    got = "an empty string" if isinstance(node, ScalarNode) and node.tag == STR else None
    fix = "remove the key to use the default, or write" if node.tag == NULL else "write"
    raise error(loc, f"expected {what}, got {got or describe(node)}; {fix} e.g. {example}")


def read_name(node: Node, loc: Location, example: str) -> str:
    name = read_text(node, loc, "a name", example)
    if not _NAME.fullmatch(name):
        raise error(
            loc,
            f"{show(name)} is not a valid name: use 1-64 letters, digits, '_', '.' or '-' "
            f"(not starting with '.' or '-'); e.g. {example}",
        )
    return name


def read_choice(node: Node, loc: Location, choices: tuple[str, ...], key: str) -> str:
    allowed = ", ".join(choices)
    if isinstance(node, ScalarNode) and node.tag == STR:
        value = str(node.value).strip()
        if value in choices:
            return value
        match = closest(value, choices)
        hint = f"did you mean {match}? " if match else ""
        raise error(
            loc, f"got {show(value)}, must be one of {allowed}; {hint}e.g. {key}: {choices[0]}"
        )
    raise error(
        loc, f"expected one of {allowed}, got {describe(node)}; write e.g. {key}: {choices[0]}"
    )


def read_sizes(node: Node, loc: Location, ndim: int, minimum: int, key: str) -> tuple[int, ...]:
    """An int (repeated over the ``ndim`` spatial dims) or a list of ``ndim`` ints."""
    example = f"{key}: 3" if ndim == 1 else f"{key}: 3 or {key}: [3, 3]"
    if isinstance(node, SequenceNode):
        if len(node.value) != ndim:
            raise error(
                loc,
                f"expected 1 integer or a list of {ndim}, got {describe(node)}; "
                f"write e.g. {example}",
            )
        return tuple(
            read_int(item, Location(loc.path, line_of(item), f"{loc.key}[{i}]"), minimum, example)
            for i, item in enumerate(node.value)
        )
    return (read_int(node, loc, minimum, example),) * ndim


_NUMBER = re.compile(r"\s*[+-]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d+)?\s*")


def read_number(
    node: Node,
    loc: Location,
    example: str,
    minimum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """A finite number, optionally bounded below. YAML 1.1 reads ``1e-5`` (no dot) as a
    string, so a plain string holding a number literal is accepted too."""
    value: float | None = None
    if isinstance(node, ScalarNode) and node.tag in (INT, FLOAT):
        constructor = SafeConstructor()
        try:
            if node.tag == INT:
                value = float(constructor.construct_yaml_int(node))
            else:
                value = float(constructor.construct_yaml_float(node))
        except (ValueError, OverflowError):
            value = math.nan
    elif isinstance(node, ScalarNode) and node.tag == STR and _NUMBER.fullmatch(str(node.value)):
        try:
            value = float(str(node.value).replace("_", ""))
        except ValueError:
            value = None
    if value is None:
        raise error(loc, f"expected a number, got {describe(node)}; write e.g. {example}")
    if not math.isfinite(value):
        raise error(loc, f"{show(str(node.value))} is not a finite number; write e.g. {example}")
    if minimum is not None and (value < minimum or (exclusive_minimum and value == minimum)):
        bound = f"> {minimum:g}" if exclusive_minimum else f">= {minimum:g}"
        raise error(loc, f"got {value:g}, must be {bound}; write e.g. {example}")
    return value


@dataclass(frozen=True)
class Fields:
    """One layer's YAML mapping as its kind reads it (:meth:`LayerKind.parse`).

    ``entries`` are the keys the user wrote (already checked against the kind's allowed
    keys); ``loc`` is where the layer's mapping starts (key ``layers[3]``). ``nested``
    parses a list of layer mappings (for composite kinds) with the same rules as the
    top-level list, returning opaque templates the spec expands and names.
    """

    entries: dict[str, Entry]
    loc: Location
    kind: str
    nested: Callable[..., Any]  # (entry) -> templates; (entry, single=True) -> one template

    def has(self, key: str) -> bool:
        return key in self.entries

    def where(self, key: str) -> Location:
        entry = self.entries.get(key)
        return entry.loc if entry is not None else self.loc

    def missing(self, key: str, example: str) -> InitcliError:
        return missing(self.loc, key, example)

    def integer(self, key: str, example: str, minimum: int = 1, default: Any = None) -> Any:
        entry = self.entries.get(key)
        return default if entry is None else read_int(entry.value, entry.loc, minimum, example)

    def required_int(self, key: str, example: str, minimum: int = 1) -> int:
        if key not in self.entries:
            raise self.missing(key, example)
        entry = self.entries[key]
        return read_int(entry.value, entry.loc, minimum, example)

    def boolean(self, key: str, example: str, default: Any = None) -> Any:
        entry = self.entries.get(key)
        return default if entry is None else read_bool(entry.value, entry.loc, example)

    def text(self, key: str, what: str, example: str, default: Any = None) -> Any:
        entry = self.entries.get(key)
        return default if entry is None else read_text(entry.value, entry.loc, what, example)

    def choice(self, key: str, choices: tuple[str, ...], default: Any = None) -> Any:
        entry = self.entries.get(key)
        return default if entry is None else read_choice(entry.value, entry.loc, choices, key)

    def sizes(self, key: str, ndim: int, minimum: int = 1, default: Any = None) -> Any:
        entry = self.entries.get(key)
        return default if entry is None else read_sizes(entry.value, entry.loc, ndim, minimum, key)

    def number(
        self,
        key: str,
        example: str,
        default: Any = None,
        minimum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return default
        return read_number(entry.value, entry.loc, example, minimum, exclusive_minimum)

    def layers(self, key: str) -> Any:
        """A nested list of layers (``layers: [...]`` of a residual block or group)."""
        return self.nested(self.entries[key])

    def layer(self, key: str) -> Any:
        """One nested layer mapping (a residual block's ``shortcut: {type: conv2d, ...}``),
        as a one-item group named ``key`` unless it has its own ``name``; no ``repeat``."""
        return self.nested(self.entries[key], single=True)


def closest_hint(value: str, choices: tuple[str, ...]) -> str:
    """``"did you mean X? "`` for the nearest of ``choices``, or "" when none is near."""
    match = closest(value, choices)
    return f"did you mean {match}? " if match else ""
