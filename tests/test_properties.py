"""Property-based tests: generated SPEC strings, shape strings and configs never crash initcli.

Whatever the text, the parsers either return a valid result or raise ``InitcliError`` with a
one-line message (exit code 2 for SPECs and shapes, 1 for configs); valid results round-trip
(``resolve(x.spec) == x``). Inputs mix registry names and parameter names with junk, random
values, nesting and stray punctuation. Seeds are fixed (``derandomize``) so runs repeat.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from initcli.activations import REGISTRY as ACTIVATIONS
from initcli.activations import activation_names, resolve_activation
from initcli.cli import main
from initcli.errors import EXIT_BAD_DATA, EXIT_BAD_USAGE, InitcliError
from initcli.initializers import known_names, list_initializers, resolve_initializer
from initcli.shapes import parse_shape
from initcli.specparse import Value, format_call, parse_call

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CONFIGS = Path(__file__).resolve().parents[1] / "configs"

INIT_NAMES = known_names()
ACT_NAMES = activation_names(aliases=True)
PARAMS = {
    param.name: param
    for params in (
        *(info.params for info in list_initializers()),
        *(definition.params for definition in ACTIVATIONS.values()),
    )
    for param in params
}
WORDS = sorted({choice for param in PARAMS.values() for choice in param.choices})
PUNCTUATION = "(),= '\"\t.-+_x"


def mutate_case(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.upper(), name.title(), name + "_"])


junk = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
names = st.one_of(
    st.sampled_from(INIT_NAMES).flatmap(mutate_case),
    st.sampled_from(ACT_NAMES).flatmap(mutate_case),
    junk,
)
numbers = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-10, 10).map(lambda x: f"{x:.3e}"),
    st.sampled_from(["1e999", "-0", "+.5", "1.", ".e3", "1e", "0x10", "1_000", "9" * 400]),
)
values = st.recursive(
    st.one_of(
        numbers,
        st.sampled_from(["true", "False", "none", "NULL", "inf", "-inf", "nan", *WORDS]),
        numbers.map(lambda x: f"sqrt({x})"),
        junk,
        junk.map(lambda x: f"'{x}'"),
    ),
    lambda inner: st.tuples(names, inner).map(lambda pair: f"{pair[0]}({pair[1]})"),
    max_leaves=3,
)
keys = st.one_of(st.sampled_from(sorted(PARAMS)), junk)
arguments = st.lists(st.tuples(keys, values), max_size=4).map(
    lambda pairs: ", ".join(f"{key}={value}" for key, value in pairs)
)


@st.composite
def spec_texts(draw: st.DrawFn) -> str:
    """``name``, ``name(k=v, ...)``, sometimes damaged by inserting or deleting punctuation."""
    text = draw(names)
    if draw(st.booleans()):
        text += f"({draw(arguments)})"
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(PUNCTUATION)) + text[at:]
        else:
            text = text[:at] + text[at + 1 :]
    return text


@st.composite
def valid_looking_specs(draw: st.DrawFn, registry: str) -> str:
    """A registry name with parameters drawn from its own schema, mostly in range."""
    if registry == "init":
        info = draw(st.sampled_from(list_initializers()))
        name, params = info.name, info.params
    else:
        name = draw(st.sampled_from(sorted(ACTIVATIONS)))
        params = ACTIVATIONS[name].params
    chosen = draw(st.lists(st.sampled_from(params), unique_by=lambda p: p.name)) if params else []
    given: dict[str, Value] = {}
    for param in chosen:
        if param.choices:
            given[param.name] = draw(st.sampled_from(param.choices))
        elif param.kind is bool:
            given[param.name] = draw(st.booleans())
        elif param.kind is int:
            given[param.name] = draw(st.integers(-1, 8))
        else:
            low = -5.0 if param.low is None else param.low - 0.5
            high = 5.0 if param.high is None else param.high + 0.5
            given[param.name] = draw(st.floats(low, high))
    return format_call(name, given)


def same(a: object, b: object) -> bool:
    """Equality where NaN equals NaN (a parsed ``nan`` must round-trip to ``nan``)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def assert_clean(err: InitcliError, exit_code: int) -> None:
    assert err.exit_code == exit_code, err
    assert err.message and "\n" not in err.message and "\r" not in err.message, err.message
    assert len(err.message) < 600, err.message


# --- SPEC strings ---------------------------------------------------------------------------


@SETTINGS
@given(text=spec_texts())
def test_parse_call_returns_a_round_trip_or_a_clean_error(text: str) -> None:
    try:
        name, kwargs = parse_call(text)
    except InitcliError as err:
        assert_clean(err, EXIT_BAD_USAGE)
        assert err.message.startswith("invalid spec ")
        return
    assert name == name.lower() and all(key == key.lower() for key in kwargs)
    again = parse_call(format_call(name, kwargs))
    assert again[0] == name and same(again[1], kwargs), (text, again)


