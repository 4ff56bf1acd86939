"""batchnorm, layernorm, rmsnorm: backward against central finite differences (float64) and
the PyTorch modules in training mode; spec errors; rows; theory against measurement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from initcli.errors import InitcliError
from initcli.experiment import RunOptions, run_experiment
from initcli.layers.base import BackwardStep, ForwardStep
from initcli.network_spec import load_spec_text
from initcli.network_theory import predict_network
from initcli.propagate import estimate_memory
from tests.layer_helpers import drive, finite_difference, output, params_for, run, single

SHAPES = [[6], [3, 5], [2, 3, 4]]
KINDS = ["batchnorm", "layernorm", "rmsnorm"]


def _torch_module(kind: str, shape: list[int], eps: float) -> torch.nn.Module:
    if kind == "batchnorm":
        cls = torch.nn.BatchNorm2d if len(shape) == 3 else torch.nn.BatchNorm1d
        return cls(shape[0], eps=eps).double().train()
    if kind == "layernorm":
        return torch.nn.LayerNorm(shape, eps=eps).double()
    return torch.nn.RMSNorm(shape, eps=eps).double()


def _random_affine(net, layer, rng):
    """gamma and beta away from 1 and 0, so their roles in the backward are tested."""
    shapes = layer.parameter_shapes()
    values = {
        name: rng.normal(1.0 if name == "weight" else 0.0, 0.5, s) for name, s in shapes.items()
    }
    return params_for(net, **values), values


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "activation",
    ["linear", "tanh", "relu", "leaky_relu(negative_slope=0.2)", "leaky_relu(negative_slope=-0.5)"],
)
def test_backward_matches_finite_differences(kind: str, shape: list[int], activation: str) -> None:
    rng = np.random.default_rng(1)
    net, layer = single(shape, f"{{type: {kind}, activation: {activation}, eps: 1e-3}}")
    params, values = _random_affine(net, layer, rng)
    x = rng.normal(0.3, 2.0, (4, *shape))
    grad = rng.normal(size=(4, *shape))
    result = run(layer, params, x, grad)
    numeric = finite_difference(lambda v: output(layer, params, v), x.copy(), grad)
    np.testing.assert_allclose(result["grad_x"], numeric, rtol=1e-6, atol=1e-8)
    (back,) = [s for s in result["steps"] if isinstance(s, BackwardStep)]
    for name, got in (("weight", back.grad_weight), ("bias", back.grad_bias)):
        if name not in values:
            assert got is None
            continue

        def with_param(v, name=name):
            return output(layer, params_for(net, **{**values, name: v}), x)

        expected = finite_difference(with_param, values[name].copy(), grad)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_backward_match_pytorch_in_training_mode(kind: str, shape: list[int]) -> None:
    rng = np.random.default_rng(2)
    eps = 1e-5
    net, layer = single(shape, f"{{type: {kind}}}")
    params, values = _random_affine(net, layer, rng)
    x = rng.normal(0.5, 1.5, (8, *shape))
    grad = rng.normal(size=(8, *shape))
    result = run(layer, params, x, grad)

    module = _torch_module(kind, shape, eps)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(values["weight"]))
        if "bias" in values:
            module.bias.copy_(torch.from_numpy(values["bias"]))
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = module(tx)
    ty.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(result["out"], ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result["grad_x"], tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    (back,) = [s for s in result["steps"] if isinstance(s, BackwardStep)]
    np.testing.assert_allclose(back.grad_weight, module.weight.grad.numpy(), rtol=1e-9)
    if "bias" in values:
        np.testing.assert_allclose(back.grad_bias, module.bias.grad.numpy(), rtol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_matches_float64_and_keeps_its_dtype(kind: str) -> None:
    net, layer = single([16, 5], f"{{type: {kind}, activation: relu}}")
    x = np.random.default_rng(3).normal(2.0, 3.0, (4, 16, 5))
    grad = np.random.default_rng(4).normal(size=x.shape)
    wide = run(layer, params_for(net), x, grad)
    narrow = run(layer, params_for(net, np.float32), x.astype(np.float32), grad.astype(np.float32))
    assert narrow["out"].dtype == np.float32 and narrow["grad_x"].dtype == np.float32
    np.testing.assert_allclose(narrow["out"], wide["out"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(narrow["grad_x"], wide["grad_x"], rtol=1e-3, atol=1e-5)


def test_steps_report_input_normalized_output_and_affine_parameters() -> None:
    net, layer = single([4, 6], "{type: batchnorm, activation: relu}")
    x = np.random.default_rng(5).normal(3.0, 2.0, (5, 4, 6))
    result = run(layer, params_for(net), x, np.ones_like(x))
    forward, backward = result["steps"]
    assert isinstance(forward, ForwardStep) and isinstance(backward, BackwardStep)
    assert forward.inputs is x
    np.testing.assert_allclose(forward.preact.mean(axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(forward.preact.var(axis=(0, 2)), 1, rtol=1e-4)
    np.testing.assert_array_equal(forward.act, np.maximum(forward.preact, 0))
    np.testing.assert_array_equal(forward.weight, np.ones(4))
    np.testing.assert_array_equal(forward.bias, np.zeros(4))
    assert backward.grad_weight.shape == (4,) and backward.grad_bias.shape == (4,)
    info = layer.row_info()
    assert (info.weight_shape, info.fan_in, info.fan_out) == ((4,), None, None)
    assert (info.init, info.bias_init, info.activation.spec) == ("ones", "zeros", "relu")
    _, rms = single([4, 6], "{type: rmsnorm}")
    assert rms.parameter_shapes() == {"weight": (4, 6)} and rms.row_info().bias_init is None


def test_parameters_are_constants_and_draw_nothing() -> None:
    net, _ = single([8], "{type: layernorm}")
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    from initcli.propagate import sample_parameters

    params = sample_parameters(net, rng, np.float32)
    assert rng.bit_generator.state == before
    (own,) = params.by_layer.values()
    assert own["weight"].dtype == np.float32 and (own["weight"] == 1).all()
    assert (own["bias"] == 0).all()


SPEC = (
    "input: {{shape: {shape}}}\nbatch: {batch}\nlayers:\n"
    "  - {{type: dense, units: 4}}\n  - {layer}\n"
)


def _load(layer: str, shape: str = "[8]", batch: int = 4) -> None:
    from initcli.network import build_network

    build_network(load_spec_text(SPEC.format(shape=shape, batch=batch, layer=layer), "n.yaml", "n"))


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("{type: batchnorm, eps: 0}", "n.yaml:5: layers[1].eps: got 0, must be > 0"),
        ("{type: layernorm, eps: -1e-5}", "n.yaml:5: layers[1].eps: got -1e-05, must be > 0"),
        ("{type: rmsnorm, eps: small}", "n.yaml:5: layers[1].eps: expected a number"),
        ("{type: batchnorm, esp: 1e-5}", "did you mean eps?"),
        ("{type: layernorm, init: ones}", "layernorm has no initializer"),
        ("{type: batchnorm, units: 4}", "keeps its input's shape"),
        ("{type: rmsnorm, bias: false}", "rmsnorm has no bias"),
        ("{type: batchnorm, activation: rleu}", "n.yaml:5: layers[1].activation"),
    ],
)
def test_bad_keys_are_one_line_errors_naming_file_line_and_key(layer: str, message: str) -> None:
    with pytest.raises(InitcliError) as err:
        _load(layer)
    assert message in err.value.message
    assert "\n" not in err.value.message


def test_layernorm_over_one_value_is_refused() -> None:
    from initcli.network import build_network

    text = "input: {shape: [8]}\nlayers:\n  - {type: dense, units: 1}\n  - {type: layernorm}\n"
    with pytest.raises(InitcliError, match=r"n\.yaml:4: layers\[1\]: layernorm2: .*one value"):
        build_network(load_spec_text(text, "n.yaml", "n"))


def test_batchnorm_with_batch_one_on_a_flat_input_is_refused_at_run_time(cli, tmp_path) -> None:
    config = tmp_path / "bn.yaml"
    config.write_text(SPEC.format(shape="[8]", batch=4, layer="{type: batchnorm}"))
    out = tmp_path / "out"
    result = cli("run", str(config), "--batch", "1", "--out", str(out))
    assert result.code == 1
    assert "layers[1]: batchnorm2: " in result.err and "--batch >= 2" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not out.exists()
    # batch 1 is fine where each channel has several positions (as BatchNorm2d allows)
    config.write_text(
        "input: {shape: [2, 4, 4]}\nlayers:\n  - {type: conv2d, filters: 3, kernel_size: 3}\n"
        "  - {type: batchnorm}\n"
    )
    assert cli("run", str(config), "--batch", "1", "--json", "--out", str(out)).code == 0


CONFIG = """\
name: norms
input: {shape: [64]}
batch: 512
layers:
  - {type: dense, units: 256, init: he_normal}
  - {type: batchnorm, activation: relu}
  - {type: dense, units: 256, activation: relu, init: he_normal}
  - {type: layernorm, eps: 1e-5}
  - {type: dense, units: 256, init: he_normal}
  - {type: rmsnorm, activation: tanh}
  - {type: dense, units: 10}
