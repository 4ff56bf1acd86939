"""``initcli fans``, ``initcli sample`` and ``initcli list`` through ``main([...])``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from initcli.cli import main
from initcli.initializers import REGISTRY, resolve_initializer


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    assert err == ""
    return json.loads(out)


# --- fans ------------------------------------------------------------------------------------
def test_fans_json_torch(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, "fans", "--shape", "64,3,7,7")
    assert result["shape"] == [64, 3, 7, 7]
    assert result["layout"] == "torch"
    assert (result["fan_in"], result["fan_out"], result["receptive_field"]) == (147, 3136, 49)
    he = result["scales"]["he"]
    assert he["std"] == pytest.approx(math.sqrt(2 / 147))
    assert he["limit"] == pytest.approx(math.sqrt(6 / 147))
    assert result["scales"]["glorot"]["limit"] == pytest.approx(math.sqrt(6 / (147 + 3136)))
    assert result["scales"]["lecun"]["std"] == pytest.approx(1 / math.sqrt(147))
    assert result["scales"]["torch_default"]["limit"] == pytest.approx(1 / math.sqrt(147))


@pytest.mark.parametrize("layout", ["keras", "jax"])
def test_fans_json_keras_layout(capsys: pytest.CaptureFixture[str], layout: str) -> None:
    result = run_json(capsys, "fans", "--shape", "64,3,7,7", "--layout", layout)
    assert (result["fan_in"], result["fan_out"], result["receptive_field"]) == (1344, 1344, 192)


def test_fans_rank_one(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, "fans", "--shape", "10", "--layout", "keras")
    assert (result["fan_in"], result["fan_out"]) == (10, 10)
    code, out, err = run(capsys, "fans", "--shape", "10")
    assert code == 2 and out == ""
    assert "PyTorch computes fans only for weights with at least 2 dimensions" in err


def test_fans_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fans", "--shape", "64,3,7,7")
    assert code == 0
    for piece in ("147", "3136", "49", "glorot", "he", "lecun", "keras layout give fan_in=1344"):
        assert piece in out


# --- sample ----------------------------------------------------------------------------------
def test_sample_json_keys_and_values(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, "sample", "he_normal", "--shape", "256,128", "--seed", "1")
    for key in ("init", "shape", "fan_in", "fan_out", "mean", "std", "min", "max", "expected_std"):
        assert key in result
    assert result["init"] == "he_normal"
    assert (result["fan_in"], result["fan_out"]) == (128, 256)
    expected = math.sqrt(2 / 128)
    assert result["expected_std"] == pytest.approx(expected, rel=1e-12)
    limit = 2 * expected / 0.87962566103423978
    assert result["expected_min"] == pytest.approx(-limit)
    n = 256 * 128
    assert abs(result["std"] - expected) < 6 * expected / math.sqrt(2 * n)
    assert -limit <= result["min"] < result["max"] <= limit


def test_sample_matches_library_draw(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "out" / "w.npy"
    spec = "keras.glorot_normal"
    result = run_json(
        capsys, "sample", spec, "--shape", "3,3,16,32", "--layout", "keras", "--save", str(path)
    )
    saved = np.load(path)
    drawn = resolve_initializer(spec).sample((3, 3, 16, 32), np.random.default_rng(0), "keras")
    np.testing.assert_array_equal(saved, drawn)
    assert result["saved"] == str(path)
    assert result["std"] == pytest.approx(float(saved.astype(np.float64).std()), rel=1e-9)
    assert result["min"] == float(saved.min())


def test_sample_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for spec, shape in [("sparse(sparsity=0.8)", "64,32"), ("ones", "4,4"), ("he_uniform", "8,8")]:
        path = tmp_path / f"{spec[:6]}.png"
        code, out, err = run(capsys, "sample", spec, "--shape", shape, "--plot", str(path))
        assert code == 0, err
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "histogram written to" in out
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


@pytest.mark.parametrize("flag", ["--save", "--plot"])
def test_sample_never_replaces_a_file_without_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str
) -> None:
    mine = tmp_path / ("mine.npy" if flag == "--save" else "mine.png")
    mine.write_text("precious")
    other = tmp_path / ("other.png" if flag == "--save" else "other.npy")
    other_flag = "--plot" if flag == "--save" else "--save"
    args = ["sample", "he_normal", "--shape", "8,8", flag, str(mine), other_flag, str(other)]
    code, out, err = run(capsys, *args)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and f"{flag} {str(mine)!r} exists; use --force" in err
    assert mine.read_text() == "precious"
    assert not other.exists()  # refused before anything was written
    code, out, err = run(capsys, *args, "--force")
    assert code == 0, err
    assert mine.read_bytes()[:6] in (b"\x93NUMPY", b"\x89PNG\r\n")


def test_sample_save_wants_the_npy_suffix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "notes.md"
    code, _, err = run(capsys, "sample", "he_normal", "--shape", "8,8", "--save", str(target))
    assert code == 2 and "end the name with .npy" in err
    assert not target.exists()


def test_sample_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sample", "torch.xavier_normal", "--shape", "64,32")
    assert code == 0
    for piece in ("torch.xavier_normal", "untruncated", "fan_in = 32", "empirical", "expected"):
        assert piece in out


def test_sample_non_fan_initializer_on_a_vector(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, "sample", "torch.normal(std=0.5)", "--shape", "1000")
    assert result["fan_in"] is None and result["expected_std"] == 0.5  # PyTorch: no rank-1 fans
    result = run_json(capsys, "sample", "normal(std=0.5)", "--shape", "1000")
    assert result["fan_in"] == result["fan_out"] == 1000  # bare names: Keras' rank-1 rule


@pytest.mark.parametrize(
    ("args", "pieces"),
    [
        (["sample", "he_norml", "--shape", "3,3"], ["did you mean he_normal?"]),
        (["sample", "he_normal(gain=2)", "--shape", "3,3"], ["unknown parameter 'gain'"]),
        (["sample", "random_normal(std=-1)", "--shape", "3,3"], ["std=-1", "[0.0, inf)"]),
        (["sample", "torch.sparse(sparsity=2)", "--shape", "3,3"], ["sparsity=2", "[0.0, 1.0)"]),
        (["sample", "he_normal", "--shape", "64,x,7"], ["'64,x,7'", "'x'"]),
        (["sample", "he_normal", "--shape", "0,3"], ["'0,3'", "size 0"]),
        (["sample", "he_normal", "--shape", "-1"], ["'-1'"]),
        (["sample", "he_normal", "--shape", ""], ["--shape ''", "empty"]),
        (["fans", "--shape", "64,x,7"], ["'x'"]),
        (["fans", "--shape", "0,3"], ["size 0"]),
        (["fans", "--shape", "-1"], ["'-1'"]),
        (["fans", "--shape", ""], ["empty"]),
        (["fans", "--shape", "3,3", "--layout", "tf"], ["--layout 'tf'", "torch, keras, jax"]),
        (["sample", "torch.kaiming_normal", "--shape", "10"], ["rank 1", "PyTorch"]),
        (["sample", "identity", "--shape", "8,4,3,3"], ["2-D weight"]),
        (["sample", "he_normal", "--shape", "3,3", "--seed", "-1"], ["--seed"]),
        (["sample", "he_normal", "--shape", "65536,65536"], ["more than initcli draws at once"]),
    ],
)
def test_bad_input_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], pieces: list[str]
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("initcli: error: ")
    for piece in pieces:
        assert piece in err


# --- list ------------------------------------------------------------------------------------
def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, "list")
    names = [row["name"] for row in result["initializers"]]
    assert names == list(REGISTRY)
    he = next(row for row in result["initializers"] if row["name"] == "he_normal")
    assert {"kaiming_normal", "he", "kaiming", "msra"} <= set(he["aliases"])
    assert he["distribution"] == "truncated normal" and he["mode"] == "fan_in"
    assert [p["name"] for p in he["params"]] == ["a", "mode", "nonlinearity"]
    sparse = next(row for row in result["initializers"] if row["name"] == "torch.sparse")
    assert sparse["params"][0]["required"] is True
    for row in result["initializers"]:  # what list prints, run accepts
        resolve_initializer(row["example"])
    topics = [row["topic"] for row in result["contrast"]]
    assert "xavier_normal / glorot_normal" in topics
    xavier = result["contrast"][topics.index("xavier_normal / glorot_normal")]
    assert "untruncated" in xavier["torch"] and "truncated" in xavier["keras_tf2_jax"]
    assert "Keras" in result["bare_names"]


def test_list_activations(capsys: pytest.CaptureFixture[str]) -> None:
    activations = pytest.importorskip("initcli.activations")
    result = run_json(capsys, "list")
    assert [row["name"] for row in result["activations"]] == [
        act.name for act in activations.list_activations()
    ]


def test_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    for piece in ("PyTorch", "Keras 3", "TensorFlow 1", "JAX", "Same name, different meaning"):
        assert piece in out
    assert "mean + [a, b] std" in out  # rich markup must not eat brackets


@pytest.mark.parametrize("command", ["fans", "sample", "list"])
def test_help_shows_an_example(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"Example: initcli {command}" in out
