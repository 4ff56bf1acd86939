"""Keras model configs -> initcli specs, checked against Keras 3 itself (KERAS_BACKEND=numpy).

For models of several kinds, saved with ``to_json()`` and as ``.keras``:

- the converted spec's weight shapes are Keras's kernels moved to PyTorch layout, with the
  same fans, and every init law has exactly the variance Keras's initializer defines (from
  an independent table of the Keras formulas), which Keras's own sampled kernels match
  within sampling error;
- loading Keras's own sampled weights into initcli's network (kernels transposed, the dense
  after a Flatten permuted from (H, W, C) to (C, H, W) order) reproduces every Keras layer's
  output, and initcli's statistics of them equal the variances of Keras's outputs.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from initcli.fans import compute_fans
from initcli.importers.keras_config import convert_keras, load_keras_spec, to_yaml
from initcli.layers.weighted import WeightedLayer
from initcli.network import build_network
from initcli.network_spec import LAYER_TYPES, load_spec_text
from initcli.propagate import ForwardStep, Parameters, propagate
from initcli.stats import StatsCollector

keras = pytest.importorskip("keras")
TRUNC_STD = 0.87962566103423978  # std of N(0, 1) truncated to (-2, 2)


def _mlp() -> Any:
    init = keras.initializers
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, activation="tanh", kernel_initializer="glorot_normal"),
            keras.layers.Dense(256, activation="relu", kernel_initializer="he_uniform"),
            keras.layers.Dense(
                10,
                kernel_initializer=init.RandomNormal(stddev=0.02, seed=1),
                bias_initializer=init.RandomUniform(-0.1, 0.1),
            ),
        ],
        name="mlp",
    )


def _cnn() -> Any:
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(16, 3, padding="same", kernel_initializer="he_normal"),
            keras.layers.Activation("relu"),
            keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="tanh"),
            keras.layers.Conv2D(
                8,
                3,
                dilation_rate=2,
                activation="elu",
                kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.1),
            ),
            keras.layers.Flatten(),
            keras.layers.Dense(10, kernel_initializer="lecun_normal", use_bias=False),
        ],
        name="cnn",
    )


def _tcn() -> Any:
    vs = keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform")
    x = keras.Input((64, 4))
    h = keras.layers.Conv1D(8, 3, padding="causal", activation="relu")(x)
    h = keras.layers.Conv1D(
        8, 3, padding="causal", dilation_rate=4, activation="relu", kernel_initializer=vs
    )(h)
    h = keras.layers.Conv1D(
        4,
        5,
        strides=2,
        kernel_initializer=keras.initializers.VarianceScaling(0.5, "fan_out", "untruncated_normal"),
    )(h)
    h = keras.layers.Flatten()(h)
    y = keras.layers.Dense(3, activation="sigmoid")(h)
    return keras.Model(x, y, name="tcn")


def _pooled() -> Any:
    return keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(8, 3, activation="tanh"),
            keras.layers.AveragePooling2D((2, 2), strides=1),
            keras.layers.Conv2D(4, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5),
        ],
        name="pooled",
    )


MODELS = {"mlp": _mlp, "cnn": _cnn, "tcn": _tcn, "pooled": _pooled}


def _keras_variance(config: dict[str, Any], fans: Any) -> float:
    """Var of one element of a kernel under a Keras initializer config: Keras's formulas."""
    cls, params = config["class_name"], config["config"]
    fixed = {
        "GlorotUniform": (1.0, "fan_avg"),
        "GlorotNormal": (1.0, "fan_avg"),
        "HeUniform": (2.0, "fan_in"),
        "HeNormal": (2.0, "fan_in"),
        "LecunUniform": (1.0, "fan_in"),
        "LecunNormal": (1.0, "fan_in"),
    }
    if cls in fixed or cls == "VarianceScaling":
        scale, mode = fixed.get(cls, (params.get("scale"), params.get("mode")))
        n = {"fan_in": fans.fan_in, "fan_out": fans.fan_out}.get(
            mode, (fans.fan_in + fans.fan_out) / 2
        )
        return float(scale) / max(1.0, n)  # every distribution is scaled to this variance
    if cls == "RandomNormal":
        return float(params["stddev"]) ** 2
    if cls == "RandomUniform":
        return (float(params["maxval"]) - float(params["minval"])) ** 2 / 12
    if cls == "TruncatedNormal":
        return (TRUNC_STD * float(params["stddev"])) ** 2
    if cls == "Zeros":
        return 0.0
    raise AssertionError(f"no formula for {cls}")


