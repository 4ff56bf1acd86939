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

Each ``type:`` is a layer kind of :mod:`initcli.layers`: the kind lists the keys it takes
and parses them; this module checks the keys against that list (with did-you-mean), then
expands ``repeat`` and names every layer, composites' sub-layers included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from initcli import layers as layer_kinds
from initcli.errors import closest
from initcli.yamlnodes import (
    Entry,
    Fields,
    Location,
    check_keys,
    describe,
    error,
    line_of,
    mapping,
    missing,
    read_choice,
    read_int,
    read_name,
    read_text,
    require_mapping,
    unknown_key,
)

__all__ = ["LAYER_TYPES", "LayerSpec", "Location", "NetworkSpec", "load_spec", "load_spec_text"]

DEFAULT_BATCH = 256
# Keras's Dense and ConvND default kernel and bias initializers (shared/REFERENCE.md).
DEFAULT_INIT = "glorot_uniform"
DEFAULT_BIAS_INIT = "zeros"
DEFAULT_ACTIVATION = "linear"
MAX_LAYERS = 10_000  # after `repeat`; refused before expanding so `repeat: 1e12` cannot hang
MAX_FILE_BYTES = 4_000_000  # a network spec is a few KB; anything this large is the wrong file

LAYER_TYPES = layer_kinds.LAYER_TYPES
INPUT_DISTRIBUTIONS = ("normal", "uniform", "tokens")
INPUT_LAYOUTS = ("channels", "sequence")  # of a 2-D input; see initcli.layers.base
TOP_KEYS = ("name", "input", "batch", "init", "bias_init", "layers")
INPUT_KEYS = ("shape", "distribution", "vocab", "layout")
LAYER_KEYS: dict[str, tuple[str, ...]] = {
    name: kind.keys for name, kind in layer_kinds.REGISTRY.items()
}


@dataclass(frozen=True)
class LayerSpec:
    """One layer after ``repeat`` is expanded. Sizes are tuples, one entry per spatial dim.

    ``key_locations`` holds the keys written in the YAML (``units``, ``kernel_size``, ...);
    for conv layers ``units`` is also an alias of ``filters``. Layers made by ``repeat``
    share their YAML lines. ``options`` holds the values of kinds whose keys have no field
    here; ``children`` the named sub-layer lists of a composite kind (``layers`` of a
    residual block), already expanded and named ``<this name>.<child name>``.
    """

    type: str  # a registered layer kind: "dense", "conv1d", "conv2d", "flatten", ...
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
    options: Mapping[str, Any] = field(default_factory=dict)
    children: Mapping[str, tuple[LayerSpec, ...]] = field(default_factory=dict)
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
    input_vocab: int | None = None  # distribution tokens: ids uniform in [0, vocab)
    input_layout: str | None = None  # a 2-D input's "channels" | "sequence"; None: undecided

    def where(self, key: str) -> Location:
        """Location of a top-level key such as ``batch`` or ``input.shape`` (else the file)."""
        return self.key_locations.get(key, Location(self.path))


def load_spec(path: str | Path) -> NetworkSpec:
    """Read and validate a network spec; every failure is one ``InitcliError`` (exit 1)."""
    shown = str(path) if str(path).isprintable() else repr(str(path))
    return load_spec_text(_read_text(Path(path), shown), shown, _default_name(Path(path)))


def load_spec_text(text: str, shown: str, default_name: str) -> NetworkSpec:
    """Validate a network spec given as YAML text; ``shown`` names it in errors."""
    return _network(_compose(text, shown), shown, default_name)