"""


def test_cli_run_renders_norm_rows_and_valid_json(cli, tmp_path: Path) -> None:
    config = tmp_path / "norms.yaml"
    config.write_text(CONFIG)
    table = cli("run", str(config), "--batch", "64", "--out", str(tmp_path / "a"))
    assert table.code == 0, table.err
    assert "batchnorm2" in table.out and "ones" in table.out
    result = cli("run", str(config), "--batch", "64", "--json", "--out", str(tmp_path / "b"))
    data = json.loads(result.out)
    rows = {row["name"]: row for row in data["layers"]}
    assert [row["type"] for row in data["layers"]] == [
        "dense", "batchnorm", "dense", "layernorm", "dense", "rmsnorm", "dense"
    ]  # fmt: skip
    bn = rows["batchnorm2"]
    assert bn["fan_in"] is None and bn["fan_out"] is None and bn["weight_shape"] == [256]
    assert bn["init"] == "ones" and bn["bias_init"] == "zeros" and bn["activation"] == "relu"
    assert bn["weight_var"] == 0 and bn["weight_grad_var"] > 0 and bn["bias_grad_var"] > 0
    assert rows["rmsnorm6"]["bias_init"] is None and rows["rmsnorm6"]["bias_grad_var"] is None
    assert abs(bn["preact_var"] - 1) < 1e-3 and abs(rows["layernorm4"]["preact_var"] - 1) < 1e-3
    assert rows["dense1"]["bias_grad_var"] < 1e-12  # batchnorm removes every constant shift
    # norm rows report the Var of their input too (the row before's output here)
    assert bn["input_var"] == pytest.approx(rows["dense1"]["act_var"], rel=1e-9)
    assert rows["layernorm4"]["input_var"] == pytest.approx(rows["dense3"]["act_var"], rel=1e-9)
    assert rows["dense3"]["input_var"] is None


def test_theory_matches_measurement() -> None:
    spec = load_spec_text(CONFIG, "t.yaml", "t")
    result = run_experiment(spec, RunOptions(seed=0, dtype="float64", keep_samples=False))
    assert not [n for n in result.summary.notes if "no mean-field" in n]
    for row in result.layers:
        assert row.theory_preact_var is not None and row.theory_grad_var is not None
        assert row.theory_preact_var == pytest.approx(row.preact_var, rel=0.08), row.name
        assert row.theory_grad_var == pytest.approx(row.grad_var, rel=0.15), row.name


def test_theory_of_a_norm_includes_eps_exactly() -> None:
    text = (
        "input: {shape: [32]}\nlayers:\n  - {type: dense, units: 32}\n"
        "  - {type: rmsnorm, eps: 0.5}\n"
    )
    from initcli.network import build_network

    net = build_network(load_spec_text(text, "t.yaml", "t"))
    dense, norm = predict_network(net)
    q = dense.preact_var  # dense output second moment (zero mean)
    assert norm.preact_var == pytest.approx(q / (q + 0.5), rel=1e-12)
    n = 32
    r = q / (q + 0.5)
    expected_grad_into_dense = norm.grad_var / (q + 0.5) * (1 - (2 - r) * r / n)
    assert dense.grad_var == pytest.approx(expected_grad_into_dense, rel=1e-12)


def test_norm_activation_on_a_non_gaussian_input_has_no_prediction() -> None:
    text = (
        "input: {shape: [32]}\nlayers:\n  - {type: dense, units: 32, activation: relu}\n"
        "  - {type: layernorm, activation: tanh}\n"
    )
    spec = load_spec_text(text, "t.yaml", "t")
    result = run_experiment(spec, RunOptions(seed=0, keep_samples=False))
    (note,) = [n for n in result.summary.notes if "no mean-field" in n]
    assert "layernorm2: activation tanh" in note and "linear layer's output" in note


@pytest.mark.parametrize(
    ("layer", "kept"),
    [
        ("{type: batchnorm}", 3 * 144 + 4),  # xhat, 1/sigma per channel
        ("{type: batchnorm, activation: relu}", 2 * 3 * 144 + 4),  # and phi'(z)
        ("{type: layernorm}", 3 * 144 + 3),  # 1/sigma per example
        ("{type: rmsnorm, activation: tanh}", 2 * 3 * 144 + 3),
    ],
)
def test_memory_estimate_counts_what_backward_keeps(layer: str, kept: int) -> None:
    from initcli.network import build_network

    base = "input: {shape: [3, 8, 8]}\nlayers:\n  - {type: conv2d, filters: 4, kernel_size: 3}\n"
    plain = build_network(load_spec_text(base, "t.yaml", "t"))
    net = build_network(load_spec_text(base + f"  - {layer}\n", "t.yaml", "t"))
    assert net.layers[1].saved_elements(3) == kept
    extra = estimate_memory(net, 3, 4, True) - estimate_memory(plain, 3, 4, True)
    assert extra >= (kept + net.layers[1].parameter_count()) * 4  # kept tensors, gamma, beta


@pytest.mark.parametrize(
    "layer",
    [
        *(f"{{type: {kind}, activation: {a}}}" for kind in KINDS for a in ("relu", "tanh")),
        "{type: dense, units: 6, activation: relu}",
        "{type: dense, units: 6, activation: tanh}",
    ],
)
def test_backward_writes_dl_dz_into_the_gradient_it_is_given(layer: str) -> None:
    """Layer.backward owns its gradient: dL/dz takes dL/dphi's buffer, so no tensor of the
    layer's size is allocated for it (the values are checked against finite differences
    and PyTorch above)."""
    net, built = single([3, 6], layer)
    params = params_for(net)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 6))
    grad = rng.standard_normal((4, *built.out_shape))
    (_, saved), _ = drive(built.forward(x, params, True))
    given = grad.copy()
    _, steps = drive(built.backward(given, params, saved, True))
    (step,) = [s for s in steps if isinstance(s, BackwardStep)]
    assert np.shares_memory(step.grad_preact, given)
