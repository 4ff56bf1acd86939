"""YAML -> NetworkSpec: the shipped configs, the contract keys, and every bad input."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from initcli.errors import EXIT_BAD_DATA, InitcliError
from initcli.network_spec import (
    DEFAULT_BATCH,
    DEFAULT_BIAS_INIT,
    DEFAULT_INIT,
    LAYER_KEYS,
    LAYER_TYPES,
    MAX_LAYERS,
    TOP_KEYS,
    LayerSpec,
    Location,
    NetworkSpec,
    load_spec,
)

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))

EXAMPLE = """\
name: mlp_tanh
input: {shape: [512], distribution: normal}   # one example; channels-first; unit variance
batch: 512
init: glorot_uniform
bias_init: zeros
layers:
  - {type: dense, units: 512, activation: tanh, repeat: 10}
  - {type: conv2d, filters: 64, kernel_size: 3, stride: 1, padding: same, dilation: 1,
     activation: relu}
  - {type: conv1d, filters: 32, kernel_size: 5, padding: causal, dilation: 2, activation: relu}
  - {type: flatten}
  - {type: dense, units: 10, activation: linear, init: lecun_normal, bias: false}
"""


def write(directory: Path, text: str, name: str = "net.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path) -> InitcliError:
    with pytest.raises(InitcliError) as info:
        load_spec(path)
    return info.value


# --- what loads ----------------------------------------------------------------------------


def test_configs_are_shipped() -> None:
    names = {path.stem for path in CONFIGS}
    expected = {"mlp_tanh", "mlp_relu", "mlp_sigmoid", "cnn_relu", "tcn_causal"}
    assert expected | {"glorot2010", "he2015_30layer"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_every_shipped_config_loads(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#") and "initcli run configs/" + path.name in text
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.layers
    assert len({layer.name for layer in spec.layers}) == len(spec.layers)


def test_example_loads_with_expected_layers(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    spec = load_spec(path)
    where = str(path)

    def at(line: int, index: int) -> Location:
        return Location(where, line, f"layers[{index}]")

    dense = [
        LayerSpec(type="dense", name=f"dense{i}", location=at(7, 0), units=512, activation="tanh")
        for i in range(1, 11)
    ]
    expected = (
        *dense,
        LayerSpec(
            type="conv2d",
            name="conv2d11",
            location=at(8, 1),
            units=64,
            kernel_size=(3, 3),
            stride=(1, 1),
            dilation=(1, 1),
            padding="same",
            activation="relu",
        ),
        LayerSpec(
            type="conv1d",
            name="conv1d12",
            location=at(10, 2),
            units=32,
            kernel_size=(5,),
            stride=(1,),
            dilation=(2,),
            padding="causal",
            activation="relu",
        ),
        LayerSpec(type="flatten", name="flatten13", location=at(11, 3), bias=False),
        LayerSpec(
            type="dense",
            name="dense14",
            location=at(12, 4),
            units=10,
            init="lecun_normal",
            bias=False,
        ),
    )
    assert spec == NetworkSpec(
        name="mlp_tanh",
        path=where,
        input_shape=(512,),
        input_distribution="normal",
        batch=512,
        init="glorot_uniform",
        bias_init="zeros",
        layers=expected,
    )
    assert spec.where("batch") == Location(where, 3, "batch")
    assert spec.where("input.shape") == Location(where, 2, "input.shape")
    assert spec.layers[10].where("filters") == Location(where, 8, "layers[1].filters")
    assert spec.layers[10].where("units") == spec.layers[10].where("filters")
    assert spec.layers[13].where("init") == Location(where, 12, "layers[4].init")
    assert spec.layers[0].where("init") == at(7, 0)  # not written: the layer's own line
    assert str(spec.layers[13].where("units")) == f"{where}:12: layers[4].units"


def test_defaults_block_style_and_named_repeats(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        # comment
        input:
          shape: [3, 16, 16]
        layers:
          - type: conv2d
            name: block
            filters: 8
            kernel_size: [3, 5]
            padding: 1
            repeat: 3
          - type: conv2d
            filters: 8
            kernel_size: 3
            stride: [2, 1]
            padding: [0, 2]
            bias: no
          - {type: flatten, name: flat}
          - {type: dense, units: 4, bias_init: "constant(value=0.1)"}
        """,
        name="my net.v2.yaml",
    )
    spec = load_spec(path)
    assert (spec.name, spec.batch, spec.init, spec.bias_init) == (
        "my_net.v2",
        DEFAULT_BATCH,
        DEFAULT_INIT,
        DEFAULT_BIAS_INIT,
    )
    assert spec.input_shape == (3, 16, 16) and spec.input_distribution == "normal"
    assert [layer.name for layer in spec.layers] == [
        "block_1",
        "block_2",
        "block_3",
        "conv2d4",
        "flat",
        "dense6",
    ]
    block = spec.layers[0]
    assert (block.kernel_size, block.padding, block.stride, block.activation) == (
        (3, 5),
        (1, 1),
        (1, 1),
        "linear",
    )
    assert block.where("kernel_size").line == 8 and block.where("repeat").line == 10
    conv = spec.layers[3]
    assert (conv.stride, conv.padding, conv.bias) == ((2, 1), (0, 2), False)
    assert spec.layers[5].bias_init == "constant(value=0.1)"


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        input: {shape: [8, 32], distribution: uniform}
        layers:
          - &tcn {type: conv1d, filters: 4, kernel_size: 3, padding: causal, activation: relu}
          - {<<: *tcn, dilation: 2}
          - {<<: [*tcn, {filters: 9, stride: 2}], kernel_size: [5], padding: [2]}
          - *tcn
        """,
    )
    spec = load_spec(path)
    assert spec.input_distribution == "uniform"
    first, second, third, fourth = spec.layers
    assert second.dilation == (2,) and second.units == 4 and second.padding == "causal"
    assert third.units == 4 and third.stride == (2,) and third.kernel_size == (5,)
    assert third.padding == (2,)
    assert fourth.kernel_size == first.kernel_size == (3,)
    assert second.where("filters").line == 3  # merged keys keep the anchor's line


def test_utf8_bom_and_path_types(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffinput: {shape: [4]}\nlayers: [{type: dense, units: 2}]\n".encode())
    assert load_spec(str(path)).layers[0].units == 2
    assert load_spec(path).path == str(path)


# --- what is refused -----------------------------------------------------------------------

OK_INPUT = "input: {shape: [16]}\n"


def bad(case: str, text: str, line: int, key: str, *fragments: str) -> object:
    """A config that must be refused at ``line`` naming ``key``, with these words."""
    return pytest.param(text, line, key, fragments, id=case)


def bad_layer(case: str, body: str, key: str, *fragments: str) -> object:
    """A one-layer config (on line 2) whose layer mapping is ``{body}``."""
    return bad(case, OK_INPUT + "layers: [{" + body + "}]\n", 2, f"layers[0].{key}", *fragments)


CONV = "type: conv2d, filters: 3, kernel_size: 3"
CONV1 = "type: conv1d, filters: 3, kernel_size: 3"
DENSE = "type: dense, units: 3"
ONE_LAYER = "layers: [{type: dense, units: 3}]\n"
BLOCK_CONV = "layers:\n  - type: conv2d\n    filters: 3\n"
BAD = [
    bad("top-level-list", "- 1\n- 2\n", 1, "", "must be a mapping", "a list of 2"),
    bad("unknown-top", OK_INPUT + "layer: []\n", 2, "layer", "did you mean layers?"),
    bad("unknown-input", "input: {shape: [3], dist: x}\n", 1, "input.dist", "shape, distribution"),
    bad("unknown-layer", OK_INPUT + "layers:\n  - {unit: 3, type: dense}\n", 3, "layers[0].unit",
        "did you mean units?"),
    bad_layer("units-string", "type: dense, units: '64'", "units", "'64'", "remove the quotes"),
    bad_layer("units-float", "type: dense, units: 64.5", "units", "64.5", "integer >= 1"),
    bad_layer("units-bool", "type: dense, units: yes", "units", "boolean yes", "yes/no"),
    bad_layer("units-zero", "type: dense, units: 0", "units", "got 0", ">= 1"),
    bad("units-negative", OK_INPUT + f"layers:\n- {{{DENSE}}}\n- {{type: dense, units: -3}}\n", 4,
        "layers[1].units", "-3"),
    bad_layer("units-list", "type: dense, units: [3]", "units", "a list of 1 item"),
    bad_layer("units-missing", "type: dense", "units", "missing", "units: 64"),
    bad_layer("filters-missing", "type: conv1d, kernel_size: 3", "filters", "missing"),
    bad_layer("kernel-missing", "type: conv1d, filters: 3", "kernel_size", "missing"),
    bad_layer("kernel-zero", "type: conv1d, filters: 3, kernel_size: 0", "kernel_size", "got 0"),
    bad("kernel-pair-zero", OK_INPUT + BLOCK_CONV + "    kernel_size:\n    - 3\n    - 0\n", 7,
        "layers[0].kernel_size[1]", "got 0"),
    bad_layer("kernel-conv1d-pair", "type: conv1d, filters: 3, kernel_size: [3, 3]", "kernel_size",
              "a list of 2 items", "kernel_size: 3"),
    bad_layer("kernel-conv2d-triple", "type: conv2d, filters: 3, kernel_size: [3, 3, 3]",
              "kernel_size", "[3, 3]"),
    bad_layer("stride-zero", CONV + ", stride: 0", "stride", "got 0"),
    bad_layer("dilation-negative", CONV1 + ", dilation: -1", "dilation", "-1"),
    bad_layer("dilation-string", CONV1 + ", dilation: two", "dilation", "'two'"),
    bad_layer("padding-unknown", CONV + ", padding: sme", "padding", "'sme'", "did you mean same?",
              "valid, same"),
    bad_layer("padding-negative", CONV + ", padding: -1", "padding", "-1", ">= 0"),
    bad_layer("padding-float", CONV1 + ", padding: 1.5", "padding", "1.5", "causal"),
    bad_layer("causal-conv2d", CONV + ", padding: causal", "padding", "conv1d only", "valid, same"),
    bad("input-rank-4", "input: {shape: [1, 2, 3, 4]}\n", 1, "input.shape", "1 to 3", "4 items"),
    bad("input-rank-0", "input: {shape: []}\n", 1, "input.shape", "a list of 0 items"),
    bad("input-scalar", "input: {shape: 512}\n", 1, "input.shape", "the integer 512", "[512]"),
    bad("input-dim-zero", "input:\n  shape: [3, 0]\n", 2, "input.shape[1]", "got 0"),
    bad("input-no-shape", "input: {distribution: normal}\n", 1, "input.shape", "missing"),
    bad("input-missing", "batch: 3\n" + ONE_LAYER, 1, "input", "missing"),
    bad("input-not-mapping", "input: [16]\n", 1, "input", "expected a mapping", "shape: [512]"),
    bad("distribution", "input: {shape: [3], distribution: gaussian}\n", 1, "input.distribution",
        "'gaussian'", "normal, uniform"),
    bad_layer("repeat-zero", DENSE + ", repeat: 0", "repeat", "got 0", ">= 1"),
    bad_layer("repeat-negative", DENSE + ", repeat: -2", "repeat", "-2"),
    bad_layer("repeat-huge", DENSE + f", repeat: {MAX_LAYERS + 1}", "repeat", str(MAX_LAYERS)),
    bad("batch-zero", OK_INPUT + "batch: 0\n" + ONE_LAYER, 2, "batch", "got 0"),
    bad("batch-float", OK_INPUT + "batch: 1.0e+2\n" + ONE_LAYER, 2, "batch", "whole number"),
    bad("layers-missing", OK_INPUT + "batch: 4\n", 1, "layers", "missing"),
    bad("layers-empty", OK_INPUT + "layers: []\n", 2, "layers", "empty"),
    bad("layers-mapping", OK_INPUT + "layers: {type: dense}\n", 2, "layers", "list of layers"),
    bad("layer-scalar", OK_INPUT + "layers:\n  - dense\n", 3, "layers[0]", "mapping", "'dense'"),
    bad_layer("type-missing", "units: 3", "type", "missing", "dense, conv1d, conv2d, flatten"),
    bad_layer("type-unknown", "type: dens, units: 3", "type", "'dens'", "did you mean dense?"),
    bad_layer("dense-filters", "type: dense, filters: 3", "filters", "take units, not filters"),
    bad_layer("conv-units", "type: conv2d, units: 3", "units", "take filters, not units"),
    bad_layer("dense-kernel", DENSE + ", kernel_size: 3", "kernel_size", "conv1d/conv2d key"),
    bad_layer("flatten-units", "type: flatten, units: 3", "units", "only type and name"),
    bad_layer("flatten-activation", "type: flatten, activation: relu", "activation", "only type"),
    bad_layer("flatten-other", "type: flatten, size: 3", "size", "allowed keys: type, name"),
    bad("duplicate-top", OK_INPUT + "batch: 3\nbatch: 4\n" + ONE_LAYER, 3, "batch", "duplicate",
        "line 2"),
    bad("duplicate-layer", OK_INPUT + "layers:\n  - type: dense\n    units: 3\n    units: 4\n", 5,
        "layers[0].units", "duplicate", "line 4"),
    bad("init-empty", OK_INPUT + "init: ''\n" + ONE_LAYER, 2, "init", "empty string"),
    bad_layer("init-null", DENSE + ", init: null", "init", "null", "remove the key"),
    bad("bias-init-number", OK_INPUT + "bias_init: 0\n" + ONE_LAYER, 2, "bias_init", "integer 0",
        "zeros"),
    bad_layer("activation-list", DENSE + ", activation: [relu]", "activation", "a list of 1 item"),
    bad_layer("bias-string", DENSE + ", bias: 'no'", "bias", "true or false", "'no'"),
    bad_layer("bias-int", DENSE + ", bias: 0", "bias", "true or false"),
    bad_layer("bias-init-no-bias", DENSE + ", bias: false, bias_init: ones", "bias_init",
              "bias: false"),
    bad("name-invalid", "name: my net\n" + OK_INPUT + ONE_LAYER, 1, "name", "'my net'", "letters"),
    bad("name-duplicate", OK_INPUT + f"layers:\n- {{{DENSE}, name: a}}\n- {{{DENSE}, name: a}}\n",
        4, "layers[1].name", "'a'", "unique"),
    bad("name-clash-auto", OK_INPUT + f"layers:\n  - {{{DENSE}, name: dense2}}\n  - {{{DENSE}}}\n",
        3, "layers[0].name", "'dense2'", "unique"),
    bad("key-not-scalar", OK_INPUT + "? [a]\n: 1\n", 2, "", "plain names"),
    bad_layer("merge-scalar", "<<: 3, " + DENSE, "<<", "merge key needs a mapping"),
    bad_layer("date", "type: dense, units: 2024-01-01", "units", "date 2024-01-01"),
    bad_layer("tagged", "type: dense, units: !!binary aGk=", "units", "tagged"),
    bad_layer("explicit-int", "type: dense, units: !!int ''", "units", "''", "integer"),
    bad("syntax", OK_INPUT + "layers:\n  - {type: dense, units: 3\n", 4, "", "YAML syntax error",
        ":4:1:", "close every {"),
    bad("syntax-colon", OK_INPUT + "layers: a: b\n", 2, "", "YAML syntax error", ":2:10:"),
    bad("tab", OK_INPUT + "layers:\n\t- {type: dense}\n", 3, "", "tabs"),
    bad("two-documents", OK_INPUT + "---\n" + ONE_LAYER, 2, "", "one network per file"),
    bad("undefined-alias", OK_INPUT + "layers: [*nope]\n", 2, "", "anchor"),
    bad("control-char", OK_INPUT + "name: a\x07b\n", 2, "", "not allowed"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "key", "fragments"), BAD)
def test_bad_input_names_file_line_key_and_fix(
    tmp_path: Path, text: str, line: int, key: str, fragments: tuple[str, ...]
) -> None:
    path = write(tmp_path, text, name="bad.yaml")
    err = load_error(path)
    assert err.exit_code == EXIT_BAD_DATA == 1
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}"), message
    if key:
        assert f"{path}:{line}: {key}:" in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert "; " in message, message  # every message ends with what to do about it


def test_missing_file_suggests_a_neighbour(tmp_path: Path) -> None:
    write(tmp_path, EXAMPLE, name="mlp_tanh.yaml")
    err = load_error(tmp_path / "mlp_tahn.yaml")
    assert err.exit_code == EXIT_BAD_DATA
    assert str(err) == f"{tmp_path / 'mlp_tahn.yaml'}: config file not found; did you mean " + (
        f"{tmp_path / 'mlp_tanh.yaml'}?"
    )
    assert "not found; check the path" in str(load_error(tmp_path / "nothing" / "x.yaml"))


def test_directory_empty_file_and_not_utf8(tmp_path: Path) -> None:
    write(tmp_path, EXAMPLE, name="mlp_tanh.yaml")
    err = load_error(tmp_path)
    assert "is a directory" in str(err) and "mlp_tanh.yaml" in str(err)
    assert err.exit_code == EXIT_BAD_DATA
    empty = write(tmp_path, "# only a comment\n", name="empty.yaml")
    assert str(load_error(empty)).startswith(f"{empty}: the file is empty;")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"input: {shape: [3]}\nname: caf\xe9\n")
    err = load_error(latin1)
    assert str(err).startswith(f"{latin1}:2: not UTF-8") and "0xe9 at column 10" in str(err)
    assert "\x00" not in str(load_error(Path("bad\x00name.yaml")))


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file"
)
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    path.chmod(0)
    try:
        err = load_error(path)
    finally:
        path.chmod(0o600)
    assert "permission denied" in str(err) and err.exit_code == EXIT_BAD_DATA


def test_self_merge_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, OK_INPUT + "layers:\n  - &a {<<: *a, type: dense, units: 3}\n")
    assert "merges itself" in str(load_error(path))


def test_nested_merges_do_not_blow_up(tmp_path: Path) -> None:
    # Each level merges the one below nine times: 9^12 merges unless merged nodes are cached.
    def level(k: int) -> str:
        if k == 0:
            return "&l0 {type: dense, units: 3}"
        return f"&l{k} {{<<: [{level(k - 1)}, {', '.join([f'*l{k - 1}'] * 8)}]}}"

    path = write(tmp_path, OK_INPUT + "layers:\n  - " + level(12) + "\n")
    assert load_spec(path).layers[0].units == 3


def test_deep_nesting_is_a_clean_error(tmp_path: Path) -> None:
    path = write(tmp_path, OK_INPUT + "layers: " + "[" * 2000 + "]" * 2000 + "\n")
    err = load_error(path)
    assert err.exit_code == EXIT_BAD_DATA and str(err).startswith(str(path))


# --- never anything but InitcliError ---------------------------------------------------------

KEYS = sorted({key for keys in LAYER_KEYS.values() for key in keys} | {"shape", "distribution"})
WORDS = [*LAYER_TYPES, "same", "valid", "causal", "relu", "tanh", "normal", "uniform", "yes"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=6),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=10,
)
sizes = st.integers(1, 3) | st.lists(st.integers(1, 3), min_size=1, max_size=2)
weighted = {
    "activation": st.sampled_from(["relu", "tanh", "leaky_relu(negative_slope=0.2)"]),
    "init": st.sampled_from(["he_normal", "glorot_uniform"]),
    "bias": st.booleans(),
    "repeat": st.integers(1, 3),
    "name": st.sampled_from(["a", "b", "dense2", "block"]),
}
good_layers = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("dense"), "units": st.integers(1, 8)}, optional=weighted
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["conv1d", "conv2d"]),
            "filters": st.integers(1, 8),
            "kernel_size": sizes,
        },
        optional={
            **weighted,
            "stride": sizes,
            "dilation": sizes,
            "padding": st.sampled_from(["valid", "same", "causal"]) | sizes,
        },
    ),
    st.fixed_dictionaries({"type": st.just("flatten")}, optional={"name": st.just("flat")}),
)
good_documents = st.fixed_dictionaries(
    {
        "input": st.fixed_dictionaries(
            {"shape": st.lists(st.integers(1, 9), min_size=1, max_size=3)},
            optional={"distribution": st.sampled_from(["normal", "uniform"])},
        ),
        "layers": st.lists(good_layers, min_size=1, max_size=4),
    },
    optional={
        "name": st.just("net"),
        "batch": st.integers(1, 9),
        "init": st.just("lecun_normal"),
        "bias_init": st.just("zeros"),
    },
)


@st.composite
def documents(draw: st.DrawFn) -> object:
    """A valid spec, often with one value somewhere replaced by an arbitrary YAML value."""
    document: dict[str, Any] = draw(good_documents)
    if draw(st.booleans()):
        layer = draw(st.sampled_from(document["layers"]))
        target = draw(st.sampled_from([document, document["input"], layer]))
        target[draw(st.sampled_from([*KEYS, *TOP_KEYS, "extra"]))] = draw(values)
    return document


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    text = yaml.safe_dump(draw(documents() | values), default_flow_style=draw(st.booleans()))
    if draw(st.integers(0, 3)) == 0:  # damage it: cut a slice out, or splice in punctuation
        start = draw(st.integers(0, len(text)))
        stop = draw(st.integers(start, min(len(text), start + 8)))
        splice = draw(st.sampled_from(["", ":", "- ", "{", "]", "&a ", "*a", "<<: ", "\t"]))
        text = text[:start] + splice + text[stop:]
    return text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=yaml_texts() | st.text(max_size=60))
def test_load_spec_only_raises_initcli_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        spec = load_spec(path)
    except InitcliError as err:
        assert err.exit_code == EXIT_BAD_DATA
        assert str(err).startswith(f"{path}:") and str(err).isprintable()
        return
    assert spec.layers and spec.batch >= 1 and 1 <= len(spec.input_shape) <= 3
    assert len({layer.name for layer in spec.layers}) == len(spec.layers)
    for layer in spec.layers:
        ndim = {"dense": 0, "flatten": 0, "conv1d": 1, "conv2d": 2}[layer.type]
        assert len(layer.kernel_size) == len(layer.stride) == len(layer.dilation) == ndim
        assert (layer.units is None) == (layer.type == "flatten")
