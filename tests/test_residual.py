"""Residual blocks and groups: parsing errors, naming, backward against central finite
differences (float64) and PyTorch autograd, block statistics and their mean-field theory."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from initcli.errors import InitcliError
from initcli.experiment import RunOptions, run_experiment
from initcli.layers.base import BackwardStep, BlockBackwardStep, BlockForwardStep, ForwardStep
from initcli.network import build_network
from initcli.network_spec import load_spec_text
from initcli.propagate import propagate, sample_parameters


def spec_of(text: str):
    return load_spec_text(textwrap.dedent(text), "net.yaml", "net")


CONV_NET = """
input: {shape: [3, 8, 8]}
batch: 4
layers:
  - {type: conv2d, filters: 4, kernel_size: 3, padding: same, activation: tanh}
  - type: residual
    scale: 0.7
    layers:
      - {type: conv2d, filters: 4, kernel_size: 3, padding: same, activation: tanh}
      - {type: conv2d, filters: 4, kernel_size: 3, padding: same}
  - type: residual
    scale: 0.5
    branch_input_scale: 0.8
    shortcut: {type: conv2d, filters: 6, kernel_size: 1, stride: 2}
    layers:
      - {type: conv2d, filters: 6, kernel_size: 3, stride: 2, padding: same, activation: tanh}
      - {type: conv2d, filters: 6, kernel_size: 3, padding: same,
         bias_init: "random_normal(std=0.1)"}
  - type: group
    repeat: 2
    layers:
      - {type: residual, layers: [{type: conv2d, filters: 6, kernel_size: 1, activation: tanh}]}
  - {type: flatten}
  - {type: dense, units: 5, activation: tanh}
"""


def forward_backward(network, params, x, g):
    """Output of the network and every parameter's gradient, plus dL/dx."""
    root = network.root
    run = root.forward(x, params, True)
    try:
        while True:
            next(run)
    except StopIteration as stop:
        out, saved = stop.value
    grads = {}
    run_b = root.backward(g.copy(), params, saved, True)  # backward may overwrite g
    try:
        while True:
            step = next(run_b)
            if isinstance(step, BackwardStep):
                grads[step.layer.name] = (step.grad_weight, step.grad_bias)
    except StopIteration as stop:
        grad_x = stop.value
    return out, grads, grad_x


def test_names_are_numbered_and_addressable():
    network = build_network(spec_of(CONV_NET))
    names = [layer.name for layer in network.walk()]
    assert len(names) == len(set(names))
    assert "res2.conv2d1" in names and "res3.shortcut" in names
    assert "group4.res1.conv2d1" in names
    rows = [layer.name for layer in network.reporting_layers()]
    assert rows[:4] == ["conv2d1", "res2.conv2d1", "res2.conv2d2", "res3.conv2d1"]


