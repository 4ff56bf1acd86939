"""The network spec: YAML file -> validated :class:`NetworkSpec`.

The YAML keys are a contract (see README, "Network spec")::

    name: mlp_tanh                                # optional; default: the file's stem
    input: {shape: [512], distribution: normal}   # one example, channels-first
    batch: 512                                    # optional; default 256
    init: glorot_uniform                          # optional; default glorot_uniform (Keras)
    bias_init: zeros                              # optional; default zeros (Keras)
    layers:
      - {type: dense, units: 512, activation: tanh, repeat: 10}
      - {type: conv2d, filters: 64, kernel_size: 3, stride: 1, padding: same, dilation: 1}
      - {type: conv1d, filters: 32, kernel_size: 5, padding: causal, dilation: 2}
      - {type: flatten}
      - {type: dense, units: 10, init: lecun_normal, bias: false}

The file is parsed with ``yaml.compose`` (not ``safe_load``) so every value keeps its line:
each error names ``file:line: key`` and the ``key_locations`` of the specs let later stages
(shapes, initializer and activation names) do the same. Initializer and activation SPEC
strings are only checked to be non-empty strings here; their own modules resolve them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from initcli.errors import EXIT_BAD_DATA, InitcliError, closest

DEFAULT_BATCH = 256
# Keras's Dense and ConvND default kernel and bias initializers (shared/REFERENCE.md).
DEFAULT_INIT = "glorot_uniform"
DEFAULT_BIAS_INIT = "zeros"
DEFAULT_ACTIVATION = "linear"
MAX_LAYERS = 10_000  # after `repeat`; refused before expanding so `repeat: 1e12` cannot hang
MAX_FILE_BYTES = 4_000_000  # a network spec is a few KB; anything this large is the wrong file

LAYER_TYPES = ("dense", "conv1d", "conv2d", "flatten")
INPUT_DISTRIBUTIONS = ("normal", "uniform")
TOP_KEYS = ("name", "input", "batch", "init", "bias_init", "layers")
INPUT_KEYS = ("shape", "distribution")
_COMMON_KEYS = ("type", "name")
_WEIGHTED_KEYS = ("activation", "init", "bias_init", "bias", "repeat")
_CONV_KEYS = ("filters", "kernel_size", "stride", "dilation", "padding")
LAYER_KEYS: dict[str, tuple[str, ...]] = {
    "dense": (*_COMMON_KEYS, "units", *_WEIGHTED_KEYS),
    "conv1d": (*_COMMON_KEYS, *_CONV_KEYS, *_WEIGHTED_KEYS),
    "conv2d": (*_COMMON_KEYS, *_CONV_KEYS, *_WEIGHTED_KEYS),
    "flatten": _COMMON_KEYS,
}
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MERGE = _TAG + "merge"


@dataclass(frozen=True)
class Location:
    """Where a value came from: ``configs/x.yaml:12: layers[3].units``."""

    path: str
    line: int | None = None
    key: str = ""

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.key}" if self.key else where


@dataclass(frozen=True)
class LayerSpec:
    """One layer after ``repeat`` is expanded. Sizes are tuples, one entry per spatial dim.

    ``key_locations`` holds the keys written in the YAML (``units``, ``kernel_size``, ...);
    for conv layers ``units`` is also an alias of ``filters``. Layers made by ``repeat``
    share their YAML lines.
    """

    type: str  # "dense" | "conv1d" | "conv2d" | "flatten"
    name: str  # e.g. "dense3", unique in the network
    location: Location  # where the layer's mapping starts in the YAML
    units: int | None = None  # dense: units; conv: filters
    kernel_size: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    padding: str | tuple[int, ...] = "valid"  # "valid" | "same" | "causal" | explicit ints
    activation: str = "linear"  # a SPEC string, resolved by initcli.activations
    init: str | None = None  # None: the network's default
    bias_init: str | None = None
    bias: bool = True  # False for flatten, which has no parameters
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False)

    def where(self, key: str) -> Location:
        """Location of one of this layer's keys (falls back to the layer's own line)."""
        return self.key_locations.get(key, self.location)


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    path: str
    input_shape: tuple[int, ...]  # per example, channels-first
    input_distribution: str  # "normal" | "uniform", scaled to unit variance
    batch: int
    init: str
    bias_init: str
    layers: tuple[LayerSpec, ...]
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False)

    def where(self, key: str) -> Location:
        """Location of a top-level key such as ``batch`` or ``input.shape`` (else the file)."""
        return self.key_locations.get(key, Location(self.path))


def load_spec(path: str | Path) -> NetworkSpec:
    """Read and validate a network spec; every failure is one ``InitcliError`` (exit 1)."""
    shown = str(path) if str(path).isprintable() else repr(str(path))
    root = _compose(_read_text(Path(path), shown), shown)
    return _network(root, shown, _default_name(Path(path)))


def load_spec_text(text: str, shown: str, default_name: str) -> NetworkSpec:
    """:func:`load_spec` on YAML text (e.g. a converted Keras model); errors name ``shown``."""
    return _network(_compose(text, shown), shown, default_name)


# --- reading and parsing -------------------------------------------------------------------


def _error(where: Location | str, message: str) -> InitcliError:
    text = f"{where}: {message}"
    # One printable line whatever the file holds: escape anything a terminal would act on.
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return InitcliError(text, EXIT_BAD_DATA)


def _yaml_files_near(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.glob("*.y*ml") if p.is_file())[:50]
    except OSError:
        return []


def _read_text(path: Path, shown: str) -> str:
    try:
        if not path.exists():
            match = closest(path.name, [p.name for p in _yaml_files_near(path.parent)])
            hint = (
                f"did you mean {path.parent / match}?"
                if match
                else "check the path (configs/ has examples)"
            )
            raise _error(shown, f"config file not found; {hint}")
        if path.is_dir():
            nearby = _yaml_files_near(path)
            example = f", e.g. {nearby[0]}" if nearby else ""
            raise _error(shown, f"is a directory, not a config file; give a YAML file{example}")
        if not path.is_file():
            raise _error(shown, "is not a regular file; give a YAML file such as configs/x.yaml")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _error(
                shown,
                f"is {size} bytes; a network spec is a few KB (limit {MAX_FILE_BYTES}): "
                "is this the right file?",
            )
        raw = path.read_bytes()
    except PermissionError:
        raise _error(
            shown, "cannot read the config: permission denied; check its permissions"
        ) from None
    except (OSError, ValueError) as err:  # ValueError: e.g. a NUL byte in the path
        reason = getattr(err, "strerror", None) or str(err)
        raise _error(shown, f"cannot read the config: {reason}; check the path") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise _error(
            f"{shown}:{line}",
            f"not UTF-8 text (byte 0x{raw[err.start]:02x} at column {column}); "
            "save the file as UTF-8",
        ) from None


_SYNTAX_HINTS = (
    ("\\t", "indent with spaces, not tabs"),
    ("mapping values are not allowed", "quote a value that contains ': ', or fix the indentation"),
    ("could not find expected ':'", "write key: value, with a space after the colon"),
    ("undefined alias", "define the anchor (&name) before using it (*name)"),
    ("single document", "remove the extra '---': one network per file"),
    ("expected <block end>", "align the keys of one mapping or list at the same indentation"),
    ("expected ',' or '}'", "close every { with } and separate its entries with commas"),
    ("expected ',' or ']'", "close every [ with ] and separate its items with commas"),
)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _compose(text: str, shown: str) -> Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = shown if mark is None else f"{shown}:{mark.line + 1}:{mark.column + 1}"
        problem = _one_line(err.problem or err.context or "invalid YAML")
        if err.context and err.problem and err.context_mark is not None:
            problem += f" ({_one_line(err.context)} on line {err.context_mark.line + 1})"
        hint = next((h for key, h in _SYNTAX_HINTS if key in problem), "fix the YAML there")
        raise _error(where, f"YAML syntax error: {problem}; {hint}") from None
    except yaml.reader.ReaderError as err:  # a control character the YAML reader refuses
        line = text.count("\n", 0, err.position) + 1
        code = err.character if isinstance(err.character, int) else ord(err.character)
        raise _error(
            f"{shown}:{line}",
            f"character U+{code:04X} is not allowed in YAML; delete it "
            "(or save the file as plain UTF-8 text)",
        ) from None
    except yaml.YAMLError as err:
        raise _error(shown, f"cannot parse the YAML: {_one_line(str(err))}") from None
    except RecursionError:
        raise _error(shown, "YAML nested too deeply to be a network spec; check brackets") from None


# --- typed access to composed nodes ---------------------------------------------------------


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _show(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _describe(node: Node) -> str:
    """What the user wrote, in words: ``the string '64'``, ``a list of 3 items``."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        count = len(node.value)
        return f"a list of {count} item{'s' if count != 1 else ''}"
    value = str(node.value)
    words = {
        _STR: "the string",
        _INT: "the integer",
        _FLOAT: "the number",
        _TAG + "timestamp": "the date",
    }
    if node.tag == _BOOL:
        return f"the boolean {value} (YAML reads yes/no/on/off/true/false as booleans)"
    if node.tag == _NULL:
        return "an empty value (null)"
    if node.tag in words:
        shown = _show(value) if node.tag == _STR else _show(value)[1:-1]
        return f"{words[node.tag]} {shown}"
    return f"{_show(value)} tagged {node.tag}"


