"""avgpool2d, maxpool2d, global_avgpool: shapes, forward and backward against PyTorch and
central finite differences (float64), ties, errors, theory refusal, a run through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from initcli.errors import InitcliError
from initcli.network import build_network
from initcli.spec import load_spec_text
from tests.layer_helpers import finite_difference, output, params_for, run, single

# (input (C, H, W), kernel, stride (None: the default), padding)
GEOMETRY = [
    ((2, 6, 6), 2, None, 0),
    ((2, 7, 5), 2, None, 0),  # floor mode drops the last row
    ((2, 7, 7), 3, 2, 1),  # overlapping windows with padding
    ((1, 5, 6), (3, 2), (1, 2), (1, 0)),
    ((3, 4, 4), 4, 1, 0),  # one window covering the input
]


def _yaml(value: object) -> str:
    return str(list(value)) if isinstance(value, tuple) else str(value)


def _layer_text(kind: str, kernel: object, stride: object, padding: object) -> str:
    text = f"{{type: {kind}, kernel_size: {_yaml(kernel)}, padding: {_yaml(padding)}"
    return text + (f", stride: {_yaml(stride)}}}" if stride is not None else "}")


def _torch_pool(kind: str, kernel: object, stride: object, padding: object) -> torch.nn.Module:
    cls = torch.nn.AvgPool2d if kind == "avgpool2d" else torch.nn.MaxPool2d
    return cls(kernel, stride=stride, padding=padding)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["avgpool2d", "maxpool2d"])
@pytest.mark.parametrize(("shape", "kernel", "stride", "padding"), GEOMETRY)
def test_matches_pytorch_forward_and_backward(
    kind: str, shape: tuple[int, ...], kernel: object, stride: object, padding: object
) -> None:
    net, layer = single(list(shape), _layer_text(kind, kernel, stride, padding))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, *shape))
    module = _torch_pool(kind, kernel, stride, padding)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = module(tx)
    assert tuple(ty.shape[1:]) == layer.out_shape
    grad = rng.normal(size=tuple(ty.shape))
    ty.backward(torch.from_numpy(grad))
    result = run(layer, params_for(net), x, grad)
    assert result["steps"] == []  # pooling is no row of the statistics
    np.testing.assert_allclose(result["out"], ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(result["grad_x"], tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    numeric = finite_difference(lambda v: output(layer, params_for(net), v), x.copy(), grad)
    np.testing.assert_allclose(result["grad_x"], numeric, rtol=1e-6, atol=1e-8)


def test_maxpool_ties_send_the_gradient_to_the_first_maximum_as_pytorch() -> None:
    net, layer = single([1, 4, 4], "{type: maxpool2d, kernel_size: 2}")
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 2:, 2:] = 5.0  # a window of four equal maxima
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = 1.0  # two equal maxima, first is (0, 1) in row-major order
    grad = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    result = run(layer, params_for(net), x, grad)
    tx = torch.from_numpy(x).requires_grad_(True)
    torch.nn.MaxPool2d(2)(tx).backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(result["grad_x"], tx.grad.numpy())
    assert result["grad_x"][0, 0, 0, 1] == 1 and result["grad_x"][0, 0, 1, 0] == 0
    assert result["grad_x"][0, 0, 2, 2] == 4 and result["grad_x"][0, 0, 3, 3] == 0
    assert result["grad_x"][0, 0, 0, 2] == 2  # an all-zero window: its first element


@pytest.mark.parametrize("shape", [[3, 7], [2, 5, 4]])
def test_global_avgpool_is_adaptive_avg_pool_then_flatten(shape: list[int]) -> None:
    net, layer = single(shape, "{type: global_avgpool}")
    assert layer.out_shape == (shape[0],)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, *shape))
    grad = rng.normal(size=(4, shape[0]))
    pool = torch.nn.AdaptiveAvgPool1d(1) if len(shape) == 2 else torch.nn.AdaptiveAvgPool2d(1)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = torch.flatten(pool(tx), 1)
    ty.backward(torch.from_numpy(grad))
    result = run(layer, params_for(net), x, grad)
    np.testing.assert_allclose(result["out"], ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(result["grad_x"], tx.grad.numpy(), rtol=1e-12)


def test_float32_stays_float32() -> None:
    for text in ("{type: avgpool2d, kernel_size: 2}", "{type: maxpool2d, kernel_size: 2}"):
        net, layer = single([2, 4, 4], text)
        x = np.random.default_rng(0).normal(size=(2, 2, 4, 4)).astype(np.float32)
        result = run(layer, params_for(net, np.float32), x, np.ones((2, 2, 2, 2), np.float32))
        assert result["out"].dtype == np.float32 and result["grad_x"].dtype == np.float32


def _build(layers: str, shape: str = "[2, 5, 5]") -> None:
    text = f"input: {{shape: {shape}}}\nlayers:\n{layers}"
    build_network(load_spec_text(text, "p.yaml", "p"))


CONV = "  - {type: conv2d, filters: 2, kernel_size: 1}\n"


@pytest.mark.parametrize(
    ("layers", "shape", "message"),
    [
        (
            CONV + "  - {type: maxpool2d, kernel_size: 6}\n",
            "[2, 5, 5]",
            "p.yaml:4: layers[1].kernel_size: maxpool2d2: kernel_size 6x6 is larger than the "
            "input (2, 5, 5) from conv2d1",
        ),
        (
            CONV + "  - {type: avgpool2d, kernel_size: 2}\n",
            "[2, 1, 5]",
            "kernel_size 2x2 is larger than the input (2, 1, 5)",
        ),
        (
            "  - {type: dense, units: 4}\n  - {type: avgpool2d, kernel_size: 2}\n",
            "[8]",
            "p.yaml:4: layers[1]: avgpool2d2: avgpool2d needs input (channels, height, width) "
            "but dense1 gives (4)",
        ),
        (
            "  - {type: global_avgpool}\n",
            "[8]",
            "global_avgpool needs input (channels, length) or (channels, height, width)",
        ),
        (CONV + "  - {type: avgpool2d}\n", "[2, 5, 5]", "layers[1].kernel_size: missing"),
        (CONV + "  - {type: maxpool2d, kernel_size: 0}\n", "[2, 5, 5]", "must be an integer >= 1"),
        (CONV + "  - {type: maxpool2d, kernel: 2}\n", "[2, 5, 5]", "did you mean kernel_size?"),
        (
            CONV + "  - {type: maxpool2d, kernel_size: 2, padding: 2}\n",
            "[2, 5, 5]",
            "layers[1].padding: maxpool2d2: padding 2x2 is more than half of kernel_size",
        ),
        (
            CONV + "  - {type: avgpool2d, kernel_size: 2, filters: 3}\n",
            "[2, 5, 5]",
            "avgpool2d takes only type, name, kernel_size, stride, padding",
        ),
    ],
)
def test_bad_pooling_is_a_one_line_error(layers: str, shape: str, message: str) -> None:
    with pytest.raises(InitcliError) as err:
        _build(layers, shape)
    assert message in err.value.message
    assert "\n" not in err.value.message


def test_memory_counts_maxpool_indices_and_nothing_for_avgpool() -> None:
    _, maxpool = single([2, 6, 6], "{type: maxpool2d, kernel_size: 2}")
    _, avgpool = single([2, 6, 6], "{type: avgpool2d, kernel_size: 2}")
    assert maxpool.saved_elements(5) == 5 * 2 * 3 * 3
    assert avgpool.saved_elements(5) == 0
    assert maxpool.transient_bytes(5, 4, 0) > 0


CONFIG = """\
name: pooled
input: {shape: [3, 12, 12]}
layers:
  - {type: conv2d, filters: 8, kernel_size: 3, padding: same}
  - {type: batchnorm, activation: relu}
  - {type: maxpool2d, kernel_size: 2}
  - {type: conv2d, filters: 8, kernel_size: 3, activation: relu}
  - {type: avgpool2d, kernel_size: 2}
  - {type: global_avgpool}
  - {type: dense, units: 10}
"""


def test_cli_run_with_pooling_writes_valid_json_and_says_why_no_theory(cli, tmp_path: Path) -> None:
    config = tmp_path / "pooled.yaml"
    config.write_text(CONFIG)
    result = cli("run", str(config), "--batch", "8", "--json", "--out", str(tmp_path / "o"))
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [row["name"] for row in data["layers"]] == ["conv2d1", "batchnorm2", "conv2d4", "dense7"]
    (note,) = [n for n in data["summary"]["notes"] if "no mean-field" in n]
    assert "maxpool2d3" in note and "correlation" in note
    assert all(row["theory_preact_var"] is None for row in data["layers"])
    table = cli("run", str(config), "--batch", "8", "--out", str(tmp_path / "t"))
    assert table.code == 0 and "batchnorm2" in table.out
