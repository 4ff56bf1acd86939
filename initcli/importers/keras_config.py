"""A Keras model config (``model.to_json()`` or a ``.keras`` zip) -> initcli's network spec.

Only JSON is read: Keras is never imported. A Sequential model, or a functional model that
is a chain of layers (plus ``Add`` of a block's input and its output, a residual connection),
becomes a plain dict in the YAML spec schema (README, "Network spec"), with every kernel and
bias initializer mapped to the ``keras.*`` initializer of the same law:

- Keras data is channels-last ``(H, W, C)`` and kernels ``(*k, in, out)``; initcli specs
  are channels-first ``[C, H, W]`` with PyTorch-layout weights ``(out, in, *k)``. Fans are
  the same numbers in both layouts, so every init law is reproduced exactly.
- ``Flatten`` orders features (H, W, C) in Keras and (C, H, W) in initcli: the following
  Dense sees the same values permuted, and its i.i.d. weights make the statistics identical
  in distribution.
- ``Activation`` (and ``ReLU``/``LeakyReLU``/``ELU``) layers become the ``activation`` of the
  layer before them. Seeds in initializer configs are ignored (initcli's ``--seed`` rules).

Anything initcli cannot represent is refused with one line naming the Keras layer's name
and class, never skipped silently. Validation happens here, on the Keras side, so errors
point at the layer the user wrote, not at a YAML line of a file they never saw.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from initcli.errors import EXIT_BAD_DATA, InitcliError
from initcli.network_spec import LAYER_TYPES, NetworkSpec, load_spec_text
from initcli.spec_strings import Value, format_call

MAX_CONFIG_BYTES = 50_000_000  # config.json of a big model is a few MB

# Keras activation names -> initcli activation SPECs (same function, Keras's defaults).
ACTIVATIONS = {
    "linear": "linear",
    "relu": "relu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "elu": "elu",
    "selu": "selu",
    "gelu": "gelu",  # keras.activations.gelu(approximate=False): the erf form
    "silu": "silu",
    "swish": "silu",
    "softplus": "softplus",
    "softsign": "softsign",
    "mish": "mish",
    "leaky_relu": "leaky_relu(negative_slope=0.2)",  # keras.activations.leaky_relu default
    "hard_tanh": "hard_tanh",
}

# Keras initializer classes (and their snake_case string forms) -> keras.* registry names
# with the config keys they take.
_INITIALIZERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Zeros": ("zeros", ()),
    "Ones": ("ones", ()),
    "Constant": ("constant", ("value",)),
    "RandomNormal": ("random_normal", ("mean", "stddev")),
    "RandomUniform": ("random_uniform", ("minval", "maxval")),
    "TruncatedNormal": ("truncated_normal", ("mean", "stddev")),
    "VarianceScaling": ("variance_scaling", ("scale", "mode", "distribution")),
    "GlorotUniform": ("glorot_uniform", ()),
    "GlorotNormal": ("glorot_normal", ()),
    "HeUniform": ("he_uniform", ()),
    "HeNormal": ("he_normal", ()),
    "LecunUniform": ("lecun_uniform", ()),
    "LecunNormal": ("lecun_normal", ()),
    "Orthogonal": ("orthogonal", ("gain",)),
    "Identity": ("identity", ("gain",)),
    "IdentityInitializer": ("identity", ("gain",)),
}
_INIT_BY_STRING = {name: cls for cls, (name, _) in _INITIALIZERS.items()}
_INIT_BY_STRING.update({"zero": "Zeros", "one": "Ones", "normal": "RandomNormal"})
_INIT_BY_STRING.update({"uniform": "RandomUniform", "glorot": "GlorotUniform"})
_IGNORED_INIT_KEYS = ("seed", "input_axes", "output_axes", "dtype")

SUPPORTED_LAYERS = (
    "InputLayer, Dense, Conv1D, Conv2D, Flatten, MaxPooling2D, AveragePooling2D, "
    "GlobalAveragePooling1D/2D, Activation, ReLU, LeakyReLU, ELU, LayerNormalization, "
    "BatchNormalization, Dropout, Add"
)
_POOLS = ("maxpool2d", "avgpool2d", "global_avgpool")
_DEFAULT_MODEL_NAME = re.compile(r"(sequential|functional|model)(_\d+)?")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")


@dataclass
class Converted:
    """The converted spec (YAML schema) and what a reader should know about the conversion."""

    spec: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    source: str = ""
    kind: str = ""  # "Sequential" | "Functional"


class _Layer:
    """One Keras layer of the config: name, class and config, for messages and lookups."""

    def __init__(self, raw: Any, shown: str, position: int) -> None:
        if not isinstance(raw, dict) or not isinstance(raw.get("config", {}), dict):
            raise InitcliError(
                f"{shown}: layers[{position}] is not a Keras layer config (a mapping with "
                "class_name and config); is this a Keras model JSON?",
                EXIT_BAD_DATA,
            )
        self.cls = str(raw.get("class_name", "?"))
        self.config: dict[str, Any] = raw.get("config", {}) or {}
        self.name = str(self.config.get("name", raw.get("name", f"layer{position}")))
        self.raw = raw
        self.shown = shown

    def error(self, message: str) -> InitcliError:
        text = f"{self.shown}: layer {self.name!r} ({self.cls}): {message}"
        return InitcliError("".join(c if c.isprintable() else " " for c in text), EXIT_BAD_DATA)

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)


# --- reading ---------------------------------------------------------------------------------


def read_model_config(path: Path) -> tuple[dict[str, Any], str]:
    """The model config dict of ``model.json`` or ``model.keras``, and the path as shown."""
    shown = str(path) if str(path).isprintable() else repr(str(path))
    try:
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "not found"
            raise InitcliError(
                f"{shown}: Keras model file {what}; give a model.to_json() file or a .keras file",
                EXIT_BAD_DATA,
            )
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise InitcliError(
                f"{shown}: {path.stat().st_size} bytes is too large for a model config "
                f"(limit {MAX_CONFIG_BYTES}); is this the right file?",
                EXIT_BAD_DATA,
            )
        if zipfile.is_zipfile(path):
            text = _zip_config(path, shown)
            where = f"{shown}: config.json"
        else:
            if path.suffix == ".keras":
                raise InitcliError(
                    f"{shown}: not a zip archive, so not a .keras model file; save it with "
                    "model.save('model.keras'), or give model.to_json() as a .json file",
                    EXIT_BAD_DATA,
                )
            text = path.read_bytes().decode("utf-8-sig")
            where = shown
    except UnicodeDecodeError as err:
        raise InitcliError(
            f"{shown}: not UTF-8 text ({err.reason}); give the JSON of model.to_json()",
            EXIT_BAD_DATA,
        ) from None
    except OSError as err:
        raise InitcliError(
            f"{shown}: cannot read the model file: {err.strerror or err}; check the path",
            EXIT_BAD_DATA,
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InitcliError(
            f"{where}:{err.lineno}:{err.colno}: malformed JSON: {err.msg}; give the unmodified "
            "output of model.to_json()",
            EXIT_BAD_DATA,
        ) from None
    except RecursionError:
        raise InitcliError(
            f"{where}: JSON nested too deeply to be a model", EXIT_BAD_DATA
        ) from None
    if not isinstance(data, dict) or "class_name" not in data or "config" not in data:
        raise InitcliError(
            f"{where}: not a Keras model config (expected a JSON object with class_name and "
            "config, as model.to_json() writes)",
            EXIT_BAD_DATA,
        )
    return data, shown


def _zip_config(path: Path, shown: str) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                listed = ", ".join(archive.namelist()[:5]) or "nothing"
                raise InitcliError(
                    f"{shown}: the zip has no config.json (it holds {listed}), so it is not a "
                    ".keras model; save the model with model.save('model.keras')",
                    EXIT_BAD_DATA,
                )
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise InitcliError(
                    f"{shown}: config.json is {info.file_size} bytes, too large for a model config",
                    EXIT_BAD_DATA,
                )
            return archive.read("config.json").decode("utf-8-sig")
    except zipfile.BadZipFile as err:
        raise InitcliError(f"{shown}: broken zip archive: {err}", EXIT_BAD_DATA) from None


# --- initializers and activations -------------------------------------------------------------


def _number(layer: _Layer, what: str, key: str, value: Any) -> Value:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise layer.error(
            f"{what} {key}={value!r} is not a number initcli can use; use a scalar {key}"
        )
    return float(value) if isinstance(value, (int, float)) else value


def initializer_spec(layer: _Layer, key: str, notes: list[str]) -> str:
    """The ``keras.*`` SPEC string of a layer's ``kernel_initializer``/``bias_initializer``."""
    raw = layer.get(key)
    if raw is None:
        default = "GlorotUniform" if key == "kernel_initializer" else "Zeros"
        raw = {"class_name": default, "config": {}}
    if isinstance(raw, str):
        cls = _INIT_BY_STRING.get(raw) or _INIT_BY_STRING.get(raw.lower())
        if cls is None:
            raise layer.error(f"{key} {raw!r} is not an initializer initcli knows; {_init_hint()}")
        raw = {"class_name": cls, "config": {}}
    if not isinstance(raw, dict):
        raise layer.error(f"{key} {raw!r} is not an initializer config")
    cls = str(raw.get("class_name"))
    config = raw.get("config") or {}
    if cls not in _INITIALIZERS or not isinstance(config, dict):
        registered = raw.get("registered_name") or cls
        raise layer.error(
            f"{key} {registered!r} is not an initializer initcli can represent; {_init_hint()}"
        )
    name, params = _INITIALIZERS[cls]
    for axes in ("input_axes", "output_axes"):
        if config.get(axes) is not None:
            raise layer.error(
                f"{key} {cls} sets {axes}={config[axes]!r}; initcli computes fans from the "
                "standard (*k, in, out) layout only: remove it"
            )
    unknown = sorted(set(config) - set(params) - set(_IGNORED_INIT_KEYS))
    if unknown:
        raise layer.error(
            f"{key} {cls} has config key(s) {', '.join(unknown)} initcli does not know"
        )
    if config.get("seed") is not None:
        note = "seeds in Keras initializer configs are ignored: initcli's --seed draws every weight"
        if note not in notes:
            notes.append(note)
    kwargs: dict[str, Value] = {}
    for param in params:
        if param in config and config[param] is not None:
            value = config[param]
            kwargs[param] = (
                value
                if param in ("mode", "distribution")
                else _number(layer, f"{key} {cls}", param, value)
            )
    if isinstance(kwargs.get("value"), str) or isinstance(config.get("value"), list):
        raise layer.error(f"{key} Constant with a non-scalar value is not supported")
    return format_call(f"keras.{name}", kwargs)


