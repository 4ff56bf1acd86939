"""Reliability (issue 6): every bad input is one clean line, numbers stay honest, and an
interrupted run never leaves half a file.

Bad inputs run through the real CLI (``initcli.cli.main`` in-process, and a few as real
processes). Each refusal must: exit 1 (bad data: configs, resources) or 2 (bad usage:
flags, SPEC strings, shapes), print exactly one line on stderr and nothing on stdout, name
the bad value and where it came from, show no traceback, and write nothing. The library-level
table of bad YAML is tests/test_spec.py; here each YAML family is checked once end to end.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from initcli.errors import EXIT_BAD_DATA, EXIT_BAD_USAGE, InitcliError
from initcli.experiment import dense_stack_spec
from initcli.moments import moments
from initcli.network import build_network
from initcli.network_spec import load_spec
from initcli.outputs import ensure_directory, write_text, write_with
from initcli.propagate import BackwardStep, propagate, sample_input, sample_parameters
from initcli.stats import StatsCollector, summarize

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
MLP = str(CONFIGS / "mlp_relu.yaml")
CNN = CONFIGS / "cnn_relu.yaml"
TINY = "name: tiny\ninput: {shape: [8]}\nbatch: 4\nlayers: [{type: dense, units: 8, repeat: 2}]\n"
CHILD_ENV = {**os.environ, "NO_COLOR": "1", "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}


def assert_refused(
    result: object, code: int, needles: Sequence[str], untouched: Sequence[Path] = ()
) -> str:
    """The one-line refusal every bad input must get; returns the message."""
    got_code, out, err = result.code, result.out, result.err  # type: ignore[attr-defined]
    assert got_code == code, (got_code, err)
    assert out == "", out
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("initcli: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    for path in untouched:
        assert not path.exists(), f"{path} was written by a refused command"
    return lines[0]


# --- YAML configs through `initcli run` --------------------------------------------------------

OK_INPUT = "input: {shape: [16]}\n"
IMAGE = "input: {shape: [3, 8, 8]}\nlayers:\n"


def yaml_case(case: str, text: str, where: str, *needles: str) -> object:
    """``where`` is what follows the file name: ``:LINE: KEY`` or ``:LINE:COLUMN:``."""
    return pytest.param(text, where, needles, id=case)


YAML_CASES = [
    yaml_case("syntax", OK_INPUT + "layers:\n  - {type: dense, units: 3\n", ":4:1:",
              "YAML syntax error", "close every {"),
    yaml_case("syntax-colon", OK_INPUT + "layers: a: b\n", ":2:10:", "YAML syntax error"),
    yaml_case("unknown-key", OK_INPUT + "layer: []\n", ":2: layer:", "did you mean layers?"),
    yaml_case("unknown-layer-key", OK_INPUT + "layers: [{type: dense, unit: 3}]\n",
              ":2: layers[0].unit:", "did you mean units?"),
    yaml_case("wrong-type", OK_INPUT + "layers: [{type: dense, units: '64'}]\n",
              ":2: layers[0].units:", "'64'", "remove the quotes"),
    yaml_case("wrong-type-shape", "input: {shape: 512}\nlayers: []\n", ":1: input.shape:",
              "the integer 512"),
    yaml_case("missing-layers", OK_INPUT + "batch: 4\n", ":1: layers:", "missing"),
    yaml_case("empty-stack", OK_INPUT + "layers: []\n", ":2: layers:", "empty"),
    yaml_case("zero-units", OK_INPUT + "layers: [{type: dense, units: 0}]\n",
              ":2: layers[0].units:", "got 0", ">= 1"),
    yaml_case("negative-filters", IMAGE + "  - {type: conv2d, filters: -4, kernel_size: 3}\n",
              ":3: layers[0].filters:", "-4"),
    yaml_case("zero-input-size", "input: {shape: [3, 0]}\nlayers: [{type: flatten}]\n",
              ":1: input.shape[1]:", "got 0"),
    yaml_case("non-integer-units", OK_INPUT + "layers: [{type: dense, units: 64.5}]\n",
              ":2: layers[0].units:", "64.5", "whole number"),
    yaml_case("kernel-larger-than-padded-input",
              IMAGE + "  - {type: conv2d, filters: 4, kernel_size: 11, padding: 1}\n",
              ":3: layers[0]:", "11x11", "padded to 10x10", "smaller kernel_size"),
    yaml_case("dilated-kernel-larger-than-input",
              "input: {shape: [3, 8]}\nlayers:\n  - {type: conv1d, filters: 4, kernel_size: 3, "
              "dilation: 5}\n", ":3: layers[0]:", "spans 11", "padded to 8"),
    yaml_case("causal-conv2d",
              IMAGE + "  - {type: conv2d, filters: 4, kernel_size: 3, padding: causal}\n",
              ":3: layers[0].padding:", "conv1d only"),
    yaml_case("dense-after-conv-without-flatten",
              IMAGE + "  - {type: conv2d, filters: 4, kernel_size: 3}\n"
              "  - {type: dense, units: 4}\n", ":4: layers[1]:", "flatten", "(4, 6, 6)"),
    yaml_case("repeat-zero", OK_INPUT + "layers: [{type: dense, units: 3, repeat: 0}]\n",
              ":2: layers[0].repeat:", "got 0"),
    yaml_case("unknown-activation", OK_INPUT + "layers: [{type: dense, units: 3, "
              "activation: relux}]\n", ":2: layers[0].activation:", "did you mean relu?"),
    yaml_case("unknown-init", OK_INPUT + "init: he_normall\nlayers: [{type: dense, units: 3}]\n",
              ":2: init:", "'he_normall'", "did you mean he_normal?"),
    yaml_case("init-out-of-range", OK_INPUT + "layers: [{type: dense, units: 3, "
              "init: 'orthogonal(gain=0)'}]\n", ":2: layers[0].init:", "gain=0", "(0.0, inf)"),
    yaml_case("init-unbalanced", OK_INPUT + "bias_init: 'constant(value=1'\n"
              "layers: [{type: dense, units: 3}]\n", ":2: bias_init:", "unbalanced"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "where", "needles"), YAML_CASES)
def test_bad_config_is_refused_by_run(
    cli: Callable[..., object], tmp_path: Path, text: str, where: str, needles: tuple[str, ...]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = cli("run", str(config), "--out", str(out))
    message = assert_refused(result, EXIT_BAD_DATA, needles, untouched=[out])
    assert message.startswith(f"initcli: error: {config}{where}"), message


def test_missing_config_and_directory_are_refused_by_run(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "mlp_rleu.yaml"
    (tmp_path / "mlp_relu.yaml").write_text(OK_INPUT + "layers: [{type: dense, units: 3}]\n")
    message = assert_refused(
        cli("run", str(missing), "--out", str(out)), EXIT_BAD_DATA, [str(missing), "not found"]
    )
    assert f"did you mean {tmp_path / 'mlp_relu.yaml'}?" in message
    assert_refused(
        cli("run", str(CONFIGS), "--out", str(out)),
        EXIT_BAD_DATA,
        [str(CONFIGS), "is a directory", ".yaml"],
        untouched=[out],
    )


# --- SPEC strings on every command that takes one ----------------------------------------------

INIT_SITES = {  # command line with the initializer SPEC in place of "{}"
    "run --init": ("run", MLP, "--init", "{}", "--no-plots"),
    "run --bias-init": ("run", MLP, "--bias-init", "{}", "--no-plots"),
    "sample SPEC": ("sample", "{}", "--shape", "8,4"),
    "compare SPECS": ("compare", "he_normal", "{}", "--depth", "2", "--width", "4"),
    "theory --init": ("theory", "--activation", "tanh", "--init", "{}"),
}
ACTIVATION_SITES = {
    "theory --activation": ("theory", "--activation", "{}"),
    "compare --activation": ("compare", "he_normal", "glorot_uniform", "--activation", "{}"),
    "gain ACTIVATION": ("gain", "{}"),
    "recommend --activation": ("recommend", "--activation", "{}", "--no-check"),
}
BAD_INITS = {
    "unknown": ("he_normall", ["'he_normall'", "did you mean he_normal?"]),
    "unknown-param": ("random_normal(stdd=0.1)", ["'stdd'", "did you mean std?"]),
    "negative-std": ("random_normal(std=-1)", ["std=-1", "out of range", "[0.0, inf)"]),
    "sparsity-one": ("sparse(sparsity=1.0)", ["sparsity=1.0", "[0.0, 1.0)"]),
    "sparsity-negative": ("torch.sparse(sparsity=-0.1)", ["sparsity=-0.1", "[0.0, 1.0)"]),
    "gain-zero": ("orthogonal(gain=0)", ["gain=0", "(0.0, inf)"]),
    "gain-negative": ("xavier_uniform(gain=-1)", ["gain=-1", "(0.0, inf)"]),
    "unclosed": ("he_normal(mode=fan_in", ["'he_normal(mode=fan_in'", "unbalanced"]),
    "extra-close": ("orthogonal(gain=1))", ["'orthogonal(gain=1))'", "unbalanced"]),
}
BAD_ACTIVATIONS = {
    "unknown": ("relux", ["'relux'", "did you mean relu?"]),
    "unknown-param": ("leaky_relu(slope=0.2)", ["'slope'", "negative_slope"]),
    "negative-alpha": ("elu(alpha=-1)", ["alpha=-1", "[0.0, inf)"]),
    "beta-zero": ("softplus(beta=0)", ["beta=0", "(0.0, inf)"]),
    "bad-choice": ("gelu(approximate=sigmoid)", ["approximate=sigmoid", "none, tanh"]),
    "unclosed": ("leaky_relu(negative_slope=0.2", ["unbalanced"]),
}
SPEC_CASES = [
    pytest.param(site, spec, needles, id=f"{site}-{kind}")
    for sites, bad in ((INIT_SITES, BAD_INITS), (ACTIVATION_SITES, BAD_ACTIVATIONS))
    for site in sites
    for kind, (spec, needles) in bad.items()
]


def command(site: str, spec: str, out: Path) -> list[str]:
    args = [spec if part == "{}" else part for part in {**INIT_SITES, **ACTIVATION_SITES}[site]]
    if args[0] in ("run", "compare"):
        args += ["--out", str(out)]
    if args[0] == "sample":
        args += ["--save", str(out / "w.npy"), "--plot", str(out / "w.png")]
    return args


@pytest.mark.parametrize(("site", "spec", "needles"), SPEC_CASES)
def test_bad_spec_is_refused_by_every_command(
    cli: Callable[..., object], tmp_path: Path, site: str, spec: str, needles: list[str]
) -> None:
    out = tmp_path / "out"
    assert_refused(cli(*command(site, spec, out)), EXIT_BAD_USAGE, needles, untouched=[out])


@pytest.mark.parametrize(
    "site",
    [site for site in (*INIT_SITES, *ACTIVATION_SITES) if " --" in site],
)
def test_a_bad_spec_from_an_option_names_the_option(
    cli: Callable[..., object], tmp_path: Path, site: str
) -> None:
    spec = "he_normall" if site in INIT_SITES else "relux"
    flag = site.split()[1]
    message = assert_refused(cli(*command(site, spec, tmp_path)), EXIT_BAD_USAGE, [spec])
    assert f"{flag}" in message, message


# --- shapes ------------------------------------------------------------------------------------

SHAPE_CASES = [
    ("64,x,7", ["'x'", "not a positive integer"]),
    ("0,3", ["size 0", "at least 1"]),
    ("-1", ["'-1'"]),
    ("", ["is empty"]),
    ("3.5,2", ["'3.5'"]),
    ("64,,7", ["empty size"]),
]


@pytest.mark.parametrize("verb", ["fans", "sample"])
@pytest.mark.parametrize(
    ("shape", "needles"), SHAPE_CASES, ids=[c[0] or "empty" for c in SHAPE_CASES]
)
def test_bad_shape_is_refused(
    cli: Callable[..., object], tmp_path: Path, verb: str, shape: str, needles: list[str]
) -> None:
    args = ["fans"] if verb == "fans" else ["sample", "he_normal", "--save", str(tmp_path / "w")]
    result = cli(*args, "--shape", shape)
    assert_refused(result, EXIT_BAD_USAGE, [f"--shape {shape!r}", *needles], [tmp_path / "w"])


def test_rank_above_five_follows_the_frameworks(cli: Callable[..., object], tmp_path: Path) -> None:
    """fans: PyTorch and Keras compute fans for any rank >= 2, so initcli does too. Sampling
    refuses exactly where the framework does: torch.nn.init.dirac_ and JAX delta_orthogonal
    take 3-5 dims, keras Identity only 2."""
    fans = cli("fans", "--shape", "2,3,4,5,6,7", "--json")
    assert fans.code == 0 and fans.err == ""  # type: ignore[attr-defined]
    data = json.loads(fans.out)  # type: ignore[attr-defined]
    assert (data["fan_in"], data["fan_out"]) == (3 * 4 * 5 * 6 * 7, 2 * 4 * 5 * 6 * 7)
    save = tmp_path / "w.npy"
    for spec, needles in (
        ("torch.dirac", ["3-, 4- or 5-D", "rank 6"]),
        ("jax.delta_orthogonal", ["3-, 4- or 5-D", "rank 6"]),
        ("keras.identity", ["2-D", "rank 6"]),
    ):
        result = cli("sample", spec, "--shape", "4,4,3,3,3,3", "--save", str(save))
        assert_refused(result, EXIT_BAD_USAGE, [spec, *needles], untouched=[save])
    drawn = cli("sample", "torch.orthogonal", "--shape", "4,4,3,3,3,3", "--json")
    assert drawn.code == 0  # type: ignore[attr-defined]


def test_a_huge_size_is_a_clean_error(cli: Callable[..., object]) -> None:
    assert_refused(cli("fans", "--shape", "9" * 5000), EXIT_BAD_USAGE, ["--shape"])


# --- resources ---------------------------------------------------------------------------------


def test_memory_estimate_above_the_limit_is_refused_before_allocating(
    cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # float64 mlp_tanh: 20 MiB of weights fit in 80% of 40 MiB; the batch's tensors do not.
    monkeypatch.setenv("INITCLI_MEMORY_LIMIT", str(40 << 20))
    out = tmp_path / "out"
    assert_refused(
        cli("run", str(CONFIGS / "mlp_tanh.yaml"), "--dtype", "float64", "--out", str(out)),
        EXIT_BAD_DATA,
        ["needs about", "40.0 MiB is available", "--batch", "--no-grad", "--dtype float32"],
        untouched=[out],
    )
    monkeypatch.setenv("INITCLI_MEMORY_LIMIT", str(12 << 20))  # 8 x 512^2 float32 weights fit
    assert_refused(
        cli("compare", "he_normal", "glorot_uniform", "--depth", "8", "--out", str(out)),
        EXIT_BAD_DATA,
        ["needs about", "--batch (now 256)"],
        untouched=[out],
    )


@pytest.mark.parametrize("limit", ["lots", "-5"])
def test_a_bad_memory_limit_variable_is_a_clean_error(
    cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    monkeypatch.setenv("INITCLI_MEMORY_LIMIT", limit)
    result = cli("run", MLP, "--batch", "2", "--no-plots", "--out", str(tmp_path / "out"))
    assert_refused(result, EXIT_BAD_USAGE, ["INITCLI_MEMORY_LIMIT", limit])


def test_output_under_a_regular_file_is_refused(cli: Callable[..., object], tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a directory\n")
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    for args, needles in (
        (("run", str(tiny), "--out", str(blocker)), [repr(str(blocker)), "is a file", "--out"]),
        (("run", str(tiny), "--out", str(blocker / "sub")), [repr(str(blocker)), "--out"]),
        (
            ("compare", "he_normal", "glorot_uniform", "--depth", "2", "--width", "4", "--out",
             str(blocker / "plots")),
            [repr(str(blocker)), "is a file", "--out"],
        ),
        (("sample", "he_normal", "--shape", "4,4", "--save", str(blocker / "w.npy")), [
            "--save", str(blocker / "w.npy")]),
        (("sample", "he_normal", "--shape", "4,4", "--plot", str(blocker / "w.png")), [
            "--plot", str(blocker / "w.png")]),
    ):  # fmt: skip
        assert_refused(cli(*args), EXIT_BAD_DATA, needles)
    assert blocker.read_text() == "a file, not a directory\n"


def test_an_output_name_taken_by_a_directory_is_refused(
    cli: Callable[..., object], tmp_path: Path
) -> None:
    """With --force the files of the run directory are replaced; one that is a directory
    cannot be, and the run says so instead of a traceback."""
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    run_dir = tmp_path / "tiny_glorot_uniform_seed0"
    (run_dir / "stats.json").mkdir(parents=True)
    result = cli("run", str(tiny), "--no-plots", "--force", "--out", str(tmp_path))
    assert_refused(result, EXIT_BAD_DATA, [str(run_dir / "stats.json"), "Is a directory"])
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_output_directory_is_refused(cli: Callable[..., object], tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        result = cli("run", MLP, "--batch", "2", "--no-plots", "--out", str(tmp_path / "out"))
    finally:
        tmp_path.chmod(0o700)
    assert_refused(result, EXIT_BAD_DATA, [str(tmp_path / "out"), "--out"])


@pytest.mark.parametrize("verb", ["run", "compare"])
def test_a_negative_seed_is_a_usage_error(
    cli: Callable[..., object], tmp_path: Path, verb: str
) -> None:
    args = (MLP,) if verb == "run" else ("he_normal", "xavier", "--depth", "2", "--width", "4")
    result = cli(verb, *args, "--seed", "-1", "--no-plots", "--out", str(tmp_path / "o"))
    assert_refused(result, EXIT_BAD_USAGE, ["--seed"])


# --- as a real process: what a user's terminal shows -------------------------------------------


def test_real_processes_print_one_line_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(OK_INPUT + "layers:\n  - {type: dense, units: 3\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    cases = [
        (["run", str(bad), "--out", str(tmp_path / "o1")], 1, f"{bad}:4:1:"),
        (["run", MLP, "--init", "he_normal(", "--out", str(tmp_path / "o2")], 2, "unbalanced"),
        (["fans", "--shape", "64,x,7"], 2, "'x'"),
        (["run", str(tiny), "--no-plots", "--out", str(blocker)], 1, "is a file"),
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "initcli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=CHILD_ENV,
        )
        for args, _, _ in cases
    ]
    for process, (args, code, needle) in zip(processes, cases, strict=True):
        out, err = process.communicate(timeout=120)
        assert process.returncode == code, (args, err)
        assert out == "" and "Traceback" not in err, (args, err)
        assert err.count("\n") == 1 and err.startswith("initcli: error: ") and needle in err
    assert not any((tmp_path / name).exists() for name in ("o1", "o2"))


# --- numbers that stay honest ------------------------------------------------------------------


def test_variance_survives_a_large_mean_for_float32_arrays() -> None:
    """Sigmoid-like activations (mean 0.5, std 1e-3) and a large offset: accumulated in
    float32, E[x^2] - E[x]^2 loses the variance; moments() must match a float64 copy to the
    2e-6 its per-row single-precision sums of shifted values carry (initcli.moments)."""
    rng = np.random.default_rng(0)
    n = 3 * 65536 + 17  # several chunks and a ragged tail: exercises the pairwise merge
    for offset, spread in ((0.5, 1e-3), (1e4, 1.0)):
        x = (offset + spread * rng.standard_normal(n)).astype(np.float32)
        exact = x.astype(np.float64)
        expected_var = float(np.var(exact))
        naive32 = float(np.mean(x * x, dtype=np.float32) - np.mean(x, dtype=np.float32) ** 2)
        assert abs(naive32 - expected_var) > 0.01 * expected_var  # float32 would be wrong
        got = moments(x)
        assert got.var == pytest.approx(expected_var, rel=2e-6)
        assert got.mean == pytest.approx(float(np.mean(exact)), abs=2e-6 * spread)
        assert got.finite and got.count == n
    near_max = np.full(4096, 3e38, dtype=np.float32)  # its float32 sum overflows to inf
    with np.errstate(over="ignore"):
        assert np.isinf(np.sum(near_max, dtype=np.float32))
    huge = moments(near_max)
    assert huge.finite and huge.var == 0.0
    assert huge.mean == pytest.approx(float(np.float32(3e38)), rel=1e-12)


def _subnormal_count(array: np.ndarray) -> int:
    tiny = np.finfo(array.dtype).tiny
    return int(np.count_nonzero((array != 0) & (np.abs(array) < tiny)))


def test_deep_sigmoid_stack_underflows_honestly() -> None:
    """200 sigmoid layers in float32 (the issue's slow-run scenario), Glorot uniform.

    Forward: sigmoid's mean 1/2 keeps every activation normal (no subnormals at all).
    Backward: sigmoid' <= 1/4 shrinks dL/dz by ~4x per layer; it crosses float32's
    subnormal range (1.2e-38 down to 1.4e-45) in a band of layers and is exactly 0 below
    it. The band is short (subnormal arithmetic is slow on some CPUs, so it bounds the cost),
    and the statistics report the float32 values as they are: finite, >= 0, exactly 0 where
    float32 underflowed, never NaN, and the verdict says vanishing, not exploded.

    Note (measured, AMD EPYC, one BLAS thread, width 128, batch 64): forward + backward of
    200 layers takes 0.11 s for tanh and for sigmoid alike, and flushing |dL/dz| < tiny to 0
    gains nothing (+6% for the extra pass) while changing ~25 layers' reported variance to 0;
    so initcli does not flush. On a CPU with denormal penalties, scale the backward gradient
    by powers of two instead (exact) rather than flush. Width 64 and batch 32 here keep each
    GEMM under OpenBLAS's threading threshold: threaded BLAS on a loaded 2-core machine made
    the same run 10-20x slower, which is the real "crawl" risk, not subnormals.
    """
    depth, width, batch = 200, 64, 32
    spec = dense_stack_spec(depth=depth, width=width, activation="sigmoid", batch=batch)
    network = build_network(spec, init="glorot_uniform")
    rng = np.random.default_rng(0)  # the draws in run_experiment's order
    params = sample_parameters(network, rng, np.float32)
    inputs = sample_input(network.input_shape, batch, "normal", rng, np.float32)
    output_grad = rng.standard_normal((batch, width), dtype=np.float32)
    collector = StatsCollector(keep_samples=False)
    forward_subnormals = 0
    band: dict[int, tuple[int, int]] = {}  # layer -> (subnormals, zeros) of dL/dz
    for step in propagate(network, params, inputs, output_grad):
        if isinstance(step, BackwardStep):
            grad = step.grad_preact
            band[step.layer.index] = (_subnormal_count(grad), int(np.count_nonzero(grad == 0)))
        else:
            forward_subnormals += _subnormal_count(step.preact) + _subnormal_count(step.act)
        collector.add(step)
    assert forward_subnormals == 0
    with_subnormals = [index for index, (count, _) in band.items() if count]
    all_zero = [index for index, (_, zeros) in band.items() if zeros == batch * width]
    assert with_subnormals and all_zero  # the gradient does underflow in float32
    # One underflow front: normal above the band, subnormals in it, zeros below it.
    assert max(all_zero) < min(with_subnormals) <= max(with_subnormals) <= depth
    assert len(with_subnormals) <= 0.15 * depth

    layers = collector.finish()
    grads = [layer.grad_var for layer in layers if layer.grad_var is not None]
    assert len(grads) == depth and all(np.isfinite(g) and g >= 0 for g in grads)
    assert grads[0] == 0.0 and grads[-1] > 0.01  # float32 underflow, reported as is
    assert all(layer.finite for layer in layers)
    summary = summarize(layers, moments(inputs).var, moments(output_grad).var)
    assert summary.backward is not None and summary.backward.verdict == "vanishing"
    assert summary.backward.first_nonfinite_layer is None
    assert "exploded" not in summary.backward.message


# --- outputs: atomic writes --------------------------------------------------------------------


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_an_interrupted_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = write_text(tmp_path / "stats.json", '{"previous": true}\n')

    def half_then_ctrl_c(handle: io.BufferedWriter) -> None:
        handle.write(b'{"new": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_with(target, half_then_ctrl_c)  # type: ignore[arg-type]
    assert target.read_text() == '{"previous": true}\n'
    assert _leftovers(tmp_path) == []


def test_a_failing_disk_is_one_clean_error(tmp_path: Path) -> None:
    target = write_text(tmp_path / "stats.csv", "index\n1\n")

    def disk_full(handle: io.BufferedWriter) -> None:
        handle.write(b"index\n")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(InitcliError) as info:
        write_with(target, disk_full)  # type: ignore[arg-type]
    assert info.value.exit_code == EXIT_BAD_DATA
    assert str(target) in info.value.message and "No space left" in info.value.message
    assert "free some space" in info.value.message
    assert target.read_text() == "index\n1\n" and _leftovers(tmp_path) == []


def test_numpys_short_write_on_a_full_disk_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ndarray.tofile (np.save) raises OSError('262144 requested and 19424 written'), no errno."""
    import shutil

    def short_write(handle: io.BufferedWriter) -> None:
        raise OSError("262144 requested and 19424 written")

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=4096))
    with pytest.raises(InitcliError) as info:
        write_with(tmp_path / "big.npy", short_write)  # type: ignore[arg-type]
    message = info.value.message
    assert "no space left on device (262144 requested and 19424 written)" in message
    assert "free some space" in message and _leftovers(tmp_path) == []