@SETTINGS
@given(text=spec_texts() | valid_looking_specs("init"))
def test_resolve_initializer_round_trips_or_fails_cleanly(text: str) -> None:
    try:
        init = resolve_initializer(text)
    except InitcliError as err:
        assert_clean(err, EXIT_BAD_USAGE)
        return
    again = resolve_initializer(init.spec)
    assert again == init and again.spec == init.spec
    assert init.name in INIT_NAMES


@SETTINGS
@given(text=spec_texts() | valid_looking_specs("activation"))
def test_resolve_activation_round_trips_or_fails_cleanly(text: str) -> None:
    try:
        activation = resolve_activation(text)
    except InitcliError as err:
        assert_clean(err, EXIT_BAD_USAGE)
        return
    assert resolve_activation(activation.spec) == activation
    z = np.linspace(-4.0, 4.0, 9, dtype=np.float32)
    assert activation.forward(z).dtype == np.float32
    assert np.isfinite(activation.derivative(z)).all()


@settings(SETTINGS, max_examples=150)
@given(text=valid_looking_specs("init"), dims=st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_resolved_initializers_sample_or_refuse_the_shape_cleanly(
    text: str, dims: list[int]
) -> None:
    """Past the parser: a valid SPEC on any small shape draws a tensor or refuses the shape."""
    try:
        init = resolve_initializer(text)
        values = init.sample(tuple(dims), np.random.default_rng(0), "torch", np.float64)
    except InitcliError as err:
        assert_clean(err, EXIT_BAD_USAGE)
        return
    assert values.shape == tuple(dims) and values.dtype == np.float64


# --- shape strings --------------------------------------------------------------------------

size_pieces = st.one_of(
    st.integers(1, 10**4).map(str),
    st.sampled_from(["0", "-1", "x", "3.5", "1e3", "", " ", "٣", "+4", "00"]),
    junk,
)


@st.composite
def shape_texts(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(size_pieces, max_size=7))
    separator = draw(st.sampled_from([",", ", ", "x", " x ", "X", " ", "×", ";", ",,"]))
    text = separator.join(pieces)
    brackets = draw(st.sampled_from(["", "()", "[]", "(]", "(,)"]))
    if brackets:
        text = brackets[0] + text + brackets[1:]
    return text


@SETTINGS
@given(text=shape_texts() | st.text(max_size=12))
def test_parse_shape_returns_positive_sizes_or_a_clean_error(text: str) -> None:
    try:
        dims = parse_shape(text, "--shape")
    except InitcliError as err:
        assert_clean(err, EXIT_BAD_USAGE)
        assert err.message.startswith(f"--shape {text!r}")
        return
    assert dims and all(isinstance(n, int) and n >= 1 for n in dims)
    for spelled in (
        ",".join(map(str, dims)),
        "x".join(map(str, dims)),
        f"({', '.join(map(str, dims))})",
    ):
        assert parse_shape(spelled) == dims


# --- configs through the real CLI -----------------------------------------------------------

# The shipped configs with every size >= 32 cut to 8, so a run that survives is quick.
SHIPPED = {
    path.name: re.sub(r"\b(\d{3,}|[4-9]\d|3[2-9])\b", "8", path.read_text(encoding="utf-8"))
    for path in sorted(CONFIGS.glob("*.yaml"))
}
SPLICES = ["", ":", "- ", "{", "}", "]", "[", "0", "-1", "2.5", "'", "\t", "\n", "causal", "x"]


@st.composite
def damaged_configs(draw: st.DrawFn) -> str:
    """A shipped config with a few slices cut out or punctuation/numbers spliced in."""
    text = SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))]
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(text)))
        stop = draw(st.integers(start, min(len(text), start + 6)))
        text = text[:start] + draw(st.sampled_from(SPLICES)) + text[stop:]
    return text


@settings(
    SETTINGS,
    max_examples=40,
    # capsys is drained before each example; tmp directories are made per example.
    suppress_health_check=[*SETTINGS.suppress_health_check, HealthCheck.function_scoped_fixture],
)
@given(text=damaged_configs())
def test_damaged_configs_run_or_fail_in_one_line_writing_nothing(
    text: str, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    config, out = base / "net.yaml", base / "out"
    config.write_text(text, encoding="utf-8")
    capsys.readouterr()
    # --batch 1 --no-grad --no-plots --json keeps a run that survives the damage quick.
    args = ["--batch", "1", "--no-grad", "--no-plots", "--json", "--out", str(out)]
    code = main(["run", str(config), *args])
    captured = capsys.readouterr()
    err = captured.err
    if code == 0:
        (run_dir,) = out.iterdir()
        assert json.loads((run_dir / "stats.json").read_text()) == json.loads(captured.out)
        return
    assert code == EXIT_BAD_DATA, err
    assert len(err.splitlines()) == 1 and err.startswith("initcli: error: "), err
    assert re.match(rf"initcli: error: {re.escape(str(config))}(:\d+)?", err), err
    assert not out.exists()