@dataclass(frozen=True)
class _Entry:
    value: Node
    loc: Location


def _child(prefix: str, key: str) -> str:
    shown = key if re.fullmatch(r"[\w<]+", key) else repr(key)
    return f"{prefix}.{shown}" if prefix else shown


def _mapping(
    node: Node,
    loc: Location,
    prefix: str,
    seen: frozenset[int] = frozenset(),
    cache: dict[int, dict[str, _Entry]] | None = None,
) -> dict[str, _Entry]:
    """The entries of a mapping by key, refusing duplicates and non-string keys.

    YAML merge keys (``<<: *anchor``) are honoured as PyYAML's constructor does: explicit
    keys win over merged ones, and earlier merged mappings over later ones.
    """
    assert isinstance(node, MappingNode)
    # Merged anchors are cached by node: nested merges of merges cannot blow up exponentially.
    cache = {} if cache is None else cache
    if id(node) in cache:
        return cache[id(node)]
    merged: dict[str, _Entry] = {}
    explicit: dict[str, _Entry] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in reversed(sources):
                if not isinstance(source, MappingNode):
                    raise _error(
                        Location(loc.path, _line(key_node), _child(prefix, "<<")),
                        f"a merge key needs a mapping (<<: *anchor), got {_describe(source)}; "
                        "point it at an anchored mapping",
                    )
                if id(source) in seen or source is node:
                    raise _error(
                        Location(loc.path, _line(key_node), _child(prefix, "<<")),
                        "the mapping merges itself; merge a different anchor",
                    )
                merged.update(_mapping(source, loc, prefix, seen | {id(node)}, cache))
            continue
        if not isinstance(key_node, ScalarNode):
            raise _error(
                Location(loc.path, _line(key_node), prefix),
                f"keys must be plain names, got {_describe(key_node)}; write key: value",
            )
        key = str(key_node.value)
        key_loc = Location(loc.path, _line(key_node), _child(prefix, key))
        if key in explicit:
            raise _error(
                key_loc,
                f"duplicate key {key!r} (also on line {explicit[key].loc.line}); keep only one",
            )
        explicit[key] = _Entry(value_node, key_loc)
    cache[id(node)] = {**merged, **explicit}
    return cache[id(node)]