def _torch_layout(kernel: np.ndarray) -> np.ndarray:
    """Keras (*k, in, out) -> PyTorch (out, in, *k)."""
    return np.moveaxis(kernel, (-1, -2), (0, 1)) if kernel.ndim > 2 else kernel.T


@pytest.fixture(params=sorted(MODELS))
def saved(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, Path, Path]:
    model = MODELS[request.param]()
    as_json = tmp_path / f"{request.param}.json"
    as_json.write_text(model.to_json())
    as_zip = tmp_path / f"{request.param}.keras"
    model.save(as_zip)
    return model, as_json, as_zip


def test_converted_spec_has_keras_shapes_fans_and_laws(saved: tuple[Any, Path, Path]) -> None:
    model, as_json, as_zip = saved
    spec_json, _ = load_keras_spec(as_json)
    spec_zip, _ = load_keras_spec(as_zip)
    assert [layer.name for layer in spec_json.layers] == [layer.name for layer in spec_zip.layers]
    network = build_network(spec_json)
    weighted = [layer for layer in network.walk() if isinstance(layer, WeightedLayer)]
    keras_weighted = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]
    assert [layer.name for layer in weighted] == [layer.name for layer in keras_weighted]
    config = json.loads(model.to_json())["config"]["layers"]
    configs = {entry["config"]["name"]: entry["config"] for entry in config}
    for layer, klayer in zip(weighted, keras_weighted, strict=True):
        kernel = np.asarray(klayer.kernel)
        assert layer.weight_shape == _torch_layout(kernel).shape
        keras_fans = compute_fans(kernel.shape, "keras")
        assert layer.fans == keras_fans == compute_fans(layer.weight_shape, "torch")
        assert layer.init is not None and layer.weight_shape is not None
        expected = _keras_variance(configs[layer.name]["kernel_initializer"], keras_fans)
        law = layer.init.distribution(layer.weight_shape)
        assert law.std() ** 2 == pytest.approx(expected, rel=1e-12), layer.name
        # Keras's own draw has that variance, within 5 standard errors of a sample variance
        # (kurtosis <= 3 for these laws: Var(s^2) <= 2 sigma^4 / N).
        tolerance = 5 * math.sqrt(2 / kernel.size)
        assert float(np.var(kernel)) == pytest.approx(expected, rel=tolerance), layer.name
        assert layer.has_bias == klayer.use_bias
        if layer.has_bias:
            assert layer.bias_init is not None
            bias_expected = _keras_variance(configs[layer.name]["bias_initializer"], keras_fans)
            assert layer.bias_init.distribution((layer.weight_shape[0],)).std() ** 2 == (
                pytest.approx(bias_expected, rel=1e-12)
            )


def _keras_weights_in_initcli(model: Any, network: Any) -> Parameters:
    by_name = {layer.name: layer for layer in model.layers}
    by_layer: dict[str, dict[str, np.ndarray]] = {}
    for position, layer in enumerate(network.layers):
        by_layer[layer.name] = {}
        if not isinstance(layer, WeightedLayer):
            continue
        klayer = by_name[layer.name]
        kernel = _torch_layout(np.asarray(klayer.kernel).astype(np.float64))
        before = network.layers[position - 1] if position else None
        if layer.type == "dense" and before is not None and before.type == "flatten":
            channels, *spatial = before.in_shape
            order = np.arange(before.out_shape[0]).reshape(*spatial, channels)
            order = np.moveaxis(order, -1, 0).reshape(-1)  # initcli feature j = Keras order[j]
            kernel = kernel[:, order]
        by_layer[layer.name]["weight"] = np.ascontiguousarray(kernel)
        if klayer.use_bias:
            by_layer[layer.name]["bias"] = np.asarray(klayer.bias).astype(np.float64)
    return Parameters(by_layer, tuple(by_layer))


