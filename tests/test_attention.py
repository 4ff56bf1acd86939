"""Sequence layers: attention, embedding, positional embedding and dense on a sequence,
checked against PyTorch (float64) and central finite differences; their bad inputs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from initcli.errors import InitcliError
from initcli.layers.base import BackwardStep, ForwardStep, Layer
from initcli.network import Network, build_network
from initcli.network_spec import load_spec_text
from initcli.propagate import Parameters, propagate, sample_input, sample_parameters
from initcli.stats import StatsCollector
from tests.layer_helpers import drive


def network(text: str) -> Network:
    return build_network(load_spec_text(text, "t.yaml", "t"))


def attention_net(
    tokens: int = 6,
    features: int = 8,
    heads: int = 2,
    causal: bool = False,
    extra: str = "",
) -> Network:
    return network(
        f"input: {{shape: [{tokens}, {features}]}}\n"
        "layers:\n"
        f"  - {{type: attention, heads: {heads}, causal: {str(causal).lower()}, "
        f"init: random_normal(std=0.4), bias_init: random_normal(std=0.1){extra}}}\n"
    )


def setup(net: Network, batch: int = 3, seed: int = 0) -> tuple[Parameters, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = sample_parameters(net, rng, np.float64)
    x = rng.standard_normal((batch, *net.input_shape))
    return params, x


def forward_backward(
    layer: Layer, params: Parameters, x: np.ndarray, grad: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    (out, saved), forward_steps = drive(layer.forward(x, params, True))
    grad_x, backward_steps = drive(layer.backward(grad.copy(), params, saved, True))
    return out, grad_x, forward_steps + backward_steps


def torch_mha(net: Network, params: Parameters) -> torch.nn.MultiheadAttention:
    layer = net.layers[0]
    q, k, v, o = (params.of(p) for p in layer.children())
    features = layer.in_shape[1]
    mha = torch.nn.MultiheadAttention(
        features, layer.heads, bias=True, batch_first=True, dtype=torch.float64
    )
    with torch.no_grad():
        mha.in_proj_weight.copy_(
            torch.from_numpy(np.concatenate([q["weight"], k["weight"], v["weight"]]))
        )
        mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate([q["bias"], k["bias"], v["bias"]])))
        mha.out_proj.weight.copy_(torch.from_numpy(o["weight"]))
        mha.out_proj.bias.copy_(torch.from_numpy(o["bias"]))
    return mha


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_torch_multihead_attention(causal: bool) -> None:
    net = attention_net(causal=causal)
    params, x = setup(net)
    grad = np.random.default_rng(5).standard_normal(x.shape)
    out, grad_x, steps = forward_backward(net.layers[0], params, x, grad)
    mha = torch_mha(net, params)
    xt = torch.from_numpy(x).requires_grad_(True)
    mask = torch.triu(torch.ones(6, 6, dtype=torch.bool), 1) if causal else None
    yt, weights = mha(xt, xt, xt, attn_mask=mask, need_weights=True, average_attn_weights=False)
    yt.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    back = {s.layer.name.split(".")[-1]: s for s in steps if isinstance(s, BackwardStep)}
    in_grad = mha.in_proj_weight.grad.numpy()
    in_bias = mha.in_proj_bias.grad.numpy()
    for position, part in enumerate("qkv"):
        rows = slice(8 * position, 8 * (position + 1))
        np.testing.assert_allclose(back[part].grad_weight, in_grad[rows], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(back[part].grad_bias, in_bias[rows], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(back["o"].grad_weight, mha.out_proj.weight.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(back["o"].grad_bias, mha.out_proj.bias.grad.numpy(), rtol=1e-9)
    # the statistics: entropy and max probability from torch's attention weights
    probs = weights.detach().numpy()  # (B, H, T, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(probs > 0, probs * np.log(probs), 0).sum(-1).mean(axis=(0, 2))
    extra = next(s.extra for s in steps if isinstance(s, ForwardStep) and s.extra)
    np.testing.assert_allclose(extra["attn_entropy"], entropy, rtol=1e-10)
    np.testing.assert_allclose(extra["attn_max_prob"], probs.max(-1).mean(axis=(0, 2)), rtol=1e-10)
    visible = np.arange(1, 7) if causal else np.full(6, 6)
    assert extra["attn_entropy_uniform"] == pytest.approx(np.mean(np.log(visible)))


@pytest.mark.parametrize("scale", ["1/head_dim", "0.7"])
def test_attention_matches_scaled_dot_product_attention(scale: str) -> None:
    net = attention_net(heads=2, causal=True, extra=f", logit_scale: {scale}")
    layer = net.layers[0]
    params, x = setup(net)
    grad = np.random.default_rng(1).standard_normal(x.shape)
    out, grad_x, _ = forward_backward(layer, params, x, grad)
    q, k, v, o = (params.of(p) for p in layer.children())
    xt = torch.from_numpy(x).requires_grad_(True)

    def proj(p: dict[str, np.ndarray]) -> torch.Tensor:
        z = xt @ torch.from_numpy(p["weight"]).T + torch.from_numpy(p["bias"])
        return z.reshape(3, 6, 2, 4).transpose(1, 2)

    value = 1 / 4 if scale == "1/head_dim" else 0.7
    attended = F.scaled_dot_product_attention(
        proj(q), proj(k), proj(v), is_causal=True, scale=value
    )
    yt = attended.transpose(1, 2).reshape(3, 6, 8) @ torch.from_numpy(o["weight"]).T
    yt = yt + torch.from_numpy(o["bias"])
    yt.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert layer.logit_scale == pytest.approx(value)


def test_attention_backward_matches_central_differences() -> None:
    net = attention_net(tokens=4, features=6, heads=3, causal=True)
    layer = net.layers[0]
    params, x = setup(net, batch=2)
    grad = np.random.default_rng(2).standard_normal(x.shape)
    _, grad_x, steps = forward_backward(layer, params, x, grad)

    def loss() -> float:
        (y, _), _ = drive(layer.forward(x, params, False))
        return float(np.sum(y * grad))

    eps = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = loss()
        x[index] = saved - eps
        minus = loss()
        x[index] = saved
        numeric[index] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(grad_x, numeric, rtol=1e-6, atol=1e-8)
    back = {s.layer.name: s for s in steps if isinstance(s, BackwardStep)}
    for part in ("q", "k", "v", "o"):
        weight = params.of(next(p for p in layer.children() if p.name.endswith(part)))["weight"]
        numeric_w = np.zeros_like(weight)
        for index in np.ndindex(weight.shape):
            saved = weight[index]
            weight[index] = saved + eps
            plus = loss()
            weight[index] = saved - eps
            minus = loss()
            weight[index] = saved
            numeric_w[index] = (plus - minus) / (2 * eps)
        got = back[f"{layer.name}.{part}"].grad_weight
        np.testing.assert_allclose(got, numeric_w, rtol=1e-6, atol=1e-8)


def test_causal_mask_sends_no_gradient_from_future_to_past() -> None:
    net = attention_net(tokens=7, causal=True)
    layer = net.layers[0]
    params, x = setup(net)
    for t in range(7):
        grad = np.zeros_like(x)
        grad[:, t] = np.random.default_rng(t).standard_normal(grad[:, t].shape)
        _, grad_x, _ = forward_backward(layer, params, x, grad)
        assert np.all(grad_x[:, t + 1 :] == 0)  # output t ignores the inputs after t
        assert np.all(np.abs(grad_x[:, : t + 1]).sum(axis=-1) > 0)
    # and not causal: every position feeds every output
    net = attention_net(tokens=7, causal=False)
    params, x = setup(net)
    grad = np.zeros_like(x)
    grad[:, 0] = 1.0
    _, grad_x, _ = forward_backward(net.layers[0], params, x, grad)
    assert np.all(np.abs(grad_x).sum(axis=-1) > 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_give_one_hot_attention_not_nan(dtype: type) -> None:
    net = attention_net(tokens=5, causal=True, extra=", logit_scale: 1e30")
    layer = net.layers[0]
    rng = np.random.default_rng(0)
    params = sample_parameters(net, rng, dtype)
    x = rng.standard_normal((2, 5, 8)).astype(dtype)
    out, grad_x, steps = forward_backward(layer, params, x, np.ones_like(x))
    assert np.all(np.isfinite(out))
    assert not np.any(np.isnan(grad_x))
    extra = next(s.extra for s in steps if isinstance(s, ForwardStep) and s.extra)
    assert all(p == pytest.approx(1.0) for p in extra["attn_max_prob"])
    assert all(abs(e) < 1e-6 for e in extra["attn_entropy"])


def test_zero_logits_give_uniform_entropy() -> None:
    net = attention_net(tokens=5, causal=False, extra=", logit_scale: 1e-30")
    layer = net.layers[0]
    params, x = setup(net)
    _, _, steps = forward_backward(layer, params, x, np.ones_like(x))
    extra = next(s.extra for s in steps if isinstance(s, ForwardStep) and s.extra)
    assert extra["attn_entropy"] == pytest.approx([math.log(5)] * 2)
    assert extra["attn_max_prob"] == pytest.approx([0.2] * 2)


TOKENS_NET = """
input: {shape: [6], distribution: tokens, vocab: 11}
layers:
  - {type: embedding, vocab: 13, dim: 4, init: random_normal(std=1)}
  - {type: positional_embedding, dim: 4, init: random_normal(std=0.5)}
  - {type: dense, units: 3, activation: tanh}