def _require_mapping(node: Node, loc: Location, example: str) -> None:
    if not isinstance(node, MappingNode):
        raise _error(loc, f"expected a mapping, got {_describe(node)}; write e.g. {example}")


def _check_keys(entries: dict[str, _Entry], allowed: tuple[str, ...], where: str) -> None:
    for key, entry in entries.items():
        if key not in allowed:
            raise _unknown_key(key, entry.loc, allowed, where)


def _unknown_key(key: str, loc: Location, allowed: tuple[str, ...], where: str) -> InitcliError:
    match = closest(key, allowed)
    hint = f"did you mean {match}? " if match else ""
    return _error(
        loc, f"unknown key {_show(key)} {where}; {hint}allowed keys: {', '.join(allowed)}"
    )


def _missing(loc: Location, key: str, example: str) -> InitcliError:
    return _error(replace(loc, key=_child(loc.key, key)), f"missing; add e.g. {example}")


def _int(node: Node, loc: Location, minimum: int, example: str) -> int:
    """An integer >= minimum; strings, floats and booleans are refused with a precise fix."""
    allowed = f"an integer >= {minimum}"
    if isinstance(node, ScalarNode) and node.tag == _INT:
        try:
            value = int(SafeConstructor().construct_yaml_int(node))
        except (ValueError, IndexError, TypeError):
            raise _error(
                loc, f"{_show(str(node.value))} is not {allowed}; write e.g. {example}"
            ) from None
        if value < minimum:
            raise _error(loc, f"got {value}, must be {allowed}; write e.g. {example}")
        return value
    fix = f"write e.g. {example}"
    if (
        isinstance(node, ScalarNode)
        and node.tag == _STR
        and re.fullmatch(r"\s*[+-]?\d+\s*", node.value)
    ):
        fix = f"remove the quotes, e.g. {example}"
    elif isinstance(node, ScalarNode) and node.tag == _FLOAT:
        fix = f"use a whole number, e.g. {example}"
    raise _error(loc, f"expected {allowed}, got {_describe(node)}; {fix}")