def require_kind(layer: _Layer, kind: str) -> None:
    """Refuse, naming the Keras layer, a layer kind this initcli's spec does not have yet."""
    if kind not in LAYER_TYPES:
        raise layer.error(
            f"converts to initcli's {kind!r} layer kind, which this version of initcli does not "
            f"have (it has {', '.join(LAYER_TYPES)}); remove the layer or update initcli"
        )


def _init_hint() -> str:
    return "initcli maps " + ", ".join(
        sorted({c for c in _INITIALIZERS if c != "IdentityInitializer"})
    )


def activation_spec(layer: _Layer, raw: Any) -> str:
    """initcli's SPEC for a Keras activation (a name, or a serialized built-in)."""
    if raw is None:
        return "linear"
    if isinstance(raw, dict):
        raw = raw.get("config", raw.get("class_name")) if raw.get("module") else raw
        if isinstance(raw, dict):
            raise layer.error(
                "a custom activation function is not something initcli can represent; "
                f"use one of {', '.join(ACTIVATIONS)}"
            )
    text = str(raw)
    if text in ("softmax", "log_softmax"):
        raise layer.error(
            f"activation {text!r} mixes the units of an example (it is not elementwise), which "
            "initcli cannot represent; save the model with a linear output layer (softmax "
            "belongs in the loss, e.g. from_logits=True)"
        )
    if text not in ACTIVATIONS:
        raise layer.error(
            f"activation {text!r} is not supported; initcli has {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[text]


# --- layers ----------------------------------------------------------------------------------


def _ints(layer: _Layer, key: str, value: Any, rank: int) -> list[int]:
    values = [value] * rank if isinstance(value, int) else list(value or [])
    if len(values) != rank or not all(isinstance(v, int) and v >= 1 for v in values):
        raise layer.error(f"{key} {value!r} must be {rank} positive integer(s)")
    return values


def _compact(values: list[int]) -> int | list[int]:
    return values[0] if len(set(values)) == 1 else values


def _conv_out(n: int, k: int, s: int, d: int, padding: str) -> int:
    span = d * (k - 1) + 1
    if padding == "same":
        return math.ceil(n / s)
    if padding == "causal":
        return (n - 1) // s + 1
    return (n - span) // s + 1


class _Converter:
    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.notes: list[str] = []
        self.shape: tuple[int, ...] = ()  # current per-example shape, channels-last
        self.kernel_inits: Counter[str] = Counter()
        self.bias_inits: Counter[str] = Counter()

    def input_shape(self, layer: _Layer, batch_shape: Any) -> tuple[int | None, tuple[int, ...]]:
        if not isinstance(batch_shape, list) or len(batch_shape) < 2:
            raise layer.error(
                f"input shape {batch_shape!r} is not (batch, ...dims); build the model with "
                "keras.Input(shape=...)"
            )
        batch, *dims = batch_shape
        if not 1 <= len(dims) <= 3 or not all(isinstance(d, int) and d >= 1 for d in dims):
            raise layer.error(
                f"input shape {tuple(dims)!r} must be 1 to 3 known positive sizes "
                "((features), (length, channels) or (height, width, channels)); give "
                "keras.Input(shape=...) concrete sizes"
            )
        return (batch if isinstance(batch, int) and batch >= 1 else None), tuple(dims)

    def check_data_format(self, layer: _Layer) -> None:
        fmt = layer.get("data_format")
        if fmt not in (None, "channels_last"):
            raise layer.error(
                f"data_format {fmt!r}: initcli reads Keras models in channels_last (the Keras "
                "default); rebuild the model with data_format='channels_last'"
            )

    def weighted_common(self, layer: _Layer, entry: dict[str, Any]) -> dict[str, Any]:
        entry["activation"] = activation_spec(layer, layer.get("activation"))
        kernel = initializer_spec(layer, "kernel_initializer", self.notes)
        entry["init"] = kernel
        self.kernel_inits[kernel] += 1
        if layer.get("use_bias", True):
            bias = initializer_spec(layer, "bias_initializer", self.notes)
            entry["bias_init"] = bias
            self.bias_inits[bias] += 1
        else:
            entry["bias"] = False
        return entry

    def dense(self, layer: _Layer) -> dict[str, Any]:
        units = layer.get("units")
        if not isinstance(units, int) or units < 1:
            raise layer.error(f"units {units!r} must be a positive integer")
        if len(self.shape) != 1:
            raise layer.error(
                f"Dense on a {len(self.shape) + 1}-D input (batch, "
                f"{', '.join(map(str, self.shape))}) acts on the last axis only, which "
                "initcli does not model; add a Flatten before it"
            )
        self.shape = (units,)
        return self.weighted_common(layer, {"type": "dense", "name": layer.name, "units": units})

    def conv(self, layer: _Layer, rank: int) -> dict[str, Any]:
        self.check_data_format(layer)
        kind = f"conv{rank}d"
        if len(self.shape) != rank + 1:
            want = "(length, channels)" if rank == 1 else "(height, width, channels)"
            raise layer.error(f"{layer.cls} needs an input {want} but gets {self.shape}")
        if layer.get("groups", 1) != 1:
            raise layer.error(
                f"groups={layer.get('groups')} (grouped/depthwise convolution) is not "
                "supported; initcli has ordinary convolutions only"
            )
        filters = layer.get("filters")
        if not isinstance(filters, int) or filters < 1:
            raise layer.error(f"filters {filters!r} must be a positive integer")
        kernel = _ints(layer, "kernel_size", layer.get("kernel_size"), rank)
        strides = _ints(layer, "strides", layer.get("strides", 1), rank)
        dilation = _ints(layer, "dilation_rate", layer.get("dilation_rate", 1), rank)
        padding = str(layer.get("padding", "valid")).lower()
        allowed = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        if padding not in allowed:
            raise layer.error(f"padding {padding!r} must be one of {', '.join(allowed)}")
        spatial = self.shape[:-1]
        out = [
            _conv_out(n, k, s, d, padding)
            for n, k, s, d in zip(spatial, kernel, strides, dilation, strict=True)
        ]
        if any(n < 1 for n in out):
            raise layer.error(
                f"kernel {kernel} with dilation {dilation} is larger than its input "
                f"{spatial} (padding {padding!r}); Keras would refuse it too"
            )
        self.shape = (*out, filters)
        entry: dict[str, Any] = {
            "type": kind,
            "name": layer.name,
            "filters": filters,
            "kernel_size": _compact(kernel),
            "stride": _compact(strides),
            "dilation": _compact(dilation),
            "padding": padding,
        }
        return self.weighted_common(layer, entry)

    def pool(self, layer: _Layer) -> dict[str, Any]:
        """MaxPooling2D / AveragePooling2D with padding 'valid': maxpool2d / avgpool2d."""
        self.check_data_format(layer)
        if len(self.shape) != 3:
            raise layer.error(f"{layer.cls} needs an input (height, width, channels) but gets "
                              f"{self.shape}")  # fmt: skip
        kernel = _ints(layer, "pool_size", layer.get("pool_size", 2), 2)
        strides = layer.get("strides")
        stride = kernel if strides is None else _ints(layer, "strides", strides, 2)
        padding = str(layer.get("padding", "valid")).lower()
        if padding != "valid":
            raise layer.error(
                f"padding {padding!r}: Keras pads a pool unevenly and leaves the padding out of "
                "an average; initcli's pools pad as PyTorch does; rebuild with "
                "padding='valid', or convert without it and set padding in the YAML"
            )
        height, width, channels = self.shape
        out = [(n - k) // s + 1 for n, k, s in zip((height, width), kernel, stride, strict=True)]
        if any(n < 1 for n in out):
            raise layer.error(f"pool_size {kernel} is larger than its input {(height, width)}")
        self.shape = (*out, channels)
        kind = "maxpool2d" if layer.cls == "MaxPooling2D" else "avgpool2d"
        return {
            "type": kind,
            "name": layer.name,
            "kernel_size": _compact(kernel),
            "stride": _compact(stride),
        }

    def global_pool(self, layer: _Layer, rank: int) -> dict[str, Any]:
        """GlobalAveragePooling1D/2D (keepdims False): global_avgpool, (channels,) out."""
        self.check_data_format(layer)
        if len(self.shape) != rank + 1:
            want = "(length, channels)" if rank == 1 else "(height, width, channels)"
            raise layer.error(f"{layer.cls} needs an input {want} but gets {self.shape}")
        if layer.get("keepdims", False):
            raise layer.error(
                "keepdims=True keeps 1-sized spatial axes initcli's global_avgpool drops; "
                "rebuild with keepdims=False (the default)"
            )
        self.shape = (self.shape[-1],)
        return {"type": "global_avgpool", "name": layer.name}

    def norm(self, layer: _Layer) -> dict[str, Any]:
        eps = layer.get("epsilon", 1e-3)
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or eps < 0:
            raise layer.error(f"epsilon {eps!r} must be a number >= 0")
        axis = layer.get("axis", -1)
        axes = axis if isinstance(axis, list) else [axis]
        last = len(self.shape)  # Keras axes count the batch axis as 0
        if [a if a < 0 else a - last - 1 for a in axes if isinstance(a, int)] != [-1]:
            raise layer.error(
                f"axis {axis!r}: initcli normalizes over the channel (last) axis only; use axis=-1"
            )
        for key, default in (("gamma_initializer", "Ones"), ("beta_initializer", "Zeros")):
            raw = layer.get(key)
            cls = raw.get("class_name") if isinstance(raw, dict) else raw
            if raw is not None and str(cls).lower() not in (default.lower(), default.lower()[:-1]):
                raise layer.error(
                    f"{key} {cls!r}: initcli's norm layers start at gamma = 1, beta = 0; "
                    f"use {default}"
                )
        if layer.cls == "LayerNormalization":
            if len(self.shape) != 1:
                raise layer.error(
                    f"LayerNormalization on {self.shape} normalizes each position over its "
                    "channels only, which initcli does not model; use it on flat features"
                )
            kind = "rmsnorm" if layer.get("rms_scaling") else "layernorm"
        else:
            kind = "batchnorm"
            note = (
                "BatchNormalization is measured in training mode (batch statistics), as at the "
                "first step of training; Keras's inference mode would use moving mean 0, var 1"
            )
            if note not in self.notes:
                self.notes.append(note)
        require_kind(layer, kind)
        return {"type": kind, "name": layer.name, "eps": float(eps)}

    def activation(self, layer: _Layer, entries: list[dict[str, Any]]) -> None:
        """Attach an activation layer to the layer before it (through a Flatten)."""
        if layer.cls == "Activation":
            spec = activation_spec(layer, layer.get("activation"))
        elif layer.cls == "LeakyReLU":
            slope = layer.get("negative_slope", layer.get("alpha", 0.3))
            spec = f"leaky_relu(negative_slope={float(slope)!r})"
        elif layer.cls == "ELU":
            spec = f"elu(alpha={float(layer.get('alpha', 1.0))!r})"
        else:  # ReLU
            if layer.get("max_value") is not None or layer.get("threshold", 0.0) != 0.0:
                raise layer.error(
                    "ReLU with max_value or threshold is not an activation initcli has; "
                    "use relu or leaky_relu"
                )
            slope = float(layer.get("negative_slope", 0.0))
            spec = "relu" if slope == 0.0 else f"leaky_relu(negative_slope={slope!r})"
        if spec == "linear":
            return
        target = next((entry for entry in reversed(entries) if entry["type"] != "flatten"), None)
        if target is not None and target["type"] in _POOLS:
            raise layer.error(
                f"an activation right after the pooling layer {target['name']!r} cannot be "
                "represented: initcli applies activations inside a dense, conv or norm layer "
                "(after a MaxPooling2D, an increasing activation such as relu, elu or tanh may "
                "move before the pool: they commute; after an average pool they do not)"
            )
        if target is None or target["type"] == "residual":
            where = "an Add (residual) block" if target else "the input"
            raise layer.error(
                f"an activation right after {where} cannot be represented: initcli applies "
                "activations inside a dense, conv or norm layer"
            )
        if target.get("activation", "linear") != "linear":
            raise layer.error(
                f"{target['name']!r} already applies {target['activation']}; initcli applies "
                "one activation per layer"
            )
        target["activation"] = spec


def convert_keras(path: Path) -> Converted:
    """Convert ``model.json`` / ``model.keras`` into initcli's spec schema (a dict)."""
    data, shown = read_model_config(path)
    kind = str(data["class_name"])
    config = data["config"]
    if kind not in ("Sequential", "Functional", "Model") or not isinstance(config, dict):
        raise InitcliError(
            f"{shown}: a Keras {kind} is not a model initcli converts; give a Sequential or a "
            "functional model (a chain of layers)",
            EXIT_BAD_DATA,
        )
    raw_layers = config.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise InitcliError(f"{shown}: the model config has no layers", EXIT_BAD_DATA)
    layers = [_Layer(raw, shown, i) for i, raw in enumerate(raw_layers)]
    converter = _Converter(shown)
    if kind == "Sequential":
        batch, shape, body = _sequential_input(converter, layers, config, shown)
        entries = _chain(converter, body, shape)
    else:
        batch, shape, entries = _functional(converter, layers, config, shown)
    if not any(_weighted(entry) for entry in entries):
        raise InitcliError(
            f"{shown}: the model has no Dense or Conv layer, so there is nothing to initialize",
            EXIT_BAD_DATA,
        )
    model_name = str(config.get("name", ""))
    name = path.stem if _DEFAULT_MODEL_NAME.fullmatch(model_name) else model_name
    if not _NAME.fullmatch(name):
        name = re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip(".-")[:64] or "keras_model"
    init = _most_common(converter.kernel_inits, "keras.glorot_uniform")
    bias_init = _most_common(converter.bias_inits, "keras.zeros")
    _strip_defaults(entries, init, bias_init)
    channels_first = [shape[-1], *shape[:-1]] if len(shape) > 1 else list(shape)
    spec: dict[str, Any] = {"name": name, "input": {"shape": channels_first}}
    if batch is not None:
        spec["batch"] = batch
    spec.update({"init": init, "bias_init": bias_init, "layers": entries})
    return Converted(spec, converter.notes, shown, kind)


def _weighted(entry: dict[str, Any]) -> bool:
    if entry["type"] == "residual":
        return any(_weighted(inner) for inner in entry["layers"])
    return entry["type"] in ("dense", "conv1d", "conv2d")


def _most_common(counts: Counter[str], default: str) -> str:
    return counts.most_common(1)[0][0] if counts else default


def _strip_defaults(entries: list[dict[str, Any]], init: str, bias_init: str) -> None:
    """Drop per-layer inits equal to the spec's defaults, so ``--init`` replaces them."""
    for entry in entries:
        if entry["type"] == "residual":
            _strip_defaults(entry["layers"], init, bias_init)
        if entry.get("init") == init:
            del entry["init"]
        if entry.get("bias_init") == bias_init:
            del entry["bias_init"]


def _sequential_input(
    converter: _Converter, layers: list[_Layer], config: dict[str, Any], shown: str
) -> tuple[int | None, tuple[int, ...], list[_Layer]]:
    first = layers[0]
    if first.cls == "InputLayer":
        shape = first.get("batch_shape", first.get("batch_input_shape"))
        batch, dims = converter.input_shape(first, shape)
        return batch, dims, layers[1:]
    for key in ("batch_shape", "batch_input_shape"):
        if first.get(key) is not None:
            batch, dims = converter.input_shape(first, first.get(key))
            return batch, dims, layers
    build = config.get("build_input_shape")
    if build is not None:
        batch, dims = converter.input_shape(first, build)
        return batch, dims, layers
    raise InitcliError(
        f"{shown}: the model has no input shape; build it first (keras.Input(shape=...) as "
        "its first layer, or model.build(...)) and save it again",
        EXIT_BAD_DATA,
    )


def _chain(
    converter: _Converter, layers: list[_Layer], shape: tuple[int, ...]
) -> list[dict[str, Any]]:
    converter.shape = shape
    entries: list[dict[str, Any]] = []
    for layer in layers:
        _append(converter, layer, entries)
    return entries


def _append(converter: _Converter, layer: _Layer, entries: list[dict[str, Any]]) -> None:
    cls = layer.cls
    if cls == "Dense":
        entries.append(converter.dense(layer))
    elif cls in ("Conv1D", "Conv2D"):
        entries.append(converter.conv(layer, int(cls[4])))
    elif cls in ("MaxPooling2D", "AveragePooling2D"):
        entries.append(converter.pool(layer))
    elif cls in ("GlobalAveragePooling1D", "GlobalAveragePooling2D"):
        entries.append(converter.global_pool(layer, int(cls[-2])))
    elif cls == "Flatten":
        converter.check_data_format(layer)
        converter.shape = (math.prod(converter.shape),)
        entries.append({"type": "flatten", "name": layer.name})
    elif cls in ("Activation", "ReLU", "LeakyReLU", "ELU"):
        converter.activation(layer, entries)
    elif cls in ("LayerNormalization", "BatchNormalization"):
        entries.append(converter.norm(layer))
    elif cls == "Dropout":
        note = (
            f"Dropout {layer.name!r} is left out: it is the identity at inference, and at "
            "initialization it only rescales what it keeps"
        )
        converter.notes.append(note)
    elif cls == "InputLayer":
        raise layer.error("a second input layer: initcli converts single-input models only")
    elif cls == "Add":
        raise layer.error(
            "Add is supported only in functional models, adding a block's input to its output"
        )
    else:
        raise layer.error(f"this layer type is not supported; initcli converts {SUPPORTED_LAYERS}")


def _history(value: Any) -> list[str]:
    """The producing layer names of an inbound-node argument (Keras 3 and Keras 2 forms)."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = value.get("config", {}).get("keras_history", [])
        return [str(history[0])] if history else []
    if isinstance(value, list):
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
            return [value[0]]  # Keras 2: [name, node_index, tensor_index, kwargs]
        return [name for item in value for name in _history(item)]
    return []


def _inbound(layer: _Layer) -> list[str]:
    nodes = layer.raw.get("inbound_nodes", [])
    if not isinstance(nodes, list):
        raise layer.error("inbound_nodes is not a list; is this a Keras model config?")
    if len(nodes) > 1:
        raise layer.error(
            "the layer is called more than once (shared weights); initcli converts chains of "
            "distinct layers"
        )
    if not nodes:
        return []
    node = nodes[0]
    args = node.get("args", []) if isinstance(node, dict) else node
    return _history(args)


def _functional(
    converter: _Converter, layers: list[_Layer], config: dict[str, Any], shown: str
) -> tuple[int | None, tuple[int, ...], list[dict[str, Any]]]:
    inputs = [layer for layer in layers if layer.cls == "InputLayer"]
    if len(inputs) != 1:
        raise InitcliError(
            f"{shown}: the model has {len(inputs)} input layers; initcli converts single-input "
            "models",
            EXIT_BAD_DATA,
        )
    outputs = config.get("output_layers")
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], list) and len(outputs) > 1:
        raise InitcliError(
            f"{shown}: the model has {len(outputs)} outputs; initcli converts single-output models",
            EXIT_BAD_DATA,
        )
    source = inputs[0]
    batch, shape = converter.input_shape(
        source, source.get("batch_shape", source.get("batch_input_shape"))
    )
    converter.shape = shape
    # The main chain: (tensor produced, its entries so far, the shape after it).
    current = source.name
    entries: list[dict[str, Any]] = []
    marks: dict[str, tuple[int, tuple[int, ...]]] = {source.name: (0, shape)}
    for layer in layers:
        if layer is source:
            continue
        parents = _inbound(layer)
        if layer.cls == "Add":
            _residual(converter, layer, parents, current, entries, marks)
        else:
            if parents != [current]:
                raise layer.error(
                    f"takes its input from {', '.join(parents) or 'nothing'}, not from the "
                    f"layer before it ({current}); initcli converts chains of layers and "
                    "residual Add blocks only"
                )
            _append(converter, layer, entries)
        current = layer.name
        marks[current] = (len(entries), converter.shape)
    return batch, shape, entries


def _residual(
    converter: _Converter,
    layer: _Layer,
    parents: list[str],
    current: str,
    entries: list[dict[str, Any]],
    marks: dict[str, tuple[int, tuple[int, ...]]],
) -> None:
    if len(parents) != 2 or current not in parents:
        raise layer.error(
            f"adds {', '.join(parents)}; initcli converts Add of exactly a block's input and "
            "the output of the layers just before the Add"
        )
    shortcut = parents[0] if parents[1] == current else parents[1]
    if shortcut not in marks or shortcut == current:
        raise layer.error(
            f"adds {shortcut!r}, which is not on the model's main chain; initcli converts "
            "identity shortcuts only (no projection on the shortcut)"
        )
    start, shape = marks[shortcut]
    if shape != converter.shape:
        raise layer.error(
            f"adds shapes {shape} and {converter.shape}; an identity shortcut needs equal shapes"
        )
    require_kind(layer, "residual")
    block = entries[start:]
    if not block:
        raise layer.error("adds a tensor to itself; there is no residual branch")
    del entries[start:]
    entries.append(
        {
            "type": "residual",
            "name": layer.name,
            "shortcut": "identity",
            "scale": 1.0,
            "layers": block,
        }
    )


# --- YAML -----------------------------------------------------------------------------------


def _flow(value: Any) -> str:
    text = str(yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False))
    return text.removesuffix("\n").removesuffix("\n...").strip()  # "..." ends a bare scalar


def _layer_lines(entries: list[dict[str, Any]], indent: str) -> list[str]:
    lines = []
    for entry in entries:
        if entry["type"] == "residual":
            head = {k: v for k, v in entry.items() if k != "layers"}
            first, *rest = [f"{k}: {_flow(v)}" for k, v in head.items()]
            lines.append(f"{indent}- {first}")
            lines += [f"{indent}  {line}" for line in rest]
            lines.append(f"{indent}  layers:")
            lines += _layer_lines(entry["layers"], indent + "    ")
        else:
            lines.append(f"{indent}- {_flow(entry)}")
    return lines


def to_yaml(converted: Converted) -> str:
    """The spec as YAML text that ``initcli run`` reads back to the same network."""
    spec = converted.spec
    lines = [
        f"# Converted by initcli from {converted.source} (Keras {converted.kind}); edit freely.",
        "# Shapes are channels-first, weights PyTorch layout; the init laws are Keras's.",
    ]
    lines += [f"# note: {note}" for note in converted.notes]
    for key, value in spec.items():
        if key == "layers":
            lines.append("layers:")
            lines += _layer_lines(value, "  ")
        else:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def load_keras_spec(path: Path) -> tuple[NetworkSpec, list[str]]:
    """The converted model as a validated :class:`NetworkSpec`, and the conversion's notes."""
    converted = convert_keras(path)
    shown = f"{converted.source} (converted; 'initcli convert' shows the spec)"
    spec = load_spec_text(to_yaml(converted), shown, converted.spec["name"])
    return spec, converted.notes