def test_backward_matches_central_finite_differences():
    network = build_network(spec_of(CONV_NET))
    rng = np.random.default_rng(1)
    params = sample_parameters(network, rng, np.float64)
    x = rng.standard_normal((2, 3, 8, 8))
    out_shape = network.output_shape
    g = rng.standard_normal((2, *out_shape))
    _, grads, grad_x = forward_backward(network, params, x, g)

    def loss(inputs):
        out, *_ = forward_backward(network, params, inputs, g)
        return float(np.sum(out * g))

    eps = 1e-6
    for index in [(0, 0, 0, 0), (1, 2, 5, 3), (0, 1, 7, 7)]:
        bumped = x.copy()
        bumped[index] += eps
        lowered = x.copy()
        lowered[index] -= eps
        numeric = (loss(bumped) - loss(lowered)) / (2 * eps)
        assert grad_x[index] == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    for name in ["res2.conv2d1", "res3.shortcut", "res3.conv2d2", "group5.res1.conv2d1"]:
        weight = params.by_layer[name]["weight"]
        for flat in [0, weight.size // 2, weight.size - 1]:
            index = np.unravel_index(flat, weight.shape)
            saved = weight[index]
            weight[index] = saved + eps
            up = loss(x)
            weight[index] = saved - eps
            down = loss(x)
            weight[index] = saved
            assert grads[name][0][index] == pytest.approx((up - down) / (2 * eps), rel=1e-6)


def test_matches_a_torch_residual_module():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    network = build_network(spec_of(CONV_NET))
    rng = np.random.default_rng(2)
    params = sample_parameters(network, rng, np.float64)
    x = rng.standard_normal((4, 3, 8, 8))
    g = rng.standard_normal((4, *network.output_shape))
    out, grads, grad_x = forward_backward(network, params, x, g)

    def conv(name, stride=1, padding="same"):
        w = params.by_layer[name]["weight"]
        module = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride=stride, padding=padding)
        module.weight.data = torch.from_numpy(w.copy())
        module.bias.data = torch.from_numpy(params.by_layer[name]["bias"].copy())
        return module.double()

    class Block(nn.Module):
        def __init__(self, body, scale, shortcut=None, beta=1.0):
            super().__init__()
            self.body, self.scale, self.shortcut, self.beta = body, scale, shortcut, beta

        def forward(self, h):
            inner = h * self.beta
            s = h if self.shortcut is None else self.shortcut(inner)
            return s + self.scale * self.body(inner)

    w_dense = params.by_layer["dense7"]["weight"]
    dense = nn.Linear(w_dense.shape[1], w_dense.shape[0]).double()
    dense.weight.data = torch.from_numpy(w_dense.copy())
    dense.bias.data = torch.from_numpy(params.by_layer["dense7"]["bias"].copy())
    # "same" with stride 2 and an even input: TensorFlow pads 0 before, 1 after.
    strided = conv("res3.conv2d1", stride=2, padding=0)
    model = nn.Sequential(
        conv("conv2d1"),
        nn.Tanh(),
        Block(nn.Sequential(conv("res2.conv2d1"), nn.Tanh(), conv("res2.conv2d2")), 0.7),
        Block(
            nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), strided, nn.Tanh(), conv("res3.conv2d2")),
            0.5,
            shortcut=conv("res3.shortcut", stride=2, padding=0),
            beta=0.8,
        ),
        Block(nn.Sequential(conv("group4.res1.conv2d1", padding=0), nn.Tanh()), 1.0),
        Block(nn.Sequential(conv("group5.res1.conv2d1", padding=0), nn.Tanh()), 1.0),
        nn.Flatten(),
        dense,
        nn.Tanh(),
    )
    xt = torch.from_numpy(x).requires_grad_()
    yt = model(xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    torch_weights = {
        "res2.conv2d1": model[2].body[0].weight,
        "res3.shortcut": model[3].shortcut.weight,
        "res3.conv2d1": model[3].body[1].weight,
        "group5.res1.conv2d1": model[5].body[0].weight,
    }
    for name, weight in torch_weights.items():
        np.testing.assert_allclose(grads[name][0], weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        grads["res3.conv2d2"][1], model[3].body[3].bias.grad.numpy(), rtol=1e-9, atol=1e-12
    )


def test_a_nonlinear_shortcut_does_not_corrupt_the_branch_gradient():
    """Backward may overwrite the gradient it is given (Layer.backward): a shortcut with an
    activation writes dL/dz into it, so the block must scale the branch's gradient first.
    Against PyTorch in float64; the caller's output gradient is left as it was."""
    torch = pytest.importorskip("torch")
    network = build_network(
        spec_of(
            """
            input: {shape: [6]}
            layers:
              - type: residual
                scale: 0.5
                shortcut: {type: dense, units: 5, activation: tanh}
                layers: [{type: dense, units: 5, activation: relu}]
              - type: residual
                shortcut: {type: dense, units: 4, activation: relu}
                layers: [{type: dense, units: 4, activation: tanh}]
            """
        )
    )
    rng = np.random.default_rng(3)
    params = sample_parameters(network, rng, np.float64)
    x = rng.standard_normal((7, 6))
    g = rng.standard_normal((7, 4))
    g_before = g.copy()
    grads = {
        step.layer.name: step.grad_weight
        for step in propagate(network, params, x, g)
        if isinstance(step, BackwardStep)
    }
    np.testing.assert_array_equal(g, g_before)

    def linear(name):
        w, b = (torch.from_numpy(params.by_layer[name][k].copy()) for k in ("weight", "bias"))
        w.requires_grad_()
        return w, lambda h: h @ w.T + b

    w1, body1 = linear("res1.dense1")
    s1, short1 = linear("res1.shortcut")
    w2, body2 = linear("res2.dense1")
    s2, short2 = linear("res2.shortcut")
    h = torch.from_numpy(x)
    h = torch.tanh(short1(h)) + 0.5 * torch.relu(body1(h))
    h = torch.relu(short2(h)) + torch.tanh(body2(h))
    h.backward(torch.from_numpy(g))
    expected = {"res1.dense1": w1, "res1.shortcut": s1, "res2.dense1": w2, "res2.shortcut": s2}
    assert set(grads) == set(expected)
    for name, weight in expected.items():
        np.testing.assert_allclose(grads[name], weight.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_the_output_gradient_is_copied_or_drawn_when_backward_begins():
    """propagate copies a G array (backward overwrites the gradient it is given), or takes
    G from a function called once when backward begins (run_experiment does): the same
    gradients either way, the caller's array left as it was, the drawn one written into."""
    network = build_network(spec_of(CONV_NET))
    rng = np.random.default_rng(4)
    params = sample_parameters(network, rng, np.float32)
    x = rng.standard_normal((4, 3, 8, 8), dtype=np.float32)
    g = rng.standard_normal((4, *network.output_shape), dtype=np.float32)
    kept = g.copy()
    calls: list[int] = []
    forward_steps: list[int] = []
    handed: list[np.ndarray] = []

    def draw():
        calls.append(len(forward_steps))
        handed.append(kept.copy())
        return handed[-1]

    def gradients(grad):
        found = []
        for step in propagate(network, params, x, grad):
            if isinstance(step, ForwardStep) and grad is draw:
                forward_steps.append(1)
            if isinstance(step, BackwardStep):
                found.append((step.layer.name, step.grad_preact.copy(), step.grad_weight))
        return found

    copied = gradients(g)
    np.testing.assert_array_equal(g, kept)
    drawn = gradients(draw)
    assert calls == [len(forward_steps)] and forward_steps  # once, after every forward step
    assert not np.array_equal(handed[0], kept)  # the last layer's dL/dz took its buffer
    assert [name for name, *_ in drawn] == [name for name, *_ in copied]
    for (_, dz, dw), (_, dz2, dw2) in zip(copied, drawn, strict=True):
        np.testing.assert_array_equal(dz, dz2)
        np.testing.assert_array_equal(dw, dw2)


def test_block_steps_and_skipinit():
    spec = spec_of(
        """
        input: {shape: [16]}
        layers:
          - type: residual
            scale: 0.0
            layers: [{type: dense, units: 16, activation: relu}]
        """
    )
    network = build_network(spec)
    rng = np.random.default_rng(0)
    params = sample_parameters(network, rng, np.float64)
    x = rng.standard_normal((8, 16))
    g = rng.standard_normal((8, 16))
    steps = list(propagate(network, params, x, g))
    kinds = [type(step) for step in steps]
    assert kinds == [ForwardStep, BlockForwardStep, BlockBackwardStep, BackwardStep]
    np.testing.assert_array_equal(steps[1].output, x)  # SkipInit: the identity at init
    assert not np.any(steps[3].grad_weight)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            "  - {type: residual, layers: [{type: dense, units: 8}]}",
            "net.yaml:4: layers[0].layers: res1: the branch (layers) maps (16) to (8), "
            "which does not add to the identity shortcut's (16); add shortcut: "
            "{type: dense, units: 8}",
        ),
        (
            "  - {type: residual, scale: -1, layers: [{type: dense, units: 16}]}",
            "net.yaml:4: layers[0].scale: got -1, must be >= 0",
        ),
        (
            "  - {type: residual, shortcut: {type: dense, units: 9}, layers: [{type: dense, "
            "units: 8}]}",
            "net.yaml:4: layers[0].shortcut: res1: the branch (layers) maps (16) to (8), "
            "which does not add to its shortcut res1.shortcut's (9)",
        ),
        (
            "  - {type: residual, shortcut: {type: dense, unit: 8}, layers: [{type: dense, "
            "units: 8}]}",
            "net.yaml:4: layers[0].shortcut.unit: unknown key 'unit'",
        ),
        (
            "  - {type: residual, shortcut: projection, layers: [{type: dense, units: 8}]}",
            "layers[0].shortcut: expected identity or one layer mapping",
        ),
        ("  - {type: residual, units: 8}", "units is not a residual key"),
        ("  - {type: group}", "layers[0].layers: missing"),
        (
            "  - {type: residual, branch_input_scale: 0, layers: [{type: dense, units: 16}]}",
            "layers[0].branch_input_scale: got 0, must be > 0",
        ),
        (
            "  - type: group\n    repeat: 1000\n    layers:\n      - type: residual\n"
            "        repeat: 1000\n        layers: [{type: dense, units: 16}]",
            "net.yaml:5: layers[0].repeat: the network would have 2001000 layers, over the "
            "limit of 10000",
        ),
    ],
)
def test_bad_input_is_one_line_naming_file_line_key(body, fragment, tmp_path: Path):
    text = "input: {shape: [16]}\nbatch: 4\nlayers:\n" + body + "\n"
    with pytest.raises(InitcliError) as caught:
        network = build_network(load_spec_text(text, "net.yaml", "net"))
        run_experiment(load_spec_text(text, "net.yaml", "net"), RunOptions())
        del network
    message = caught.value.message
    assert "\n" not in message
    assert fragment in message, message