def _bool(node: Node, loc: Location, example: str) -> bool:
    if isinstance(node, ScalarNode) and node.tag == _BOOL:
        try:
            return bool(SafeConstructor().construct_yaml_bool(node))
        except KeyError:  # an explicit !!bool tag on something that is not a boolean
            pass
    raise _error(loc, f"expected true or false, got {_describe(node)}; write e.g. {example}")


def _text(node: Node, loc: Location, what: str, example: str) -> str:
    if isinstance(node, ScalarNode) and node.tag == _STR and str(node.value).strip():
        return str(node.value).strip()
    got = "an empty string" if isinstance(node, ScalarNode) and node.tag == _STR else None
    fix = "remove the key to use the default, or write" if node.tag == _NULL else "write"
    raise _error(loc, f"expected {what}, got {got or _describe(node)}; {fix} e.g. {example}")


def _name(node: Node, loc: Location, example: str) -> str:
    name = _text(node, loc, "a name", example)
    if not _NAME.fullmatch(name):
        raise _error(
            loc,
            f"{_show(name)} is not a valid name: use 1-64 letters, digits, '_', '.' or '-' "
            f"(not starting with '.' or '-'); e.g. {example}",
        )
    return name


def _choice(node: Node, loc: Location, choices: tuple[str, ...], key: str) -> str:
    allowed = ", ".join(choices)
    if isinstance(node, ScalarNode) and node.tag == _STR:
        value = str(node.value).strip()
        if value in choices:
            return value
        match = closest(value, choices)
        hint = f"did you mean {match}? " if match else ""
        raise _error(
            loc, f"got {_show(value)}, must be one of {allowed}; {hint}e.g. {key}: {choices[0]}"
        )
    raise _error(
        loc, f"expected one of {allowed}, got {_describe(node)}; write e.g. {key}: {choices[0]}"
    )


