"""`initcli run`: propagation, statistics and the known results of the initialization papers.

Tolerances come from sampling error. Given layer l's activations, each of the n units of
layer l+1 is an independent draw over its weight row, so Var z_{l+1} (a mean over n units)
has relative standard deviation sqrt(k / n) per layer, with k = Var[relu(g)^2] / E[relu(g)^2]^2
= 5 for relu (g Gaussian; k = 2 for a linear unit). That bound treats the batch's examples as
perfectly correlated, so it is an upper bound for the batch mean. Every per-layer check below
allows 5 of those standard deviations.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from initcli.experiment import RunOptions, dense_stack_spec, run_experiment
from initcli.network_spec import load_spec

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

CONTRACT_LAYER_KEYS = {
    "index",
    "name",
    "type",
    "activation",
    "weight_shape",
    "fan_in",
    "fan_out",
    "init",
    "weight_var",
    "preact_var",
    "act_mean",
    "act_var",
    "grad_var",
    "weight_grad_var",
}


def relative_tolerance(width: int, kurtosis_factor: float = 5.0, sigmas: float = 5.0) -> float:
    return sigmas * math.sqrt(kurtosis_factor / width)


@pytest.mark.slow
def test_he_keeps_relu_preactivation_variance() -> None:
    """He et al. 2015: Var(W) = 2 / fan_in keeps Var z constant through relu layers."""
    width = 2048
    spec = dense_stack_spec(depth=8, width=width, activation="relu", batch=256)
    result = run_experiment(spec, RunOptions(seed=1, init="he_normal", keep_samples=False))
    tolerance = relative_tolerance(width)
    input_second_moment = result.input_var + result.input_mean**2
    assert result.layers[0].preact_var == pytest.approx(2.0 * input_second_moment, rel=tolerance)
    for layer in result.layers[1:]:
        assert layer.preact_ratio == pytest.approx(1.0, rel=tolerance), layer
    assert result.summary.forward.verdict == "stable"


@pytest.mark.slow
def test_glorot_halves_relu_preactivation_variance_per_layer() -> None:
    """With equal widths Glorot gives Var(W) = 1 / n: relu keeps half of E[z^2] per layer."""
    width = 2048
    spec = dense_stack_spec(depth=8, width=width, activation="relu", batch=256)
    result = run_experiment(spec, RunOptions(seed=2, init="glorot_normal", keep_samples=False))
    tolerance = relative_tolerance(width)
    for layer in result.layers[1:]:
        assert layer.preact_ratio == pytest.approx(0.5, rel=tolerance), layer
    assert result.summary.forward.verdict == "vanishing"
    assert result.summary.forward.factor_per_layer == pytest.approx(0.5, rel=0.1)


def test_orthogonal_linear_network_preserves_norms_exactly() -> None:
    """Saxe et al. 2014: square orthogonal W preserves every example's norm (float64 exact)."""
    spec = dense_stack_spec(depth=12, width=128, activation="linear", batch=64)
    result = run_experiment(
        spec, RunOptions(seed=3, init="orthogonal", dtype="float64", keep_samples=False)
    )
    second_moment_in = result.input_var + result.input_mean**2
    for layer in result.layers:
        second_moment = layer.preact_var + layer.preact_mean**2
        assert second_moment == pytest.approx(second_moment_in, rel=1e-10)
        assert layer.grad_var is not None


@pytest.mark.slow
def test_measured_matches_mean_field_theory_on_a_wide_tanh_net() -> None:
    width = 2048
    spec = dense_stack_spec(depth=6, width=width, activation="tanh", batch=256)
    result = run_experiment(spec, RunOptions(seed=4, init="glorot_normal", keep_samples=False))
    for layer in result.layers:
        # Errors compound over layers: allow sqrt(index) per-layer standard deviations.
        tolerance = relative_tolerance(width, kurtosis_factor=3.0) * math.sqrt(layer.index)
        assert layer.preact_var == pytest.approx(layer.theory_preact_var, rel=tolerance)
        assert layer.grad_var == pytest.approx(layer.theory_grad_var, rel=tolerance)