WIDE = """
input: {shape: [1024]}
batch: 256
layers:
  - type: residual
    scale: SCALE
    repeat: 4
    layers:
      - {type: dense, units: 1024, activation: relu, init: he_normal}
      - {type: dense, units: 1024, init: lecun_normal}
"""


@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_theory_matches_measurement_on_a_wide_dense_net(scale):
    """Exact infinite-width values: the branch maps E[x^2] = m to 1 * m (He relu then
    LeCun linear), so E[y^2] = m (1 + scale^2) per block; the gradient grows by the same
    factor per block backwards. Tolerances: a batch of 256 x 1024 features gives each
    second moment a relative sampling error of a few percent through 4 blocks."""
    spec = spec_of(WIDE.replace("SCALE", str(scale)))
    result = run_experiment(spec, RunOptions(seed=3, keep_samples=False))
    growth = 1 + scale**2
    for k, block in enumerate(result.blocks, start=1):
        assert block.theory_second_moment == pytest.approx(growth**k, rel=1e-9)
        assert block.theory_branch_second_moment == pytest.approx(scale**2 * growth ** (k - 1))
        assert block.theory_grad_var == pytest.approx(growth ** (4 - k), rel=1e-9)
        assert block.second_moment == pytest.approx(block.theory_second_moment, rel=0.08)
        assert block.branch_second_moment == pytest.approx(
            block.theory_branch_second_moment, rel=0.1
        )
        assert block.grad_var == pytest.approx(block.theory_grad_var, rel=0.08)
        assert block.avg_channel_sq_mean + block.avg_channel_var == pytest.approx(
            block.second_moment, rel=1e-12
        )
    for row in result.layers:
        assert row.preact_var == pytest.approx(row.theory_preact_var, rel=0.1)
        assert row.grad_var == pytest.approx(row.theory_grad_var, rel=0.1)
    assert [row.block for row in result.layers] == [1, 1, 2, 2, 3, 3, 4, 4]
    verdict = result.summary.blocks[0]
    # scale 0.3: x1.09 per block, under the 1.1 threshold of "exponential" over 4 blocks
    assert verdict.verdict == ("exponential" if scale == 1.0 else "linear"), verdict.message