def _sizes(node: Node, loc: Location, ndim: int, minimum: int, key: str) -> tuple[int, ...]:
    """An int (repeated over the ``ndim`` spatial dims) or a list of ``ndim`` ints."""
    example = f"{key}: 3" if ndim == 1 else f"{key}: 3 or {key}: [3, 3]"
    if isinstance(node, SequenceNode):
        if len(node.value) != ndim:
            raise _error(
                loc,
                f"expected 1 integer or a list of {ndim}, got {_describe(node)}; "
                f"write e.g. {example}",
            )
        return tuple(
            _int(item, Location(loc.path, _line(item), f"{loc.key}[{i}]"), minimum, example)
            for i, item in enumerate(node.value)
        )
    return (_int(node, loc, minimum, example),) * ndim


# --- the spec -------------------------------------------------------------------------------


def _default_name(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", path.stem).lstrip(".-")[:64]
    return stem or "network"


def _network(root: Node | None, path: str, default_name: str) -> NetworkSpec:
    example_top = "input: {shape: [512]} and layers: [...] (see configs/mlp_tanh.yaml)"
    if root is None:
        raise _error(path, f"the file is empty; a network spec needs {example_top}")
    top = Location(path, _line(root), "")
    if not isinstance(root, MappingNode):
        raise _error(
            top,
            f"the top level must be a mapping with keys {', '.join(TOP_KEYS)}, "
            f"got {_describe(root)}; write {example_top}",
        )
    entries = _mapping(root, top, "")
    _check_keys(entries, TOP_KEYS, "at the top level")
    locations = {key: entry.loc for key, entry in entries.items()}

    name = default_name
    if "name" in entries:
        name = _name(entries["name"].value, entries["name"].loc, "name: mlp_tanh")
    if "input" not in entries:
        raise _missing(top, "input", "input: {shape: [512], distribution: normal}")
    input_shape, distribution = _input(entries["input"], locations)
    batch = DEFAULT_BATCH
    if "batch" in entries:
        batch = _int(entries["batch"].value, entries["batch"].loc, 1, "batch: 256")
    init = DEFAULT_INIT
    if "init" in entries:
        init = _text(
            entries["init"].value, entries["init"].loc, "an initializer SPEC", "init: he_normal"
        )
    bias_init = DEFAULT_BIAS_INIT
    if "bias_init" in entries:
        entry = entries["bias_init"]
        bias_init = _text(entry.value, entry.loc, "an initializer SPEC", "bias_init: zeros")
    if "layers" not in entries:
        raise _missing(top, "layers", "layers: [{type: dense, units: 64, activation: relu}]")
    layers = _layers(entries["layers"])
    return NetworkSpec(
        name=name,
        path=path,
        input_shape=input_shape,
        input_distribution=distribution,
        batch=batch,
        init=init,
        bias_init=bias_init,
        layers=layers,
        key_locations=locations,
    )


def _input(entry: _Entry, locations: dict[str, Location]) -> tuple[tuple[int, ...], str]:
    _require_mapping(entry.value, entry.loc, "input: {shape: [512], distribution: normal}")
    fields = _mapping(entry.value, entry.loc, "input")
    _check_keys(fields, INPUT_KEYS, "in input")
    locations.update({_child("input", key): field.loc for key, field in fields.items()})
    if "shape" not in fields:
        raise _missing(entry.loc, "shape", "shape: [512] (or [channels, length], [c, h, w])")
    shape_node, shape_loc = fields["shape"].value, fields["shape"].loc
    example = "shape: [512], [channels, length] or [channels, height, width]"
    if not isinstance(shape_node, SequenceNode) or not 1 <= len(shape_node.value) <= 3:
        raise _error(
            shape_loc,
            f"expected a list of 1 to 3 positive integers, got {_describe(shape_node)}; "
            f"write {example}",
        )
    shape = tuple(
        _int(item, Location(shape_loc.path, _line(item), f"input.shape[{i}]"), 1, example)
        for i, item in enumerate(shape_node.value)
    )
    distribution = "normal"
    if "distribution" in fields:
        field_ = fields["distribution"]
        distribution = _choice(field_.value, field_.loc, INPUT_DISTRIBUTIONS, "distribution")
    return shape, distribution


def _layers(entry: _Entry) -> tuple[LayerSpec, ...]:
    example = "layers: [{type: dense, units: 64, activation: relu}]"
    if not isinstance(entry.value, SequenceNode):
        raise _error(
            entry.loc,
            f"expected a list of layers, got {_describe(entry.value)}; write e.g. {example}",
        )
    if not entry.value.value:
        raise _error(entry.loc, f"the layer list is empty; add at least one layer, e.g. {example}")
    parsed = []
    total = 0
    for index, node in enumerate(entry.value.value):
        layer, repeat, user_name = _layer(node, index, entry.loc.path)
        total += repeat
        if total > MAX_LAYERS:
            fix = f"lower repeat (now {repeat})" if repeat > 1 else "use fewer layers"
            raise _error(
                layer.where("repeat"),
                f"the network would have {total} layers, over the limit of {MAX_LAYERS}; {fix}",
            )
        parsed.append((layer, repeat, user_name))
    return _expand(parsed)


def _expand(parsed: list[tuple[LayerSpec, int, str | None]]) -> tuple[LayerSpec, ...]:
    """Repeat layers and name them: ``dense3`` is layer 3; a user's name gets ``_k`` if repeated."""
    layers: list[LayerSpec] = []
    owners: dict[str, tuple[LayerSpec, bool]] = {}
    for template, repeat, user_name in parsed:
        for copy in range(1, repeat + 1):
            if user_name is None:
                name = f"{template.type}{len(layers) + 1}"
            else:
                name = user_name if repeat == 1 else f"{user_name}_{copy}"
            layer = replace(template, name=name, key_locations=dict(template.key_locations))
            if name in owners:
                other, other_is_user = owners[name]
                culprit = layer if user_name is not None or not other_is_user else other
                first = other if culprit is layer else layer
                raise _error(
                    culprit.where("name"),
                    f"layer name {name!r} is also the name of the layer at line "
                    f"{first.location.line} ({first.location.key}); names must be unique, "
                    "rename one",
                )
            owners[name] = (layer, user_name is not None)
            layers.append(layer)
    return tuple(layers)


def _wrong_key(kind: str, key: str, loc: Location) -> InitcliError:
    allowed = LAYER_KEYS[kind]
    if kind == "flatten" and any(key in keys for keys in LAYER_KEYS.values()):
        return _error(
            loc,
            f"flatten takes only type and name (it has no weights, activation or repeat); "
            f"remove {key}",
        )
    if kind == "dense" and key == "filters":
        return _error(loc, "dense layers take units, not filters; rename filters to units")
    if kind != "dense" and key == "units":
        return _error(loc, f"{kind} layers take filters, not units; rename units to filters")
    if kind == "dense" and key in _CONV_KEYS:
        return _error(
            loc,
            f"{key} is a conv1d/conv2d key, dense layers take {', '.join(allowed)}; "
            f"remove {key} or change the type",
        )
    return _unknown_key(key, loc, allowed, f"for a {kind} layer")


def _layer(node: Node, index: int, path: str) -> tuple[LayerSpec, int, str | None]:
    """One YAML layer as a template spec (name filled in by ``_expand``), its repeat, its name."""
    prefix = f"layers[{index}]"
    loc = Location(path, _line(node), prefix)
    if not isinstance(node, MappingNode):
        raise _error(
            loc,
            f"each layer must be a mapping, got {_describe(node)}; "
            "write e.g. - {type: dense, units: 64, activation: relu}",
        )
    entries = _mapping(node, loc, prefix)
    if "type" not in entries:
        raise _missing(loc, "type", f"type: dense (one of {', '.join(LAYER_TYPES)})")
    kind = _choice(entries["type"].value, entries["type"].loc, LAYER_TYPES, "type")
    for key, entry in entries.items():
        if key not in LAYER_KEYS[kind]:
            raise _wrong_key(kind, key, entry.loc)
    locations = {key: entry.loc for key, entry in entries.items()}
    user_name = None
    if "name" in entries:
        user_name = _name(entries["name"].value, entries["name"].loc, "name: block1")
    if kind == "flatten":
        spec = LayerSpec(type=kind, name="", location=loc, bias=False, key_locations=locations)
        return spec, 1, user_name

    fields: dict[str, Any]
    if kind == "dense":
        fields = {"units": _required_int(entries, loc, "units", "units: 64")}
    else:
        fields = _conv_fields(entries, loc, kind)
        locations["units"] = locations["filters"]
    fields.update(_weighted_fields(entries))
    repeat = 1
    if "repeat" in entries:
        repeat = _int(entries["repeat"].value, entries["repeat"].loc, 1, "repeat: 10")
    spec = LayerSpec(type=kind, name="", location=loc, key_locations=locations, **fields)
    return spec, repeat, user_name


def _required_int(entries: dict[str, _Entry], loc: Location, key: str, example: str) -> int:
    if key not in entries:
        raise _missing(loc, key, example)
    return _int(entries[key].value, entries[key].loc, 1, example)


def _conv_fields(entries: dict[str, _Entry], loc: Location, kind: str) -> dict[str, Any]:
    ndim = 1 if kind == "conv1d" else 2
    fields: dict[str, Any] = {"units": _required_int(entries, loc, "filters", "filters: 32")}
    if "kernel_size" not in entries:
        raise _missing(loc, "kernel_size", "kernel_size: 3")
    for key in ("kernel_size", "stride", "dilation"):
        entry = entries.get(key)
        fields[key] = (1,) * ndim if entry is None else _sizes(entry.value, entry.loc, ndim, 1, key)
    fields["padding"] = (
        _padding(entries["padding"], kind, ndim) if "padding" in entries else "valid"
    )
    return fields


def _weighted_fields(entries: dict[str, _Entry]) -> dict[str, Any]:
    """activation, init, bias_init and bias: what dense and conv layers share."""
    fields: dict[str, Any] = {}
    texts = (
        ("activation", "an activation SPEC", "activation: relu"),
        ("init", "an initializer SPEC", "init: he_normal"),
        ("bias_init", "an initializer SPEC", "bias_init: zeros"),
    )
    for key, what, example in texts:
        if key in entries:
            fields[key] = _text(entries[key].value, entries[key].loc, what, example)
    if "bias" in entries:
        fields["bias"] = _bool(entries["bias"].value, entries["bias"].loc, "bias: false")
        if "bias_init" in entries and not fields["bias"]:
            raise _error(
                entries["bias_init"].loc,
                "bias_init is given but bias: false (the layer has no bias); remove one of the two",
            )
    return fields


def _padding(entry: _Entry, kind: str, ndim: int) -> str | tuple[int, ...]:
    modes = ("valid", "same", "causal") if kind == "conv1d" else ("valid", "same")
    ints = "an integer >= 0" + ("" if ndim == 1 else " or a list of 2 such integers")
    allowed = f"{', '.join(modes)}, {ints}"
    node = entry.value
    if isinstance(node, ScalarNode) and node.tag == _STR:
        mode = str(node.value).strip()
        if mode in modes:
            return mode
        if mode == "causal":
            raise _error(
                entry.loc,
                "causal padding is for conv1d only (it pads the start of a sequence); "
                f"for {kind} use {allowed}",
            )
        match = closest(mode, modes)
        hint = f"did you mean {match}? " if match else ""
        raise _error(entry.loc, f"got {_show(mode)}, must be {allowed}; {hint}e.g. padding: same")
    if isinstance(node, (SequenceNode, ScalarNode)) and (
        isinstance(node, SequenceNode) or node.tag == _INT
    ):
        return _sizes(node, entry.loc, ndim, 0, "padding")
    raise _error(entry.loc, f"expected {allowed}, got {_describe(node)}; write e.g. padding: same")