def test_keras_weights_through_initcli_reproduce_keras_outputs(
    saved: tuple[Any, Path, Path],
) -> None:
    model, as_json, _ = saved
    spec, _ = load_keras_spec(as_json)
    network = build_network(spec)
    params = _keras_weights_in_initcli(model, network)
    rng = np.random.default_rng(0)
    x_keras = rng.standard_normal((64, *model.input_shape[1:]))
    outputs = keras.Model(model.inputs, [layer.output for layer in model.layers])(
        x_keras.astype(np.float32)
    )
    by_name = {
        layer.name: np.asarray(out, dtype=np.float64)
        for layer, out in zip(model.layers, outputs, strict=True)
    }
    # An Activation layer's output is the act of the layer it was merged into.
    for position, layer in enumerate(model.layers[:-1]):
        follower = model.layers[position + 1]
        if type(follower).__name__ == "Activation":
            by_name[layer.name] = by_name[follower.name]
    x = np.moveaxis(x_keras, -1, 1) if x_keras.ndim > 2 else x_keras
    collector = StatsCollector(keep_samples=False)
    steps = 0
    for step in propagate(network, params, np.ascontiguousarray(x), None):
        assert isinstance(step, ForwardStep)
        expected = by_name[step.layer.name]
        expected = np.moveaxis(expected, -1, 1) if expected.ndim > 2 else expected
        np.testing.assert_allclose(step.act, expected, rtol=2e-4, atol=2e-5)
        collector.add(step)
        steps += 1
    assert steps == len(collector.layers) > 0
    for stats in collector.finish():
        expected = by_name[stats.name]
        assert stats.act_var == pytest.approx(float(np.var(expected)), rel=1e-4)
        assert stats.act_mean == pytest.approx(float(np.mean(expected)), abs=1e-4)


def test_cli_runs_keras_json_and_keras_zip_alike(
    saved: tuple[Any, Path, Path], cli: Any, tmp_path: Path
) -> None:
    _, as_json, as_zip = saved
    first = cli("run", str(as_json), "--json", "--no-plots", "--out", str(tmp_path / "a"))
    second = cli("run", str(as_zip), "--json", "--no-plots", "--out", str(tmp_path / "b"))
    assert first.code == second.code == 0, first.err + second.err
    a, b = json.loads(first.out), json.loads(second.out)
    assert a["layers"] == b["layers"]
    assert a["summary"]["forward"]["verdict"] in ("stable", "vanishing", "exploding")
    assert all(layer["init"].startswith("keras.") for layer in a["layers"])


def test_convert_writes_an_editable_spec_that_runs_the_same(
    saved: tuple[Any, Path, Path], cli: Any, tmp_path: Path
) -> None:
    _, as_json, _ = saved
    target = tmp_path / "spec.yaml"
    result = cli("convert", str(as_json), "-o", str(target))
    assert result.code == 0, result.err
    assert target.read_text().startswith("# Converted by initcli from")
    again = cli("convert", str(as_json), "-o", str(target))
    assert again.code == 1 and "--force" in again.err
    from_yaml = cli("run", str(target), "--json", "--no-plots", "--out", str(tmp_path / "y"))
    from_json = cli("run", str(as_json), "--json", "--no-plots", "--out", str(tmp_path / "j"))
    assert from_yaml.code == from_json.code == 0
    assert json.loads(from_yaml.out)["layers"] == json.loads(from_json.out)["layers"]


def test_activation_layers_merge_and_seeds_are_noted(tmp_path: Path) -> None:
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(
                8, kernel_initializer=keras.initializers.HeNormal(seed=3), name="d1"
            ),
            keras.layers.LeakyReLU(negative_slope=0.1),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(4, activation="gelu", name="d2"),
        ]
    )
    path = tmp_path / "m.json"
    path.write_text(model.to_json())
    converted = convert_keras(path)
    layers = converted.spec["layers"]
    assert [entry["name"] for entry in layers] == ["d1", "d2"]
    assert layers[0]["activation"] == "leaky_relu(negative_slope=0.1)"
    assert layers[0].get("init", converted.spec["init"]) == "keras.he_normal"
    assert layers[1]["activation"] == "gelu"
    assert any("seed" in note for note in converted.notes)
    assert any("Dropout" in note for note in converted.notes)
    spec = load_spec_text(to_yaml(converted), "m.json", "m")
    assert spec.layers[0].activation == "leaky_relu(negative_slope=0.1)"