def test_channel_moments_against_numpy():
    from initcli.block_stats import channel_moments

    rng = np.random.default_rng(0)
    x = (3.0 + rng.standard_normal((7, 5, 4, 3))).astype(np.float32)
    got = channel_moments(x)
    means = x.astype(np.float64).mean(axis=(0, 2, 3))
    var = x.astype(np.float64).var(axis=(0, 2, 3))
    assert got.sq_mean == pytest.approx(float(np.mean(means**2)), rel=1e-12)
    assert got.var == pytest.approx(float(np.mean(var)), rel=1e-12)


def test_beta_follows_nf_resnets_expected_variance():
    spec = spec_of(
        """
        input: {shape: [8]}
        layers:
          - type: residual
            scale: 0.2
            repeat: 3
            branch_input_scale: beta
            layers: [{type: dense, units: 8}]
          - type: residual
            scale: 0.2
            branch_input_scale: beta
            shortcut: {type: dense, units: 4}
            layers: [{type: dense, units: 4}]
          - type: residual
            scale: 0.2
            branch_input_scale: beta
            layers: [{type: dense, units: 4}]
        """
    )
    network = build_network(spec)
    scales = [layer.input_scale for layer in network.layers]
    expected = [1.0, 1.04, 1.08, 1.12, 1.04]
    assert scales == pytest.approx([1 / math.sqrt(v) for v in expected])


