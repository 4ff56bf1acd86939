"""`initcli run model.py:FACTORY`: a user's PyTorch module measured through hooks.

A small ResNet-like module and a transformer block (written in this file's MODELS text) go
through initcli's PyTorch path and through an independent hand-written hook loop with the same
seeds (torch.manual_seed for the factory, the numpy Generator for input and dL/d(output));
every per-layer number must agree. A plain MLP re-initialized with ``--init`` must give the
numbers initcli's own YAML pipeline gives for the same network and seed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parent.parent

MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            h = self.relu(self.bn1(self.conv1(x)))
            return torch.relu(x + self.bn2(self.conv2(h)))


    def make_resnet(depth=2, width=8):
        return nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            *[Block(width) for _ in range(depth)],
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, 10),
        )


    class TransformerBlock(nn.Module):
        def __init__(self, d=32, heads=4):
            super().__init__()
            self.ln1 = nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
            self.ln2 = nn.LayerNorm(d)
            self.fc1 = nn.Linear(d, 4 * d)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(4 * d, d)
            self.drop = nn.Dropout(0.1)

        def forward(self, x):
            h = self.ln1(x)
            x = x + self.attn(h, h, h, need_weights=False)[0]
            return x + self.drop(self.fc2(self.act(self.fc1(self.ln2(x)))))


    def make_transformer():
        return TransformerBlock()


    def make_mlp(width=256, depth=3):
        layers = []
        for _ in range(depth):
            layers += [nn.Linear(width, width), nn.Tanh()]
        return nn.Sequential(*layers)


    def make_convnet(inplace=False):
        return nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=inplace),
            nn.Conv2d(8, 4, 3),
            nn.ReLU(inplace=inplace),
            nn.Flatten(),
            nn.Linear(64, 3),
        )


    def make_embedding():
        return nn.Sequential(nn.Embedding(50, 16), nn.Flatten(), nn.Linear(80, 8))


    def make_noisy():
        print("building the model")
        return make_mlp(16, 1)


    def make_exit():
        import sys

        sys.exit(3)


    def make_broken():
        raise ValueError("width must be even")


    def make_not_a_module():
        return 42


    class BasicBlock(nn.Module):  # torchvision.models.resnet.BasicBlock's forward
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(4)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(4)

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)


    def make_basic_block():
        return BasicBlock()


    def make_encoder_layer():
        return nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)


    class OwnWeight(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(8, 8)
            self.w = nn.Parameter(torch.randn(8, 8))
            self.fc2 = nn.Linear(8, 8)

        def forward(self, x):
            return self.fc2(self.fc1(x) @ self.w)


    def make_own_weight():
        return OwnWeight()


    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Linear(8, 8)
            self.aux = nn.Linear(8, 8)

        def forward(self, x):
            return self.main(x), self.aux(x)


    def make_two_heads():
        return TwoHeads()


    class MidAux(nn.Module):  # an aux head that runs between layers (GoogLeNet's)
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.aux = nn.Linear(8, 8)
            self.b = nn.Linear(8, 8)
            self.c = nn.Linear(8, 8)

        def forward(self, x):
            h = self.a(x)
            side = self.aux(h)
            return self.c(self.b(h)), side


    def make_mid_aux():
        return MidAux()


    def make_gru():
        return nn.Sequential(nn.Linear(8, 8), nn.GRU(8, 8, batch_first=True))
    """
)


@pytest.fixture
def models_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def _run_json(cli: Any, target: str, out: Path, *args: str) -> dict[str, Any]:
    result = cli("run", target, "--json", "--no-plots", "--out", str(out), *args)
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def _var(tensor: Any) -> float:
    return float(tensor.detach().double().var(unbiased=False))