def _residual_model() -> Any:
    x = keras.Input((16,))
    h = keras.layers.Dense(16, activation="relu", name="up")(x)
    h = keras.layers.Dense(16, name="down")(h)
    y = keras.layers.Add(name="add")([x, h])
    y = keras.layers.LayerNormalization(epsilon=1e-5, name="ln")(y)
    y = keras.layers.Dense(16, name="proj")(y)
    y = keras.layers.BatchNormalization(name="bn")(y)
    return keras.Model(x, y)


def test_residual_and_norm_layers_convert_to_issue11_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from initcli.importers import keras_config

    kinds = (*LAYER_TYPES, "residual", "layernorm", "batchnorm")
    monkeypatch.setattr(keras_config, "LAYER_TYPES", kinds)
    path = tmp_path / "res.json"
    path.write_text(_residual_model().to_json())
    layers = convert_keras(path).spec["layers"]
    assert layers[0]["type"] == "residual"
    assert layers[0]["shortcut"] == "identity" and layers[0]["scale"] == 1.0
    assert [inner["name"] for inner in layers[0]["layers"]] == ["up", "down"]
    assert layers[1] == {"type": "layernorm", "name": "ln", "eps": 1e-5}
    assert layers[3] == {"type": "batchnorm", "name": "bn", "eps": 1e-3}


def test_residual_model_runs(tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "res.json"
    path.write_text(_residual_model().to_json())
    result = cli("run", str(path), "--json", "--no-plots", "--out", str(tmp_path / "o"))
    assert result.code == 0, result.err


# --- errors: one line, exit 1, nothing written ---------------------------------------------


def _dense_model_json(**dense: Any) -> str:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head", **dense)])
    return str(model.to_json())


def _bad_cases(tmp_path: Path) -> list[tuple[Path, str]]:
    cases: list[tuple[Path, str]] = []
    broken = tmp_path / "broken.json"
    broken.write_text('{"class_name": "Sequential",\n  "config": {"layers": [}\n}')
    cases.append((broken, "broken.json:2:"))
    nozip = tmp_path / "noconfig.keras"
    with zipfile.ZipFile(nozip, "w") as archive:
        archive.writestr("metadata.json", "{}")
    cases.append((nozip, "no config.json"))
    unsupported = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.DepthwiseConv2D(3, name="dw"), keras.layers.Flatten()]
    )
    path = tmp_path / "depthwise.json"
    path.write_text(unsupported.to_json())
    cases.append((path, "layer 'dw' (DepthwiseConv2D)"))
    same_pool = keras.Sequential(
        [keras.Input((7, 7, 3)), keras.layers.MaxPooling2D(name="pool", padding="same")]
    )
    path = tmp_path / "pool.json"
    path.write_text(same_pool.to_json())
    cases.append((path, "layer 'pool' (MaxPooling2D): padding 'same'"))
    relu_after_pool = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.ReLU(name="act"),
        ]
    )
    path = tmp_path / "relu_after_pool.json"
    path.write_text(relu_after_pool.to_json())
    cases.append((path, "an activation right after the pooling layer 'pool'"))
    bad_init = json.loads(_dense_model_json())
    bad_init["config"]["layers"][1]["config"]["kernel_initializer"] = {
        "class_name": "MyInit",
        "config": {},
    }
    path = tmp_path / "init.json"
    path.write_text(json.dumps(bad_init))
    cases.append((path, "layer 'head' (Dense): kernel_initializer 'MyInit'"))
    rank3 = keras.Sequential([keras.Input((5, 4)), keras.layers.Dense(3, name="last_axis")])
    path = tmp_path / "rank3.json"
    path.write_text(rank3.to_json())
    cases.append((path, "layer 'last_axis' (Dense): Dense on a 3-D input"))
    first = keras.Sequential(
        [keras.Input((3, 8, 8)), keras.layers.Conv2D(4, 3, data_format="channels_first")]
    )
    path = tmp_path / "cf.json"
    path.write_text(first.to_json())
    cases.append((path, "data_format 'channels_first'"))
    softmax = tmp_path / "softmax.json"
    softmax.write_text(_dense_model_json(activation="softmax"))
    cases.append((softmax, "activation 'softmax' mixes the units"))
    swish6 = tmp_path / "relu6.json"
    swish6.write_text(_dense_model_json(activation="relu6"))
    cases.append((swish6, "activation 'relu6' is not supported"))
    grouped = keras.Sequential(
        [keras.Input((8, 8, 4)), keras.layers.Conv2D(4, 3, groups=2, name="grouped")]
    )
    path = tmp_path / "grouped.json"
    path.write_text(grouped.to_json())
    cases.append((path, "layer 'grouped' (Conv2D): groups=2"))
    x = keras.Input((8,))
    branch = keras.layers.Dense(4, name="left")(x)
    other = keras.layers.Dense(4, name="right")(x)
    joined = keras.layers.Concatenate(name="cat")([branch, other])
    path = tmp_path / "branches.json"
    path.write_text(keras.Model(x, joined).to_json())
    cases.append((path, "layer 'right' (Dense): takes its input from"))
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    path = tmp_path / "unbuilt.json"
    path.write_text(unbuilt.to_json())
    cases.append((path, "the model has no input shape"))
    return cases