def test_run_prints_the_block_table_and_writes_the_spp(tmp_path: Path):
    from initcli.cli import main

    config = tmp_path / "res.yaml"
    config.write_text(WIDE.replace("SCALE", "1.0").replace("1024", "64"))
    out = tmp_path / "out"
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["run", str(config), "--out", str(out)]) == 0
    text = buffer.getvalue()
    assert "residual blocks" in text and "blocks  : exponential" in text
    directory = next(out.iterdir())
    assert (directory / "signal_propagation.png").stat().st_size > 0
    header = (directory / "blocks.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["index", "name", "scale"] and "avg_channel_var" in header
    assert "block" in (directory / "stats.csv").read_text().splitlines()[0].split(",")


def test_seeds_average_the_blocks():
    from initcli.experiment import run_seeds

    spec = spec_of(WIDE.replace("SCALE", "0.5").replace("1024", "64"))
    result = run_seeds(spec, RunOptions(keep_samples=False, batch=32), 2)
    single = [
        run_experiment(spec, RunOptions(seed=s, batch=32, keep_samples=False)) for s in (0, 1)
    ]
    for position, block in enumerate(result.blocks):
        values = [draw.blocks[position].avg_channel_var for draw in single]
        assert block.avg_channel_var == pytest.approx(np.mean(values))
        assert block.spread["avg_channel_var"] == [min(values), max(values)]


def test_shipped_residual_configs_show_what_their_comments_say():
    """Brock et al. 2021 fig. 1 qualitatively, on the shipped configs at a small batch:
    BN-ReLU linear per stage, un-normalized alpha = 1 exponential, NF-ResNet linear at a
    rate near alpha^2 = 0.04 of the stream's variance; SkipInit flat; pre-LN linear."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    loader = importlib.util.spec_from_file_location("spp", root / "scripts" / "reproduce_spp.py")
    assert loader is not None and loader.loader is not None
    spp = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(spp)
    results = dict(spp.runs(batch=16))
    bn = results["BN-ReLU (resnet_preact)"].summary.blocks
    assert [s.verdict for s in bn] == ["linear"] * 3
    plain = results["un-normalized, alpha=1"].summary.blocks
    assert all(s.verdict == "exponential" for s in plain), [s.message for s in plain]
    nf = results["NF-ResNet, alpha=0.2 (nf_resnet)"]
    for stage in nf.summary.blocks:
        assert stage.verdict in ("linear", "flat")
        first = nf.blocks[stage.first_block - 1].avg_channel_var
        assert 0.01 < stage.increment_per_block / first < 0.08
    options = RunOptions(batch=64, keep_samples=False)
    from initcli.network_spec import load_spec

    skip = run_experiment(load_spec(root / "configs" / "skipinit.yaml"), options)
    assert [s.verdict for s in skip.summary.blocks] == ["flat"]
    preln = run_experiment(load_spec(root / "configs" / "preln_mlp.yaml"), options)
    assert [s.verdict for s in preln.summary.blocks] == ["linear"]
    for k, block in enumerate(preln.blocks, start=1):
        assert block.theory_second_moment == pytest.approx(k + 1, rel=1e-3)


def test_memory_estimate_counts_what_the_blocks_keep():
    from initcli.propagate import estimate_memory

    plain = build_network(
        spec_of(
            """
            input: {shape: [64]}
            layers:
              - {type: dense, units: 64, activation: relu}
              - {type: dense, units: 64}
            """
        )
    )
    block = build_network(
        spec_of(
            """
            input: {shape: [64]}
            layers:
              - type: residual
                shortcut: {type: dense, units: 64}
                layers:
                  - {type: dense, units: 64, activation: relu}
                  - {type: dense, units: 64}
            """
        )
    )
    batch = 128
    shortcut_saved = batch * (64 + 64)
    assert block.root.saved_elements(batch) == plain.root.saved_elements(batch) + shortcut_saved
    assert estimate_memory(block, batch, 4, True) > estimate_memory(plain, batch, 4, True)
    assert estimate_memory(block, batch, 4, True) - estimate_memory(block, batch, 4, False) == (
        4 * block.root.saved_elements(batch)
    )


def test_compare_draws_the_spp_for_each_initializer(tmp_path: Path):
    import contextlib
    import io
    import json

    from initcli.cli import main

    config = tmp_path / "res.yaml"
    config.write_text(
        "input: {shape: [32]}\nbatch: 32\nlayers:\n  - type: residual\n    repeat: 4\n"
        "    layers: [{type: dense, units: 32, activation: relu}, {type: dense, units: 32}]\n"
    )
    out = tmp_path / "out"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["compare", "he_normal", "lecun_normal", "--config", str(config), "--out",
                     str(out), "--json"])  # fmt: skip
    assert code == 0
    runs = json.loads(buffer.getvalue())["runs"]
    assert [len(run["blocks"]) for run in runs] == [4, 4]
    assert len(list(out.glob("spp_*he_normal_vs_lecun_normal_seed0.png"))) == 1


def test_a_sequence_blocks_channels_are_its_features_not_its_tokens():
    """A branch with zero weights outputs its bias b for every example and token: per
    feature (channel) the variance is exactly 0 and the squared mean b_f^2. Reducing over
    axis 1 (tokens) instead, as a conv stream's channels, gave Var_f(b) (~0.5)."""
    spec = spec_of(
        """
        input: {shape: [6, 8], layout: sequence}
        batch: 4
        layers:
          - type: residual
            layers:
              - {type: dense, units: 8, init: zeros, bias_init: "random_normal(std=1.0)"}
        """
    )
    network = build_network(spec)
    params = sample_parameters(network, np.random.default_rng(3), np.float64)
    bias = params.of(network.layers[0].body.layers[0])["bias"]
    result = run_experiment(spec, RunOptions(seed=3, dtype="float64"))
    (block,) = result.blocks
    assert block.branch_avg_channel_var < 1e-25  # 0 up to float64 rounding
    assert block.branch_second_moment == pytest.approx(np.mean(bias**2), rel=1e-12)
    # a conv1d stream of the same shape keeps its channels on axis 1
    conv = spec_of(
        """
        input: {shape: [6, 8], layout: channels}
        batch: 4
        layers:
          - type: residual
            layers:
              - {type: conv1d, filters: 6, kernel_size: 1, init: zeros,
                 bias_init: "random_normal(std=1.0)"}
        """
    )
    (conv_block,) = run_experiment(conv, RunOptions(seed=3, dtype="float64")).blocks
    assert conv_block.branch_avg_channel_var < 1e-25


def test_a_shrinking_stream_whose_channel_means_grow_says_so():
    """Post-LN: the variance per feature falls while E[y^2] stays, moved into the mean."""
    from initcli.block_stats import BlockStats, judge_blocks

    def block(index: int, sq_mean: float, var: float) -> BlockStats:
        return BlockStats(
            index, f"b{index}", 1.0, 1.0, "identity", [4, 8], sq_mean, var, 0.1,
            sq_mean + var, 0.1,
        )  # fmt: skip

    drifting = [block(k, 0.1 * k, 1.0 / k) for k in range(1, 11)]
    (verdict,) = judge_blocks(drifting)
    assert verdict.verdict == "shrinking"
    assert "the channel means grow instead: 91% of E[y^2] at block 10" in verdict.message
    fading = [block(k, 0.01, 1.0 / k) for k in range(1, 11)]
    (verdict,) = judge_blocks(fading)
    assert "the branches remove signal" in verdict.message


@pytest.mark.parametrize("slope", [-0.5, 0.2, 3.0])
def test_leaky_relu_of_any_slope_matches_torch(slope: float) -> None:
    """torch.nn.LeakyReLU takes any slope; a negative one makes phi(z) > 0 for z < 0, so
    phi' is read from z, not from phi(z) (the relu-like shortcut would be wrong there)."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    spec = f"""
    input: {{shape: [6]}}
    batch: 5
    layers:
      - {{type: dense, units: 7, activation: 'leaky_relu(negative_slope={slope})'}}
      - {{type: layernorm, activation: 'leaky_relu(negative_slope={slope})'}}
      - {{type: dense, units: 4, activation: 'leaky_relu(negative_slope={slope})'}}
    """
    network = build_network(spec_of(spec))
    rng = np.random.default_rng(3)
    params = sample_parameters(network, rng, np.float64)
    x = rng.standard_normal((5, 6))
    g = rng.standard_normal((5, 4))
    out, grads, grad_x = forward_backward(network, params, x, g)

    def linear(name):
        w = params.by_layer[name]["weight"]
        module = nn.Linear(w.shape[1], w.shape[0]).double()
        module.weight.data = torch.from_numpy(w.copy())
        module.bias.data = torch.from_numpy(params.by_layer[name]["bias"].copy())
        return module

    first, last = linear("dense1"), linear("dense3")
    model = nn.Sequential(
        first,
        nn.LeakyReLU(slope),
        nn.LayerNorm(7, eps=1e-5).double(),
        nn.LeakyReLU(slope),
        last,
        nn.LeakyReLU(slope),
    )
    xt = torch.from_numpy(x).requires_grad_()
    yt = model(xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    for name, module in (("dense1", first), ("dense3", last)):
        np.testing.assert_allclose(grads[name][0], module.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(grads[name][1], module.bias.grad.numpy(), rtol=1e-10)