"""


def test_embedding_positional_and_sequence_dense_match_torch() -> None:
    net = network(TOKENS_NET)
    rng = np.random.default_rng(3)
    params = sample_parameters(net, rng, np.float64)
    ids = sample_input(net.input_shape, 5, "tokens", rng, np.float64, vocab=11)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 11
    grad = rng.standard_normal((5, 6, 3))
    steps = list(propagate(net, params, ids, grad))
    emb, pos, dense = net.layers
    table = torch.nn.Embedding(13, 4, dtype=torch.float64)
    linear = torch.nn.Linear(4, 3, dtype=torch.float64)
    with torch.no_grad():
        table.weight.copy_(torch.from_numpy(params.of(emb)["weight"]))
        linear.weight.copy_(torch.from_numpy(params.of(dense)["weight"]))
        linear.bias.copy_(torch.from_numpy(params.of(dense)["bias"]))
    wpe = torch.from_numpy(params.of(pos)["weight"]).requires_grad_(True)
    hidden = table(torch.from_numpy(ids)) + wpe
    hidden.retain_grad()
    z = linear(hidden)
    z.retain_grad()
    torch.tanh(z).backward(torch.from_numpy(grad))
    forward = {s.layer.name: s for s in steps if isinstance(s, ForwardStep)}
    back = {s.layer.name: s for s in steps if isinstance(s, BackwardStep)}
    np.testing.assert_allclose(forward["dense3"].preact, z.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(back["dense3"].grad_preact, z.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(back["dense3"].grad_weight, linear.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(back["dense3"].grad_bias, linear.bias.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(back["positional2"].grad_weight, wpe.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(
        back["embedding1"].grad_weight, table.weight.grad.numpy(), rtol=1e-10
    )
    unused = sorted(set(range(13)) - set(ids.reshape(-1).tolist()))
    assert unused and np.all(back["embedding1"].grad_weight[unused] == 0)
    # fans as torch computes them for the (vocab, dim) and (tokens, dim) weights
    for layer, shape in ((emb, (13, 4)), (pos, (6, 4))):
        fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        info = layer.row_info()
        assert (info.weight_shape, info.fan_in, info.fan_out) == (shape, fan_in, fan_out)
    assert dense.weight_shape == (3, 4) and dense.out_shape == (6, 3)
    assert dense.macs(5) == 5 * 6 * 3 * 4


def test_sequence_dense_backward_matches_central_differences() -> None:
    net = network(
        "input: {shape: [3, 4]}\nlayers:\n  - {type: dense, units: 2, activation: gelu}\n"
    )
    layer = net.layers[0]
    rng = np.random.default_rng(0)
    params = sample_parameters(net, rng, np.float64)
    x = rng.standard_normal((2, 3, 4))
    grad = rng.standard_normal((2, 3, 2))
    _, _, steps = forward_backward(layer, params, x, grad)
    weight = params.of(layer)["weight"]

    def loss() -> float:
        (y, _), _ = drive(layer.forward(x, params, False))
        return float(np.sum(y * grad))

    numeric = np.zeros_like(weight)
    for index in np.ndindex(weight.shape):
        saved = weight[index]
        weight[index] = saved + 1e-6
        plus = loss()
        weight[index] = saved - 1e-6
        minus = loss()
        weight[index] = saved
        numeric[index] = (plus - minus) / 2e-6
    np.testing.assert_allclose(steps[-1].grad_weight, numeric, rtol=1e-6, atol=1e-9)


def test_attention_rows_and_statistics_in_a_run() -> None:
    net = network(
        "input: {shape: [8], distribution: tokens, vocab: 20}\n"
        "layers:\n"
        "  - {type: embedding, vocab: 20, dim: 8}\n"
        "  - {type: attention, name: attn, heads: 2, causal: true}\n"
    )
    rows = [layer.name for layer in net.reporting_layers()]
    assert rows == ["embedding1", "attn.q", "attn.k", "attn.v", "attn.o"]
    rng = np.random.default_rng(0)
    params = sample_parameters(net, rng, np.float32)
    ids = sample_input(net.input_shape, 4, "tokens", rng, np.float32, vocab=20)
    collector = StatsCollector(keep_samples=False)
    for step in propagate(net, params, ids, rng.standard_normal((4, 8, 8), dtype=np.float32)):
        collector.add(step)
    stats = {s.name: s for s in collector.finish()}
    assert stats["attn.o"].attn_entropy is not None and len(stats["attn.o"].attn_entropy) == 2
    assert stats["attn.q"].attn_entropy is None and stats["embedding1"].logit_var is None
    assert all(0 < e <= stats["attn.o"].attn_entropy_uniform for e in stats["attn.o"].attn_entropy)
    assert stats["attn.q"].weight_shape == [8, 8] and stats["attn.q"].grad_var is not None


BAD = [
    (
        "input: {shape: [6, 10]}\nlayers:\n  - {type: attention, heads: 4}\n",
        "t.yaml:3: layers[0].heads: attention1: heads 4 does not divide the 10 features",
    ),
    (
        "input: {shape: [10]}\nlayers:\n  - {type: attention, heads: 2}\n",
        "t.yaml:3: layers[0]: attention1: attention needs a sequence (tokens, features)",
    ),
    (
        "input: {shape: [4, 10]}\nlayers:\n  - {type: conv1d, filters: 4, kernel_size: 1}\n"
        "  - {type: attention, heads: 2}\n",
        "attention needs a sequence (tokens, features) but conv1d1 gives (4, 10) in (channels",
    ),
    (
        "input: {shape: [6], distribution: tokens, vocab: 10}\nlayers:\n"
        "  - {type: dense, units: 4}\n",
        "t.yaml:3: layers[0]: dense1: the input gives token ids (input distribution: tokens)",
    ),
    (
        "input: {shape: [6], distribution: tokens, vocab: 0}\nlayers:\n"
        "  - {type: embedding, vocab: 10, dim: 4}\n",
        "t.yaml:1: input.vocab: got 0, must be an integer >= 1",
    ),
    (
        "input: {shape: [6], distribution: tokens, vocab: 10}\nlayers:\n"
        "  - {type: embedding, vocab: 0, dim: 4}\n",
        "t.yaml:3: layers[0].vocab: got 0, must be an integer >= 1",
    ),
    (
        "input: {shape: [6], distribution: tokens, vocab: 10}\nlayers:\n"
        "  - {type: embedding, vocab: 8, dim: 4}\n",
        "t.yaml:3: layers[0].vocab: embedding1: vocab 8 is smaller than the input's vocab 10",
    ),
    (
        "input: {shape: [6]}\nlayers:\n  - {type: embedding, vocab: 8, dim: 4}\n",
        "t.yaml:3: layers[0]: embedding1: embedding reads token ids but the input gives (6)",
    ),
    (
        "input: {shape: [6], distribution: tokens}\nlayers:\n"
        "  - {type: embedding, vocab: 8, dim: 4}\n",
        "t.yaml:1: input.vocab: missing; add e.g. vocab: 1000",
    ),
    (
        "input: {shape: [6, 4], distribution: tokens, vocab: 5}\nlayers:\n"
        "  - {type: embedding, vocab: 8, dim: 4}\n",
        "t.yaml:1: input.shape: token ids are one sequence per example",
    ),
    (
        "input: {shape: [6, 4]}\nlayers:\n  - {type: positional_embedding, dim: 5}\n",
        "t.yaml:3: layers[0].dim: positional1: dim 5 differs from the 4 features",
    ),
    (
        "input: {shape: [6, 4]}\nlayers:\n  - {type: attention, heads: 2, logit_scale: big}\n",
        "t.yaml:3: layers[0].logit_scale: logit_scale must be a positive number",
    ),
    (
        "input: {shape: [6, 4]}\nlayers:\n  - {type: attention, heads: 2, units: 4}\n",
        "t.yaml:3: layers[0].units: attention keeps its input's features",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_sequence_specs_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(InitcliError) as caught:
        network(text)
    assert "\n" not in caught.value.message
    assert caught.value.message.startswith(message) or message in caught.value.message, (
        caught.value.message
    )


def test_layout_rule_keeps_conv_errors_and_input_layout_forces_channels() -> None:
    with pytest.raises(InitcliError, match="dense needs a flat input"):
        network(
            "input: {shape: [4, 10]}\nlayers:\n  - {type: conv1d, filters: 4, kernel_size: 3}\n"
            "  - {type: dense, units: 4}\n"
        )
    with pytest.raises(InitcliError, match="dense needs a flat input"):
        network("input: {shape: [4, 10], layout: channels}\nlayers:\n  - {type: dense, units: 4}\n")
    with pytest.raises(
        InitcliError, match=r"conv1d reads \(channels, length\) but the input gives a seq"
    ):
        network(
            "input: {shape: [4, 10], layout: sequence}\nlayers:\n"
            "  - {type: conv1d, filters: 4, kernel_size: 3}\n"
        )
    net = network("input: {shape: [4, 10]}\nlayers:\n  - {type: dense, units: 3}\n")
    assert net.layers[0].out_shape == (4, 3) and net.layers[0].layout == "sequence"


def test_layernorm_on_a_sequence_normalizes_each_token_as_torch_layernorm() -> None:
    net = network(
        "input: {shape: [5, 6], layout: sequence}\nlayers:\n  - {type: layernorm}\n"
        "  - {type: dense, units: 3}\n"
    )
    norm = net.layers[0]
    assert norm.layout == "sequence" and norm.parameter_shapes()["weight"] == (6,)
    rng = np.random.default_rng(0)
    params = sample_parameters(net, rng, np.float64)
    x = rng.standard_normal((4, 5, 6)) * 3 + 1
    grad = rng.standard_normal((4, 5, 6))
    out, grad_x, _ = forward_backward(norm, params, x, grad)
    xt = torch.from_numpy(x).requires_grad_(True)
    ln = torch.nn.LayerNorm(6, eps=norm.eps, dtype=torch.float64)
    yt = ln(xt)
    yt.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