def test_weight_gradient_is_the_product_of_input_and_backward_gradient() -> None:
    """dL/dW = sum over the batch of dL/dz x^T: check one dense layer against numpy."""
    spec = dense_stack_spec(depth=3, width=64, activation="tanh", batch=32)
    result = run_experiment(spec, RunOptions(seed=5, dtype="float64", keep_samples=False))
    for layer in result.layers:
        assert layer.theory_weight_grad_var is not None
        assert layer.weight_grad_var == pytest.approx(layer.theory_weight_grad_var, rel=0.6)


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, cli: object) -> None:
    config = str(CONFIGS / "mlp_relu.yaml")
    outputs = []
    for seed, out in (("7", "a"), ("7", "b"), ("8", "c")):
        code = cli(  # type: ignore[operator]
            "run",
            config,
            "--seed",
            seed,
            "--batch",
            "32",
            "--no-plots",
            "--out",
            str(tmp_path / out),
        ).code
        assert code == 0
        (run_dir,) = (tmp_path / out).iterdir()
        outputs.append((run_dir / "stats.json").read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_json_contract_and_files(tmp_path: Path, cli: object) -> None:
    result = cli(  # type: ignore[operator]
        "run", str(CONFIGS / "cnn_relu.yaml"), "--batch", "8", "--json", "--out", str(tmp_path)
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert {"config", "init", "seed", "batch", "layers", "summary"} <= set(data)
    assert data["batch"] == 8
    for layer in data["layers"]:
        assert set(layer) >= CONTRACT_LAYER_KEYS
    (run_dir,) = tmp_path.iterdir()
    names = {path.name for path in run_dir.iterdir()}
    assert {"stats.json", "stats.csv", "variance_by_layer.png"} <= names
    assert "activation_histograms.png" in names and "gradient_histograms.png" in names
    assert json.loads((run_dir / "stats.json").read_text()) == data
    header = (run_dir / "stats.csv").read_text().splitlines()[0].split(",")
    assert set(header) >= CONTRACT_LAYER_KEYS


def test_a_second_run_never_overwrites_the_first(tmp_path: Path, cli: object) -> None:
    args = ("run", str(CONFIGS / "mlp_relu.yaml"), "--batch", "8", "--no-plots")
    for _ in range(2):
        assert cli(*args, "--out", str(tmp_path)).code == 0  # type: ignore[operator]
    assert len(list(tmp_path.iterdir())) == 2
    assert cli(*args, "--out", str(tmp_path), "--force").code == 0  # type: ignore[operator]
    assert len(list(tmp_path.iterdir())) == 2


def test_force_replaces_the_previous_runs_files_and_keeps_the_users(
    tmp_path: Path, cli: object
) -> None:
    args = ("run", str(CONFIGS / "preln_mlp.yaml"), "--batch", "8", "--out", str(tmp_path))
    assert cli(*args).code == 0  # type: ignore[operator]
    (directory,) = tmp_path.iterdir()
    first = {path.name for path in directory.iterdir()}
    from initcli.commands.run import RUN_FILES

    assert first == RUN_FILES  # a residual run with plots writes every name RUN_FILES knows
    (directory / "my_notes.txt").write_text("mine")
    result = cli(*args, "--no-plots", "--force")  # type: ignore[operator]
    assert result.code == 0, result.err
    assert [path.name for path in tmp_path.iterdir()] == [directory.name]
    names = {path.name for path in directory.iterdir()}
    assert names == {"stats.json", "stats.csv", "blocks.csv", "my_notes.txt"}
    assert json.loads((directory / "stats.json").read_text())["batch"] == 8


def test_a_run_that_fails_while_writing_leaves_no_directory(
    tmp_path: Path, cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from initcli import plots
    from initcli.errors import InitcliError

    def full_disk(data: object, directory: Path, side_by_side: bool = False) -> list[Path]:
        raise InitcliError(f"cannot write {str(directory / 'variance_by_layer.png')!r}: full")

    monkeypatch.setattr(plots, "save_run_plots", full_disk)
    result = cli(  # type: ignore[operator]
        "run", str(CONFIGS / "mlp_relu.yaml"), "--batch", "8", "--out", str(tmp_path)
    )
    assert result.code == 1
    expected = str(tmp_path / "mlp_relu_he_normal_seed0" / "variance_by_layer.png")
    assert repr(expected) in result.err  # named where the user will look, not the staging
    assert list(tmp_path.iterdir()) == []  # no half-written run, no staging directory left


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_runs(config: Path, tmp_path: Path) -> None:
    spec = load_spec(config)
    result = run_experiment(spec, RunOptions(seed=0, batch=4, keep_samples=False))
    assert result.layers and all(layer.finite for layer in result.layers)
    assert result.summary.backward is not None


def test_a_figure_left_out_is_named_with_the_reason(tmp_path: Path, cli: object) -> None:
    config = tmp_path / "wild.yaml"
    config.write_text(
        "name: wild\ninput: {shape: [64]}\nbatch: 16\ninit: random_normal(std=10.0)\n"
        "layers:\n  - {type: dense, units: 64, activation: linear, repeat: 40}\n"
    )
    result = cli("run", str(config), "--out", str(tmp_path / "out"))  # type: ignore[operator]
    assert result.code == 0, result.err
    # float32 overflows near layer 20 forward, so no dL/dz anywhere is finite
    assert "not drawn: gradient_histograms.png (no layer has a finite value)" in result.out
    (directory,) = (tmp_path / "out").iterdir()
    assert not (directory / "gradient_histograms.png").exists()
    assert (directory / "activation_histograms.png").exists()


def test_overflow_is_reported_at_its_layer_and_the_run_finishes(cli: object) -> None:
    spec = dense_stack_spec(depth=40, width=64, activation="linear", batch=16)
    result = run_experiment(
        spec, RunOptions(seed=0, init="random_normal(std=10.0)", keep_samples=False)
    )
    forward = result.summary.forward
    assert forward.verdict == "exploding"
    assert forward.first_nonfinite_layer is not None
    assert f"exploded at layer {forward.first_nonfinite_layer}" in forward.message
    # The std of z grows x sqrt(64 * 10^2) = 80 per layer, so float32 (max 3.4e38) overflows
    # at the first layer with 80^l > 3.4e38, give or take one layer of sampling luck.
    expected = math.ceil(math.log(np.finfo(np.float32).max) / math.log(80.0))
    assert abs(forward.first_nonfinite_layer - expected) <= 1
    assert not result.layers[forward.first_nonfinite_layer - 1].finite
    before = result.layers[forward.first_nonfinite_layer - 2]
    assert math.isfinite(before.preact_var) and math.isfinite(before.act_var)
    assert not before.finite  # its backward gradient comes through the overflowed layer


def test_bad_inputs_fail_in_one_line_and_write_nothing(tmp_path: Path, cli: object) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: {shape: [8]}\nlayers:\n  - {type: dense, units: 0}\n")
    out = tmp_path / "out"
    cases = [
        (("run", str(bad)), 1, "bad.yaml:3"),
        (("run", str(tmp_path / "missing.yaml")), 1, "missing.yaml"),
        (("run", str(CONFIGS / "mlp_relu.yaml"), "--init", "he_normall"), 2, "he_normal"),
        (("run", str(CONFIGS / "mlp_relu.yaml"), "--dtype", "float16"), 2, "float16"),
        (("run", str(CONFIGS / "mlp_relu.yaml"), "--batch", "0"), 2, "--batch"),
    ]
    for args, code, needle in cases:
        result = cli(*args, "--out", str(out))  # type: ignore[operator]
        assert result.code == code, (args, result.err)
        assert needle in result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert "Traceback" not in result.err
    assert not out.exists()


def test_memory_estimate_refuses_a_run_that_cannot_fit(
    cli: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # mlp_tanh: 10 MiB of weights fit in 80% of 20 MiB; its activations for backward do not.
    monkeypatch.setenv("INITCLI_MEMORY_LIMIT", str(20 << 20))
    result = cli(  # type: ignore[operator]
        "run", str(CONFIGS / "mlp_tanh.yaml"), "--out", str(tmp_path / "out")
    )
    assert result.code == 1
    assert "--batch" in result.err and "--no-grad" in result.err
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv("INITCLI_MEMORY_LIMIT", str(4 << 20))  # now the weights do not fit
    result = cli(  # type: ignore[operator]
        "run", str(CONFIGS / "mlp_tanh.yaml"), "--out", str(tmp_path / "out")
    )
    assert result.code == 1 and "weights alone need 10.0 MiB" in result.err


def test_a_reader_that_leaves_early_still_gets_every_figure(tmp_path: Path) -> None:
    """The tables print while the helper draws: `initcli run ... | head` must not cut the
    figures off when the pipe breaks."""
    import subprocess
    import sys

    out = tmp_path / "out"
    args = ["run", str(CONFIGS / "mlp_tanh.yaml"), "--out", str(out)]
    code = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-m', 'initcli', *{args!r}],"
        " stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "child.stdout.close()\n"
        "err = child.stderr.read(); sys.exit(child.wait() * 10 + (1 if err else 0))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=CONFIGS.parent, check=False)
    assert done.returncode == 0
    (directory,) = out.iterdir()
    assert sorted(p.name for p in directory.iterdir()) == [
        "activation_histograms.png", "gradient_histograms.png", "stats.csv", "stats.json",
        "variance_by_layer.png",
    ]  # fmt: skip