def _hand_loop(path: Path, name: str, shape: tuple[int, ...], batch: int, seed: int) -> dict:
    """An independent hook loop: output, activation and gradient of every parameterized module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hand_models", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(seed)
    model = getattr(module, name)()
    model.train()
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((batch, *shape), dtype=np.float32))
    owners = {path_: m for path_, m in model.named_modules() if list(m.parameters(recurse=False))}
    outputs: dict[str, Any] = {}

    def hook(key: str) -> Any:
        def record(_module: Any, _args: Any, output: Any) -> None:
            tensor = output[0] if isinstance(output, tuple) else output
            if key not in outputs:
                tensor.retain_grad()
                outputs[key] = tensor

        return record

    handles = [m.register_forward_hook(hook(key)) for key, m in owners.items()]
    y = model(x)
    for handle in handles:
        handle.remove()
    g = torch.from_numpy(rng.standard_normal(tuple(y.shape), dtype=np.float32))
    (y * g).sum().backward()
    rows = {}
    for key, out in outputs.items():
        m = owners[key]
        weight = m.in_proj_weight if isinstance(m, torch.nn.MultiheadAttention) else m.weight
        fans = (
            torch.nn.init._calculate_fan_in_and_fan_out(weight)
            if weight.dim() >= 2
            else (weight.numel(), weight.numel())
        )
        rows[key] = {
            "weight_shape": list(weight.shape),
            "fan_in": fans[0],
            "fan_out": fans[1],
            "weight_var": _var(weight),
            "preact_var": _var(out),
            "output": out.detach().clone(),
            "grad_var": _var(out.grad),
            "weight_grad_var": _var(weight.grad),
        }
    return rows


@pytest.mark.parametrize(
    ("factory", "shape", "activations"),
    [
        ("make_resnet", (3, 12, 12), {"0": torch.relu, "2.bn1": torch.relu, "3.bn1": torch.relu}),
        ("make_transformer", (6, 32), {"fc1": torch.nn.functional.gelu}),
    ],
)
def test_hooks_match_a_hand_written_hook_loop(
    cli: Any, models_file: Path, tmp_path: Path, factory: str, shape: tuple, activations: dict
) -> None:
    batch, seed = 16, 3
    shape_text = ",".join(map(str, shape))
    data = _run_json(
        cli,
        f"{models_file}:{factory}",
        tmp_path / "out",
        "--input-shape",
        shape_text,
        "--batch",
        str(batch),
        "--seed",
        str(seed),
    )
    expected = _hand_loop(models_file, factory, shape, batch, seed)
    rows = {row["name"]: row for row in data["layers"]}
    assert list(rows) == list(expected)  # module order, named by module path
    for name, want in expected.items():
        row = rows[name]
        for key in ("weight_shape", "fan_in", "fan_out"):
            assert row[key] == want[key], (name, key)
        for key in ("weight_var", "preact_var", "grad_var", "weight_grad_var"):
            assert row[key] == pytest.approx(want[key], rel=1e-5, abs=1e-12), (name, key)
        if name in activations:
            assert row["activation"] != "none"
            act = activations[name](want["output"])
            assert row["act_var"] == pytest.approx(_var(act), rel=1e-5), name
            assert row["act_mean"] == pytest.approx(float(act.double().mean()), abs=1e-6)
        else:
            assert row["activation"] == "none"
            assert row["act_var"] == row["preact_var"]
    assert data["batch"] == batch and data["seed"] == seed
    assert data["summary"]["forward"]["verdict"] in ("stable", "vanishing", "exploding")
    assert all(row["theory_preact_var"] is None for row in data["layers"])


def test_activation_statistics_and_dead_share(cli: Any, models_file: Path, tmp_path: Path) -> None:
    data = _run_json(
        cli, f"{models_file}:make_resnet", tmp_path / "o", "--input-shape", "3,8,8", "--batch", "8"
    )
    first = data["layers"][0]
    assert first["name"] == "0" and first["activation"] == "relu"
    # relu of a zero-mean symmetric output: about half its second moment, and mean > 0.
    assert 0 < first["act_var"] < first["preact_var"]
    assert first["act_mean"] > 0
    assert first["dead_frac"] is not None and first["zero_frac"] > 0.2
    pooled = [n for n in data["summary"]["notes"] if n.startswith("Var dL/dz is per element")]
    assert len(pooled) == 1 and "through '" in pooled[0]  # its AdaptiveAvgPool2d, by path


def test_inplace_activations_do_not_change_what_is_measured(
    cli: Any, models_file: Path, tmp_path: Path
) -> None:
    """ReLU(inplace=True) overwrites its input, the module output initcli measures."""
    target = f"{models_file}:make_convnet"
    args = ("--input-shape", "3,8,8", "--batch", "16")
    plain = _run_json(cli, target, tmp_path / "a", *args, "--kwargs", "inplace=false")
    inplace = _run_json(cli, target, tmp_path / "b", *args, "--kwargs", "inplace=true")
    assert plain["layers"] == inplace["layers"]
    bn = plain["layers"][1]
    assert bn["name"] == "1" and bn["activation"] == "relu"
    assert bn["preact_var"] == pytest.approx(1.0, rel=1e-3)  # batch norm in train mode
    assert bn["act_var"] < 0.5


def test_embedding_with_integer_input(cli: Any, models_file: Path, tmp_path: Path) -> None:
    ids = tmp_path / "ids.npy"
    np.save(ids, np.random.default_rng(0).integers(0, 50, (32, 5)))
    data = _run_json(cli, f"{models_file}:make_embedding", tmp_path / "e", "--input", str(ids))
    embedding = data["layers"][0]
    assert embedding["type"] == "Embedding" and embedding["weight_shape"] == [50, 16]
    # nn.Embedding draws N(0, 1): looked-up rows have about unit variance.
    assert embedding["weight_var"] == pytest.approx(1.0, rel=0.2)
    assert embedding["grad_var"] > 0 and embedding["weight_grad_var"] > 0
    out = tmp_path / "f"
    floats = cli("run", f"{models_file}:make_embedding", "--input-shape", "5", "--out", str(out))
    assert floats.code == 1 and floats.err.count("\n") == 1
    assert "its nn.Embedding takes integer token ids: give them as --input" in floats.err


def test_init_flag_reproduces_initcli_own_pipeline(
    cli: Any, models_file: Path, tmp_path: Path
) -> None:
    """nn.Sequential(Linear, Tanh) x 3 re-drawn with --init is the YAML dense stack: same
    draws in the same order (weights, biases, input, dL/d(output)), so the same numbers."""
    args = ("--init", "glorot_uniform", "--bias-init", "zeros", "--batch", "64", "--seed", "5")
    torch_data = _run_json(
        cli, f"{models_file}:make_mlp", tmp_path / "t", "--input-shape", "256", *args
    )
    spec = tmp_path / "mlp.yaml"
    spec.write_text(
        "input: {shape: [256]}\nlayers:\n  - {type: dense, units: 256, activation: tanh, "
        "repeat: 3}\n"
    )
    yaml_data = _run_json(cli, str(spec), tmp_path / "y", *args)
    for ours, theirs in zip(torch_data["layers"], yaml_data["layers"], strict=True):
        assert ours["weight_shape"] == theirs["weight_shape"]
        assert ours["init"] == "glorot_uniform"
        for key in ("weight_var", "preact_var", "act_var", "grad_var", "weight_grad_var"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4), key
        assert ours["saturated_frac"] == pytest.approx(theirs["saturated_frac"], abs=1e-3)
    assert torch_data["summary"]["forward"]["verdict"] == yaml_data["summary"]["forward"]["verdict"]


def test_seeds_reproduce_and_differ(cli: Any, models_file: Path, tmp_path: Path) -> None:
    target = f"{models_file}:make_transformer"
    a = _run_json(cli, target, tmp_path / "a", "--input-shape", "4,32", "--batch", "4")
    b = _run_json(cli, target, tmp_path / "b", "--input-shape", "4,32", "--batch", "4")
    c = _run_json(
        cli, target, tmp_path / "c", "--input-shape", "4,32", "--batch", "4", "--seed", "1"
    )
    assert a["layers"] == b["layers"]
    assert a["layers"] != c["layers"]
    many = _run_json(
        cli, target, tmp_path / "d", "--input-shape", "4,32", "--batch", "4", "--seeds", "2"
    )
    assert many["seeds"] == 2 and many["layers"][0]["spread"] is not None


def test_kwargs_input_file_and_dotted_module(
    cli: Any, models_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _run_json(
        cli,
        f"{models_file}:make_mlp",
        tmp_path / "k",
        "--input-shape",
        "32",
        "--kwargs",
        "width=32,depth=2",
        "--batch",
        "8",
    )
    assert [row["weight_shape"] for row in data["layers"]] == [[32, 32], [32, 32]]
    batch = np.random.default_rng(0).standard_normal((10, 32)).astype(np.float32) * 3
    npy = tmp_path / "x.npy"
    np.save(npy, batch)
    from_file = _run_json(
        cli, f"{models_file}:make_mlp", tmp_path / "n", "--input", str(npy), "--kwargs", "width=32"
    )
    assert from_file["batch"] == 10
    first = from_file["layers"][0]
    assert first["preact_var"] > 1.5 * data["layers"][0]["preact_var"]  # input variance 9
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    dotted = _run_json(
        cli, "mypkg.nets:make_mlp", tmp_path / "m", "--input-shape", "16", "--kwargs", "width=16"
    )
    assert len(dotted["layers"]) == 3


def test_prints_of_user_code_keep_json_clean(cli: Any, models_file: Path, tmp_path: Path) -> None:
    result = cli(
        "run", f"{models_file}:make_noisy", "--input-shape", "16", "--json", "--out", str(tmp_path)
    )
    assert result.code == 0
    assert json.loads(result.out)["name"] == "make_noisy"
    assert "building the model" in result.err


def test_plots_and_table(cli: Any, models_file: Path, tmp_path: Path) -> None:
    result = cli(
        "run",
        f"{models_file}:make_transformer",
        "--input-shape",
        "4,32",
        "--batch",
        "4",
        "--out",
        str(tmp_path / "p"),
    )
    assert result.code == 0, result.err
    assert "attn" in result.out and "forward :" in result.out
    written = sorted(p.name for p in (tmp_path / "p").glob("*/*"))
    assert written == [
        "activation_histograms.png",
        "gradient_histograms.png",
        "stats.csv",
        "stats.json",
        "variance_by_layer.png",
    ]


@pytest.mark.parametrize(
    ("suffix", "args", "code", "expected"),
    [
        (":make_broken", ("--input-shape", "4"), 1, "the factory raised ValueError: width must"),
        (":make_mlp", ("--input-shape", "5"), 1, "forward failed on input (256, 5)"),
        (":make_not_a_module", ("--input-shape", "4"), 1, "not a torch.nn.Module"),
        (":make_exit", ("--input-shape", "4"), 1, "the factory raised SystemExit: 3"),
        (":make_nothing", ("--input-shape", "4"), 1, "has no 'make_nothing'"),
        ("", ("--input-shape", "4"), 2, "name the factory in the file"),
        (":make_mlp", (), 2, "needs --input-shape"),
        (":make_mlp", ("--input-shape", "4", "--kwargs", "width"), 2, "--kwargs 'width'"),
        (
            ":make_mlp",
            ("--input-shape", "4", "--kwargs", "width='abc'"),
            1,
            "(called with width='abc' from --kwargs; check those values)",
        ),
        (":make_mlp", ("--input-shape", "4", "--init", "he_normall"), 2, "--init"),
    ],
)
def test_torch_errors_are_one_line(
    cli: Any,
    models_file: Path,
    tmp_path: Path,
    suffix: str,
    args: tuple[str, ...],
    code: int,
    expected: str,
) -> None:
    out = tmp_path / "out"
    result = cli("run", f"{models_file}{suffix}", "--out", str(out), *args)
    assert result.code == code, result.err
    assert expected in result.err
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert not out.exists()


def test_yaml_run_never_imports_torch(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from initcli.cli import main\n"
        f"code = main(['run', 'configs/mlp_tanh.yaml', '--batch', '8', '--no-plots', '--out', "
        f"{str(tmp_path)!r}, '--json'])\n"
        "assert code == 0\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'keras' not in sys.modules, 'keras imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_an_activation_after_an_inplace_add_is_not_the_layers_own(
    cli: Any, models_file: Path, tmp_path: Path
) -> None:
    """torchvision's BasicBlock: `out += identity; relu(out)` hands bn2's output tensor to
    the relu after the add. relu(bn2 + x) is not bn2's activation; relu(bn1) is bn1's."""
    data = _run_json(
        cli, f"{models_file}:make_basic_block", tmp_path / "o", "--input-shape", "4,6,6"
    )
    rows = {row["name"]: row for row in data["layers"]}
    assert rows["bn1"]["activation"] == "relu" and rows["bn1"]["act_var"] < 0.5
    assert rows["bn2"]["activation"] == "none"
    assert rows["bn2"]["act_var"] == rows["bn2"]["preact_var"]


def test_rows_follow_the_order_modules_ran_in(cli: Any, models_file: Path, tmp_path: Path) -> None:
    """nn.TransformerEncoderLayer registers norm1 after linear2; post-LN runs it first."""
    data = _run_json(
        cli, f"{models_file}:make_encoder_layer", tmp_path / "o", "--input-shape", "5,16"
    )
    names = [row["name"] for row in data["layers"]]
    assert names == ["self_attn", "norm1", "linear1", "linear2", "norm2"]
    assert [row["index"] for row in data["layers"]] == [1, 2, 3, 4, 5]


def test_parameters_beside_child_modules_are_left_out_with_a_note(
    cli: Any, models_file: Path, tmp_path: Path
) -> None:
    data = _run_json(cli, f"{models_file}:make_own_weight", tmp_path / "o", "--input-shape", "8")
    assert [row["name"] for row in data["layers"]] == ["fc1", "fc2"]
    assert any("the parameters w of (model), held beside" in n for n in data["summary"]["notes"])


def test_a_recurrent_module_is_refused_in_one_line(
    cli: Any, models_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = cli("run", f"{models_file}:make_gru", "--input-shape", "5,8", "--out", str(out))
    assert result.code == 1
    assert "module '1' is an nn.GRU: recurrent modules are not measured" in result.err
    assert result.err.count("\n") == 1 and not out.exists()


def test_a_module_no_gradient_reaches_is_not_called_vanishing(
    cli: Any, models_file: Path, tmp_path: Path
) -> None:
    """The loss is sum(first output * G): the aux head of a tuple output gets no gradient,
    which is not a vanishing one."""
    data = _run_json(cli, f"{models_file}:make_two_heads", tmp_path / "o", "--input-shape", "8")
    main, aux = data["layers"]
    assert main["grad_var"] > 0 and aux["grad_var"] is None
    assert data["summary"]["backward"]["verdict"] == "stable"
    assert any(note.startswith("no gradient reaches aux") for note in data["summary"]["notes"])


def test_the_backward_span_names_the_real_layers_around_one_without_gradient(
    cli: Any, models_file: Path, tmp_path: Path
) -> None:
    data = _run_json(cli, f"{models_file}:make_mid_aux", tmp_path / "o", "--input-shape", "8")
    assert [row["name"] for row in data["layers"]] == ["a", "aux", "b", "c"]
    assert data["layers"][1]["grad_var"] is None
    assert data["summary"]["backward"]["message"].endswith("from layer 4 to layer 1")