def test_ensure_directory_names_the_file_in_the_way(tmp_path: Path) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("")
    with pytest.raises(InitcliError) as info:
        ensure_directory(blocker / "a" / "b")
    message = info.value.message
    assert info.value.exit_code == EXIT_BAD_DATA
    assert message.startswith(f"output directory {str(blocker)!r} exists and is a file")
    assert repr(str(blocker / "a" / "b")) in message and "--out" in message
    assert ensure_directory(tmp_path / "new" / "dir").is_dir()


def test_sigkill_mid_write_leaves_the_previous_file(tmp_path: Path) -> None:
    """No code runs on SIGKILL, so the hidden temporary file stays; the real name still holds
    the previous complete file (the documented guarantee: previous file or none)."""
    target = write_text(tmp_path / "stats.json", '{"previous": true}\n')
    child = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from initcli.outputs import write_with\n"
        "def half(handle):\n"
        "    handle.write(b'{\"new\": ')\n"
        "    handle.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "write_with(Path(sys.argv[1]), half)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child, str(target)], env=CHILD_ENV, capture_output=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL
    assert target.read_text() == '{"previous": true}\n'
    (leftover,) = _leftovers(tmp_path)
    assert leftover.startswith(".stats.json.") and (tmp_path / leftover).read_bytes() == b'{"new": '