def test_bad_keras_models_are_one_line_errors(tmp_path: Path, cli: Any) -> None:
    out = tmp_path / "out"
    for path, expected in _bad_cases(tmp_path):
        for command in (("run", str(path), "--out", str(out)), ("convert", str(path))):
            result = cli(*command)
            assert result.code == 1, (path, result.err)
            assert expected in result.err, result.err
            assert result.err.count("\n") == 1 and "Traceback" not in result.err
            assert result.out == ""
    assert not out.exists()


def test_torch_flags_are_refused_for_keras_and_yaml(tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "m.json"
    path.write_text(_dense_model_json())
    result = cli("run", str(path), "--input-shape", "4")
    assert result.code == 2 and "--input-shape is for a PyTorch model" in result.err
    yaml_result = cli("run", "configs/mlp_tanh.yaml", "--kwargs", "depth=2")
    assert yaml_result.code == 2 and "YAML spec" in yaml_result.err


KERAS2_FUNCTIONAL = {
    "class_name": "Functional",
    "config": {
        "name": "model",
        "layers": [
            {
                "class_name": "InputLayer",
                "config": {"batch_input_shape": [None, 12, 3], "name": "input_1"},
                "name": "input_1",
                "inbound_nodes": [],
            },
            {
                "class_name": "Conv1D",
                "config": {
                    "name": "conv1d",
                    "filters": 6,
                    "kernel_size": [3],
                    "strides": [1],
                    "padding": "causal",
                    "data_format": "channels_last",
                    "dilation_rate": [2],
                    "groups": 1,
                    "activation": "relu",
                    "use_bias": True,
                    "kernel_initializer": {"class_name": "HeUniform", "config": {"seed": None}},
                    "bias_initializer": {"class_name": "Zeros", "config": {}},
                },
                "name": "conv1d",
                "inbound_nodes": [[["input_1", 0, 0, {}]]],
            },
            {
                "class_name": "Flatten",
                "config": {"name": "flatten", "data_format": "channels_last"},
                "name": "flatten",
                "inbound_nodes": [[["conv1d", 0, 0, {}]]],
            },
            {
                "class_name": "Dense",
                "config": {
                    "name": "dense",
                    "units": 2,
                    "activation": "linear",
                    "use_bias": False,
                    "kernel_initializer": "lecun_normal",
                },
                "name": "dense",
                "inbound_nodes": [[["flatten", 0, 0, {}]]],
            },
        ],
        "input_layers": [["input_1", 0, 0]],
        "output_layers": [["dense", 0, 0]],
    },
}


def test_keras2_tf_keras_configs_convert(tmp_path: Path) -> None:
    """tf.keras / Keras 2 JSON: batch_input_shape, nested inbound_nodes, string initializers."""
    path = tmp_path / "keras2.json"
    path.write_text(json.dumps(KERAS2_FUNCTIONAL))
    spec, _ = load_keras_spec(path)
    network = build_network(spec)
    assert spec.input_shape == (3, 12)
    conv, _, dense = network.layers
    assert conv.weight_shape == (6, 3, 3) and conv.out_shape == (6, 12)  # causal keeps length
    assert conv.pads == ((4, 0),)
    assert conv.init is not None and conv.init.spec == "keras.he_uniform"
    assert dense.weight_shape == (2, 72) and not dense.has_bias
    assert dense.init is not None and dense.init.spec == "keras.lecun_normal"