# --- reading and parsing -------------------------------------------------------------------


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
            raise error(shown, f"config file not found; {hint}")
        if path.is_dir():
            nearby = _yaml_files_near(path)
            example = f", e.g. {nearby[0]}" if nearby else ""
            raise error(shown, f"is a directory, not a config file; give a YAML file{example}")
        if not path.is_file():
            raise error(shown, "is not a regular file; give a YAML file such as configs/x.yaml")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise error(
                shown,
                f"is {size} bytes; a network spec is a few KB (limit {MAX_FILE_BYTES}): "
                "is this the right file?",
            )
        raw = path.read_bytes()
    except PermissionError:
        raise error(
            shown, "cannot read the config: permission denied; check its permissions"
        ) from None
    except (OSError, ValueError) as err:  # ValueError: e.g. a NUL byte in the path
        reason = getattr(err, "strerror", None) or str(err)
        raise error(shown, f"cannot read the config: {reason}; check the path") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise error(
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
        raise error(where, f"YAML syntax error: {problem}; {hint}") from None
    except yaml.reader.ReaderError as err:  # a control character the YAML reader refuses
        line = text.count("\n", 0, err.position) + 1
        code = err.character if isinstance(err.character, int) else ord(err.character)
        raise error(
            f"{shown}:{line}",
            f"character U+{code:04X} is not allowed in YAML; delete it "
            "(or save the file as plain UTF-8 text)",
        ) from None
    except yaml.YAMLError as err:
        raise error(shown, f"cannot parse the YAML: {_one_line(str(err))}") from None
    except RecursionError:
        raise error(shown, "YAML nested too deeply to be a network spec; check brackets") from None


# --- the spec -------------------------------------------------------------------------------


def _default_name(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", path.stem).lstrip(".-")[:64]
    return stem or "network"


def _network(root: Node | None, path: str, default_name: str) -> NetworkSpec:
    example_top = "input: {shape: [512]} and layers: [...] (see configs/mlp_tanh.yaml)"
    if root is None:
        raise error(path, f"the file is empty; a network spec needs {example_top}")
    top = Location(path, line_of(root), "")
    if not isinstance(root, MappingNode):
        raise error(
            top,
            f"the top level must be a mapping with keys {', '.join(TOP_KEYS)}, "
            f"got {describe(root)}; write {example_top}",
        )
    entries = mapping(root, top, "")
    check_keys(entries, TOP_KEYS, "at the top level")
    locations = {key: entry.loc for key, entry in entries.items()}

    name = default_name
    if "name" in entries:
        name = read_name(entries["name"].value, entries["name"].loc, "name: mlp_tanh")
    if "input" not in entries:
        raise missing(top, "input", "input: {shape: [512], distribution: normal}")
    input_shape, distribution, vocab, layout = _input(entries["input"], locations)
    batch = DEFAULT_BATCH
    if "batch" in entries:
        batch = read_int(entries["batch"].value, entries["batch"].loc, 1, "batch: 256")
    init = DEFAULT_INIT
    if "init" in entries:
        init = read_text(
            entries["init"].value, entries["init"].loc, "an initializer SPEC", "init: he_normal"
        )
    bias_init = DEFAULT_BIAS_INIT
    if "bias_init" in entries:
        entry = entries["bias_init"]
        bias_init = read_text(entry.value, entry.loc, "an initializer SPEC", "bias_init: zeros")
    if "layers" not in entries:
        raise missing(top, "layers", "layers: [{type: dense, units: 64, activation: relu}]")
    templates = _templates(entries["layers"])
    total = 0
    for template in templates:
        total += template.count()
        _check_total(total, template)
    return NetworkSpec(
        name=name,
        path=path,
        input_shape=input_shape,
        input_distribution=distribution,
        batch=batch,
        init=init,
        bias_init=bias_init,
        layers=_expand(templates, ""),
        key_locations=locations,
        input_vocab=vocab,
        input_layout=layout,
    )


def _input(
    entry: Entry, locations: dict[str, Location]
) -> tuple[tuple[int, ...], str, int | None, str | None]:
    require_mapping(entry.value, entry.loc, "input: {shape: [512], distribution: normal}")
    fields = mapping(entry.value, entry.loc, "input")
    check_keys(fields, INPUT_KEYS, "in input")
    locations.update({f"input.{key}": field_.loc for key, field_ in fields.items()})
    if "shape" not in fields:
        raise missing(entry.loc, "shape", "shape: [512] (or [channels, length], [c, h, w])")
    shape_node, shape_loc = fields["shape"].value, fields["shape"].loc
    example = "shape: [512], [channels, length] or [channels, height, width]"
    if not isinstance(shape_node, SequenceNode) or not 1 <= len(shape_node.value) <= 3:
        raise error(
            shape_loc,
            f"expected a list of 1 to 3 positive integers, got {describe(shape_node)}; "
            f"write {example}",
        )
    shape = tuple(
        read_int(item, Location(shape_loc.path, line_of(item), f"input.shape[{i}]"), 1, example)
        for i, item in enumerate(shape_node.value)
    )
    distribution = "normal"
    if "distribution" in fields:
        field_ = fields["distribution"]
        distribution = read_choice(field_.value, field_.loc, INPUT_DISTRIBUTIONS, "distribution")
    vocab = None
    if distribution == "tokens":
        if "vocab" not in fields:
            raise missing(entry.loc, "vocab", "vocab: 1000 (token ids are uniform in [0, vocab))")
        vocab = read_int(fields["vocab"].value, fields["vocab"].loc, 1, "vocab: 1000")
        if len(shape) != 1:
            raise error(
                shape_loc,
                f"token ids are one sequence per example: shape is [tokens], got {list(shape)}; "
                "write shape: [128]",
            )
    elif "vocab" in fields:
        raise error(
            fields["vocab"].loc,
            "vocab is only for distribution: tokens; remove it or set distribution: tokens",
        )
    layout = None
    if "layout" in fields:
        layout = read_choice(fields["layout"].value, fields["layout"].loc, INPUT_LAYOUTS, "layout")
        if len(shape) != 2 or distribution == "tokens":
            raise error(
                fields["layout"].loc,
                f"layout says how to read a 2-D input ([channels, length] or [tokens, "
                f"features]) but the input is {list(shape)}"
                + (" token ids" if distribution == "tokens" else "")
                + "; remove layout",
            )
    return shape, distribution, vocab, layout


@dataclass(frozen=True)
class _Template:
    """One YAML layer before ``repeat`` and naming: its spec (name empty), how many copies,
    the user's name if any, and the templates of a composite's sub-layer lists."""

    spec: LayerSpec
    repeat: int
    user_name: str | None
    children: dict[str, tuple[_Template, ...]]

    def count(self) -> int:
        """Layers this template expands to, sub-layers included (exact, without expanding)."""
        inner = sum(child.count() for group in self.children.values() for child in group)
        return self.repeat * (1 + inner)


def _check_total(total: int, template: _Template) -> None:
    if total > MAX_LAYERS:
        repeat = template.repeat
        fix = f"lower repeat (now {repeat})" if repeat > 1 else "use fewer layers"
        raise error(
            template.spec.where("repeat"),
            f"the network would have {total} layers, over the limit of {MAX_LAYERS}; {fix}",
        )


def _templates(entry: Entry, single: bool = False) -> tuple[_Template, ...]:
    """A YAML list of layers (the top level's, or a composite's) as templates; ``single``:
    one layer mapping (a residual block's ``shortcut``), named after its key by default."""
    example = "layers: [{type: dense, units: 64, activation: relu}]"
    if single:
        key = entry.loc.key.rsplit(".", 1)[-1]
        template = _layer(entry.value, 0, entry.loc, entry.loc.key)
        if template.repeat != 1:
            raise error(
                template.spec.where("repeat"),
                f"{key} is one layer, it cannot repeat; remove repeat",
            )
        if template.children:
            raise error(entry.loc, f"{key} must be one plain layer, not a {template.spec.type}")
        return (replace(template, user_name=template.user_name or key),)
    if not isinstance(entry.value, SequenceNode):
        raise error(
            entry.loc,
            f"expected a list of layers, got {describe(entry.value)}; write e.g. {example}",
        )
    if not entry.value.value:
        raise error(entry.loc, f"the layer list is empty; add at least one layer, e.g. {example}")
    templates = []
    total = 0
    for index, node in enumerate(entry.value.value):
        template = _layer(node, index, entry.loc)
        total += template.count()
        _check_total(total, template)
        templates.append(template)
    return tuple(templates)


def _expand(templates: tuple[_Template, ...], prefix: str) -> tuple[LayerSpec, ...]:
    """Repeat layers and name them: ``dense3`` is layer 3 of its list; a user's name gets
    ``_k`` if repeated; a composite's sub-layers are ``<its name>.<their name>``."""
    layers: list[LayerSpec] = []
    owners: dict[str, tuple[LayerSpec, bool]] = {}
    for template in templates:
        kind = layer_kinds.kind_of(template.spec.type)
        for copy in range(1, template.repeat + 1):
            if template.user_name is None:
                name = f"{prefix}{kind.default_name}{len(layers) + 1}"
            elif template.repeat == 1:
                name = f"{prefix}{template.user_name}"
            else:
                name = f"{prefix}{template.user_name}_{copy}"
            children = {key: _expand(group, f"{name}.") for key, group in template.children.items()}
            layer = replace(
                template.spec,
                name=name,
                children=children,
                key_locations=dict(template.spec.key_locations),
            )
            if name in owners:
                other, other_is_user = owners[name]
                is_user = template.user_name is not None
                culprit = layer if is_user or not other_is_user else other
                first = other if culprit is layer else layer
                raise error(
                    culprit.where("name"),
                    f"layer name {name!r} is also the name of the layer at line "
                    f"{first.location.line} ({first.location.key}); names must be unique, "
                    "rename one",
                )
            owners[name] = (layer, template.user_name is not None)
            layers.append(layer)
    return tuple(layers)


def _wrong_key(kind: str, key: str, loc: Location) -> Exception:
    message = layer_kinds.kind_of(kind).wrong_key(key, layer_kinds.ALL_KEYS)
    if message is not None:
        return error(loc, message)
    return unknown_key(key, loc, LAYER_KEYS[kind], f"for a {kind} layer")


def _layer(node: Node, index: int, parent: Location, key: str | None = None) -> _Template:
    """One YAML layer mapping as a template (its kind parses its keys); ``key`` names it in
    errors instead of ``<parent key>[index]``."""
    prefix = f"{parent.key}[{index}]" if key is None else key
    loc = Location(parent.path, line_of(node), prefix)
    if not isinstance(node, MappingNode):
        raise error(
            loc,
            f"each layer must be a mapping, got {describe(node)}; "
            "write e.g. - {type: dense, units: 64, activation: relu}",
        )
    entries = mapping(node, loc, prefix)
    if "type" not in entries:
        raise missing(loc, "type", f"type: dense (one of {', '.join(LAYER_TYPES)})")
    kind_name = read_choice(entries["type"].value, entries["type"].loc, LAYER_TYPES, "type")
    kind = layer_kinds.kind_of(kind_name)
    for key, entry in entries.items():
        if key not in kind.keys:
            raise _wrong_key(kind_name, key, entry.loc)
    locations = {key: entry.loc for key, entry in entries.items()}
    if "filters" in locations:
        locations["units"] = locations["filters"]
    user_name = None
    if "name" in entries:
        user_name = read_name(entries["name"].value, entries["name"].loc, "name: block1")
    fields = Fields(entries, loc, kind_name, _templates)
    parsed = kind.parse(fields)
    children = parsed.pop("children", {})
    repeat = 1
    if "repeat" in entries:
        repeat = read_int(entries["repeat"].value, entries["repeat"].loc, 1, "repeat: 10")
    spec = LayerSpec(type=kind_name, name="", location=loc, key_locations=locations, **parsed)
    return _Template(spec, repeat, user_name, children)