# --- killing a real run mid-write --------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def png_is_complete(data: bytes) -> bool:
    """Every chunk whole with a correct CRC, the last one IEND."""
    if not data.startswith(PNG_SIGNATURE):
        return False
    at = len(PNG_SIGNATURE)
    while at + 12 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            return False
        crc = int.from_bytes(data[end - 4 : end], "big")
        if zlib.crc32(data[at + 4 : end - 4]) != crc:
            return False
        if kind == b"IEND":
            return end == len(data)
        at = end
    return False


def assert_complete(path: Path, layers: int, previous: dict[str, bytes]) -> None:
    data = path.read_bytes()
    if previous.get(path.name) == data:
        return  # the previous run's complete file, untouched
    if path.suffix == ".png":
        assert png_is_complete(data), f"{path.name} is not a complete PNG"
    elif path.name == "stats.json":
        assert len(json.loads(data)["layers"]) == layers
    elif path.name == "stats.csv":
        rows = list(csv.reader(io.StringIO(data.decode())))
        assert len(rows) == layers + 1 and len({len(row) for row in rows}) == 1, path.name
    else:
        raise AssertionError(f"unexpected file {path.name}")


def test_killing_a_run_mid_write_leaves_no_partial_file(tmp_path: Path) -> None:
    """``initcli run configs/cnn_relu.yaml`` (5 files), interrupted at three moments: SIGKILL as
    soon as its staged directory appears (while stats.json is written), SIGKILL while the
    first PNG is written to replace a previous run's files (--force), and SIGINT (Ctrl-C) at
    the same moment.

    Signals are sent on events seen by polling the directory, not after fixed delays, so each
    one lands mid-write however loaded the machine is. The run directory is assembled under a
    hidden name and moved into place at the end (initcli.outputs.StagedDirectory), so
    afterwards the run directory is absent, or the previous run's, untouched; SIGINT removes
    the staged directory and exits 130; after SIGKILL a hidden ``.NAME.*.partial`` may remain
    beside it (nothing runs on SIGKILL), holding only complete files or ``.*.tmp`` ones.
    """
    layers = len(build_network(load_spec(CNN)).reporting_layers())
    run_name = "cnn_relu_he_normal_seed0"
    previous = {
        "stats.json": b'{"previous": true}\n',
        "variance_by_layer.png": PNG_SIGNATURE + b"not really, but the previous bytes",
    }
    forced = tmp_path / "forced" / run_name
    forced.mkdir(parents=True)
    for name, data in previous.items():
        (forced / name).write_bytes(data)

    def writing_png(out: Path) -> bool:  # a hidden .NAME.png.XXXX.tmp exists
        return any(".png." in p.name for p in out.rglob(".*.tmp"))

    def started(out: Path) -> bool:
        return any(p.name.endswith(".partial") for p in out.iterdir()) if out.exists() else False

    cases = {  # out directory -> (signal, trigger, extra arguments)
        "early": (signal.SIGKILL, started, ()),
        "forced": (signal.SIGKILL, writing_png, ("--force",)),
        "ctrl-c": (signal.SIGINT, writing_png, ()),
    }
    processes = {}
    for name, (_, _, extra) in cases.items():
        args = ["run", str(CNN), "--batch", "2", "--out", str(tmp_path / name), *extra]
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "initcli", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=CHILD_ENV,
            # A shell's background job (`pytest &`) inherits SIGINT ignored, and Python then
            # installs no KeyboardInterrupt handler; a terminal's Ctrl-C always has it.
            preexec_fn=_default_sigint,
        )
    fired: set[str] = set()
    deadline = time.monotonic() + 120
    while len(fired) < len(cases) and time.monotonic() < deadline:
        for name, (sig, trigger, _) in cases.items():
            process = processes[name]
            if name not in fired and process.poll() is None and trigger(tmp_path / name):
                process.send_signal(sig)
                fired.add(name)
        if all(p.poll() is not None for p in processes.values()):
            break
        time.sleep(0.002)
    errors = {name: process.communicate(timeout=120)[1] for name, process in processes.items()}
    assert fired == set(cases), f"signals sent only for {fired}: {errors}"

    for name, (sig, _, _) in cases.items():
        out = tmp_path / name
        listing = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
        context = f"case {name}: exit {processes[name].returncode}, files {listing}, stderr "
        context += repr(errors[name][-500:])
        assert "Traceback" not in errors[name], context
        expected_code = 130 if sig == signal.SIGINT else -signal.SIGKILL
        assert processes[name].returncode == expected_code, context
        for entry in out.iterdir():
            if entry.name == run_name:  # only the previous run's, as it was
                assert name == "forced", context
                assert {p.name: p.read_bytes() for p in entry.iterdir()} == previous, context
                continue
            assert sig == signal.SIGKILL, context  # SIGINT removes its staged directory
            assert entry.name.startswith(f".{run_name}.") and entry.name.endswith(".partial")
            for path in entry.iterdir():
                if not (path.name.startswith(".") and path.name.endswith(".tmp")):
                    assert_complete(path, layers, {})
    assert (forced / "stats.json").read_bytes() == previous["stats.json"]
