"""A user's own PyTorch module, measured at initialization through forward and tensor hooks.

``initcli run path/model.py:make_model --input-shape 3,32,32`` imports the file (or a dotted
module ``pkg.models:make_model``), calls the factory under ``torch.manual_seed(seed)`` (so
the model's own initialization is reproducible), puts the module in train mode and runs one
batch forward and dL/d(output) ~ N(0, 1) backward (the loss is ``sum(output * G)``). torch is
imported only here, and only when this path is used.

Rows: every module that holds parameters directly (Linear, ConvNd, norms, Embedding,
MultiheadAttention, a custom leaf), in the order their first forward call ran (ratios and
verdicts compare a layer with the one before it in the computation, not in ``__init__``:
``nn.TransformerEncoderLayer`` registers norm1 after linear2), named by module path.
Refused: recurrent modules (nn.RNN, nn.GRU, nn.LSTM: their hidden-to-hidden weights act
once per step, out of the hooks' sight). Skipped, with a note: parameters that a custom
module holds beside child modules (``x @ self.w`` in its forward: its output is its
children's too). Per row:

- ``preact_var``: the variance of the module's output (its first tensor if a tuple);
- ``act_var``/``act_mean``: of the output of the next module executed, when that is a
  parameter-free activation module applied to this output (``nn.ReLU``, ``nn.Tanh``, ...),
  else equal to the output (an activation written as ``F.relu`` in ``forward`` is invisible
  to hooks); dead and saturated shares where that activation is known;
- ``grad_var``: Var dL/d(output), from a tensor hook on the output;
- ``weight_var``/``weight_grad_var``: of the parameter named ``weight`` (``in_proj_weight``
  for attention, else the first parameter of rank >= 2, else the first), and its ``.grad``;
  fans from that weight in PyTorch layout (rank-1 weights: fan = size, as Keras).

Randomness, in order: the factory under ``torch.manual_seed(seed)``; then one
``numpy.random.Generator(seed)`` draws the ``--init`` weights (module order) and biases if
``--bias-init`` is given, the input batch (unless ``--input``), then G.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from initcli.activations import Activation, resolve_activation
from initcli.errors import EXIT_BAD_DATA, EXIT_BAD_USAGE, InitcliError
from initcli.fans import compute_fans
from initcli.moments import moments
from initcli.spec_strings import Value, parse_call
from initcli.stats import HISTOGRAM_SAMPLES, LayerSamples, LayerStats, RunResult, fill_ratios
from initcli.stats import summarize as summarize_layers

_FILE_TARGET = re.compile(r"(?P<path>.+\.py):(?P<name>[A-Za-z_]\w*)")
_MODULE_TARGET = re.compile(r"(?P<path>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*):(?P<name>[A-Za-z_]\w*)")
MAX_MESSAGE = 300
DTYPES = ("float32", "float64")


def is_torch_target(text: str) -> bool:
    """``x.py:NAME`` or ``pkg.mod:NAME``: a PyTorch factory, not a config file."""
    return bool(_FILE_TARGET.fullmatch(text) or _MODULE_TARGET.fullmatch(text))


@dataclass(frozen=True)
class TorchOptions:
    input_shape: tuple[int, ...] | None = None
    input_path: Path | None = None
    kwargs: str | None = None
    batch: int | None = None  # None: 256, or the first axis of --input
    seed: int = 0
    dtype: str = "float32"
    init: str | None = None
    bias_init: str | None = None
    with_grad: bool = True
    keep_samples: bool = True


@contextmanager
def _user_code() -> Iterator[None]:
    """Run the user's code with its prints on stderr, so ``--json`` stdout stays JSON."""
    with redirect_stdout(sys.stderr):
        yield


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    text = text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."
    return f"{type(err).__name__}: {text}"


def parse_kwargs(text: str | None) -> dict[str, Value]:
    """``--kwargs 'depth=20,width=64'`` -> ``{"depth": 20, "width": 64}``."""
    if text is None or not text.strip():
        return {}
    try:
        _, kwargs = parse_call(f"factory({text})")
    except InitcliError as err:
        message = err.message.split(": ", 1)[-1]
        raise InitcliError(
            f"--kwargs {text!r}: {message} (write key=value pairs, e.g. 'depth=20,width=64')",
            EXIT_BAD_USAGE,
        ) from None
    return kwargs


def load_factory(target: str) -> Callable[..., Any]:
    """The callable named by ``path/model.py:NAME`` or ``pkg.module:NAME``."""
    file_match = _FILE_TARGET.fullmatch(target)
    if file_match:
        path = Path(file_match["path"])
        name = file_match["name"]
        if not path.is_file():
            raise InitcliError(f"{target}: file {str(path)!r} not found; check the path")
        module_name = f"_initcli_user_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise InitcliError(f"{target}: cannot import {str(path)!r} as a Python file")
        module = importlib.util.module_from_spec(spec)
        folder = str(path.resolve().parent)
        sys.path.insert(0, folder)  # so the file's own sibling imports work
        try:
            sys.modules[module_name] = module
            with _user_code():
                spec.loader.exec_module(module)
        except (Exception, SystemExit) as err:
            sys.modules.pop(module_name, None)
            raise InitcliError(f"{target}: importing {str(path)!r} failed: {_short(err)}") from None
        finally:
            if sys.path and sys.path[0] == folder:
                sys.path.pop(0)
    else:
        module_match = _MODULE_TARGET.fullmatch(target)
        if module_match is None:
            raise InitcliError(
                f"{target!r} is not path/to/model.py:NAME or package.module:NAME",
                EXIT_BAD_USAGE,
            )
        name = module_match["name"]
        added = "" not in sys.path and "." not in sys.path
        if added:
            sys.path.insert(0, "")
        try:
            with _user_code():
                module = importlib.import_module(module_match["path"])
        except (Exception, SystemExit) as err:
            raise InitcliError(
                f"{target}: importing module {module_match['path']!r} failed: {_short(err)}"
            ) from None
        finally:
            if added:
                sys.path.remove("")
    factory = getattr(module, name, None)
    if factory is None:
        defined = sorted(
            n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
        )
        shown = ", ".join(defined[:8]) or "nothing callable"
        raise InitcliError(f"{target}: the module has no {name!r} (it defines {shown})")
    if not callable(factory):
        raise InitcliError(f"{target}: {name!r} is a {type(factory).__name__}, not a callable")
    return factory


# Parameter-free activation modules -> initcli activation SPECs (their exact functions).
def _activation_of(module: Any) -> str | None:
    import torch.nn as nn

    simple = {
        nn.ReLU: "relu",
        nn.SELU: "selu",
        nn.SiLU: "silu",
        nn.Mish: "mish",
        nn.Tanh: "tanh",
        nn.Sigmoid: "sigmoid",
        nn.Softsign: "softsign",
        nn.Identity: "linear",
    }
    for cls, spec in simple.items():
        if type(module) is cls:
            return spec
    if type(module) is nn.LeakyReLU:
        return f"leaky_relu(negative_slope={float(module.negative_slope)!r})"
    if type(module) is nn.ELU:
        return f"elu(alpha={float(module.alpha)!r})"
    if type(module) is nn.GELU:
        return "gelu" if module.approximate == "none" else "gelu(approximate=tanh)"
    if type(module) is nn.Softplus:
        return f"softplus(beta={float(module.beta)!r})"
    if type(module) is nn.Hardtanh:  # also nn.ReLU6 is a Hardtanh subclass: excluded by `is`
        return f"hard_tanh(min_val={float(module.min_val)!r}, max_val={float(module.max_val)!r})"
    return None


def _weight_of(module: Any) -> tuple[str, Any]:
    params = dict(module.named_parameters(recurse=False))
    for key in ("weight", "in_proj_weight"):
        if key in params:
            return key, params[key]
    for key, value in params.items():
        if value.dim() >= 2:
            return key, value
    key = next(iter(params))
    return key, params[key]


def _first_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    if isinstance(value, dict):
        return next((v for v in value.values() if isinstance(v, torch.Tensor)), None)
    return None


def _numpy(tensor: Any) -> np.ndarray:
    return np.asarray(tensor.detach().cpu().numpy())


def _subsample(values: np.ndarray, limit: int = HISTOGRAM_SAMPLES) -> np.ndarray:
    flat = values.reshape(-1)
    step = max(1, flat.size // limit)
    return np.array(flat[::step][:limit], dtype=np.float64)


@dataclass
class _Record:
    path: str
    module: Any
    calls: int = 0
    output: Any = None  # first call's output tensor (for identity checks and its grad hook)
    values: Any = None  # a copy of it taken in the hook: later in-place ops cannot change it
    act: Any = None  # a copy of the output of the activation module applied to it, if any
    activation: str | None = None
    grad: Any = None
    order: int = -1  # when its first call ran, among the records: rows in execution order
    version: int = -1  # output._version then: an in-place op (out += x) since bumps it


def _input_batch(
    options: TorchOptions, rng: np.random.Generator, np_dtype: Any
) -> tuple[np.ndarray, str]:
    if options.input_path is not None:
        path = options.input_path
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise InitcliError(
                f"--input {str(path)!r}: cannot read it as .npy: {_short(err)}"
            ) from None
        if data.ndim < 1 or data.shape[0] < 1:
            raise InitcliError(f"--input {str(path)!r}: shape {data.shape} has no batch axis")
        if np.issubdtype(data.dtype, np.floating):
            data = data.astype(np_dtype)
        return data, f"--input {path} {tuple(data.shape)}"
    assert options.input_shape is not None
    batch = 256 if options.batch is None else options.batch
    shape = (batch, *options.input_shape)
    return rng.standard_normal(shape, dtype=np_dtype), f"input {shape} from --input-shape"


def run_torch_once(target: str, options: TorchOptions) -> RunResult:
    """One draw: the factory's module at ``options.seed``, forward and backward."""
    if options.dtype not in DTYPES:
        raise InitcliError(f"--dtype {options.dtype!r}: use float32 or float64", EXIT_BAD_USAGE)
    if options.input_shape is None and options.input_path is None:
        raise InitcliError(
            f"{target}: a PyTorch model needs --input-shape (one example, e.g. 3,32,32) or "
            "--input data.npy",
            EXIT_BAD_USAGE,
        )
    if options.batch is not None and options.batch < 1:
        raise InitcliError(f"--batch {options.batch} must be at least 1", EXIT_BAD_USAGE)
    init = _resolve(options.init, "--init")
    bias_init = _resolve(options.bias_init, "--bias-init")
    kwargs = parse_kwargs(options.kwargs)
    factory = load_factory(target)
    try:
        import torch
    except ImportError:
        raise InitcliError(
            "PyTorch is not installed; install it with pip install 'initcli[torch]'",
            EXIT_BAD_DATA,
        ) from None
    torch_dtype = torch.float64 if options.dtype == "float64" else torch.float32
    np_dtype = np.float64 if options.dtype == "float64" else np.float32
    torch.manual_seed(options.seed)
    try:
        with _user_code():
            model = factory(**kwargs)
    except (Exception, SystemExit) as err:
        called = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
        fix = f" (called with {called} from --kwargs; check those values)" if kwargs else ""
        raise InitcliError(f"{target}: the factory raised {_short(err)}{fix}") from None
    if not isinstance(model, torch.nn.Module):
        raise InitcliError(
            f"{target}: the factory returned a {type(model).__name__}, not a torch.nn.Module"
        )
    model = model.to(torch_dtype)
    model.train()
    holders = [
        (path or "(model)", module)
        for path, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    ]
    for path, module in holders:
        if isinstance(module, torch.nn.RNNBase):
            raise InitcliError(
                f"{target}: module {path!r} is an nn.{type(module).__name__}: recurrent "
                "modules are not "
                "measured (their hidden-to-hidden weights act once per time step, where "
                "module hooks cannot see them); measure the layers around it without it"
            )
    beside = [(path, module) for path, module in holders if _holds_beside_children(module)]
    beside_children = [
        f"{', '.join(name for name, _ in module.named_parameters(recurse=False))} of {path}"
        for path, module in beside
    ]
    skipped = {id(module) for _, module in beside}
    records = [_Record(path, module) for path, module in holders if id(module) not in skipped]
    if not records:
        raise InitcliError(f"{target}: the module has no parameters, so nothing to initialize")
    rng = np.random.default_rng(options.seed)
    if init is not None or bias_init is not None:
        _reinitialize(records, init, bias_init, rng, np_dtype)
    inputs, input_text = _input_batch(options, rng, np_dtype)
    output_grad_var = _run_hooks(model, records, inputs, input_text, target, options, rng, np_dtype)
    result = _result(target, factory, records, inputs, options, output_grad_var)
    pools = [
        path
        for path, module in model.named_modules()
        if isinstance(module, (torch.nn.modules.pooling._AvgPoolNd,
                               torch.nn.modules.pooling._AdaptiveAvgPoolNd,
                               torch.nn.modules.pooling._MaxPoolNd,
                               torch.nn.modules.pooling._AdaptiveMaxPoolNd))
    ]  # fmt: skip
    if pools and options.with_grad:
        from initcli.experiment import per_element_pooling_note

        result.summary.notes.append(per_element_pooling_note([repr(p) for p in pools]))
    if beside_children:
        shown = ", ".join(beside_children[:4]) + (", ..." if len(beside_children) > 4 else "")
        result.summary.notes.append(
            f"not shown: the parameters {shown}, held beside child modules (used in its "
            "forward(), e.g. x @ self.w, whose output is its children's work too); wrap them "
            "in a module of their own (nn.Linear, ...) to see them"
            + ("; --init did not redraw them" if options.init is not None else "")
        )
    return result


def _holds_beside_children(module: Any) -> bool:
    """A custom module with parameters of its own and child modules with parameters: its
    output is not the work of its own parameters. torch.nn's own (MultiheadAttention holds
    in_proj_weight beside out_proj) are layers initcli knows."""
    if type(module).__module__.startswith("torch.nn"):
        return False
    return any(any(True for _ in child.parameters()) for child in module.children())


def _resolve(spec: str | None, flag: str) -> Any:
    if spec is None:
        return None
    from initcli.errors import error_context
    from initcli.initializers import resolve_initializer

    with error_context(flag):
        return resolve_initializer(spec)


def _reinitialize(
    records: list[_Record], init: Any, bias_init: Any, rng: np.random.Generator, np_dtype: Any
) -> None:
    """initcli's sampler for every weight of rank >= 2 (PyTorch layout) and, with
    ``--bias-init``, every ``bias``; in module order."""
    import torch

    from initcli.initializers import sample_bias, sample_weight

    for record in records:
        params = dict(record.module.named_parameters(recurse=False))
        _, weight = _weight_of(record.module)
        fans = compute_fans(tuple(weight.shape), "torch") if weight.dim() >= 2 else None
        with torch.no_grad():
            for key, param in params.items():
                if init is not None and param.dim() >= 2:
                    drawn = sample_weight(init, tuple(param.shape), rng, np_dtype)
                    param.copy_(torch.from_numpy(drawn))
                elif bias_init is not None and key.endswith("bias") and param.dim() == 1:
                    if fans is None:
                        continue
                    drawn = sample_bias(bias_init, param.shape[0], fans, rng, np_dtype)
                    param.copy_(torch.from_numpy(drawn))


def _run_hooks(
    model: Any,
    records: list[_Record],
    inputs: np.ndarray,
    input_text: str,
    target: str,
    options: TorchOptions,
    rng: np.random.Generator,
    np_dtype: Any,
) -> float | None:
    """Forward (and backward) with hooks filling ``records``; Var of the drawn dL/d(output)."""
    import torch

    by_module = {id(record.module): record for record in records}
    ran = itertools.count()
    last: list[_Record | None] = [None]  # the parameterized module whose output came last
    handles = []

    def on_forward(module: Any, args: Any, output: Any) -> None:
        record = by_module.get(id(module))
        if record is not None:
            record.calls += 1
            if record.calls == 1:
                record.order = next(ran)
                tensor = _first_tensor(output)
                if tensor is not None and tensor.is_floating_point():
                    record.output = tensor
                    record.version = tensor._version
                    record.values = tensor.detach().clone()
                    if tensor.requires_grad:
                        tensor.register_hook(lambda g, r=record: setattr(r, "grad", g))
                    last[0] = record
                    return
            last[0] = None
            return
        previous = last[0]
        last[0] = None
        if previous is None or previous.act is not None:
            return
        spec = _activation_of(module)
        first = args[0] if args else None
        # The very tensor, unchanged: torchvision's `out += identity; out = self.relu(out)`
        # feeds bn2's output tensor to the relu after an in-place add, so relu(bn2 + x) is not
        # bn2's activation. Versions before the module ran: ReLU(inplace=True) bumps it.
        untouched = first is previous.output and versions.get(id(module)) == previous.version
        if spec is not None and untouched and isinstance(output, torch.Tensor):
            # Copied now: ReLU(inplace=True) returns its input, and a later `out += x` would
            # change the tensor again.
            previous.act, previous.activation = output.detach().clone(), spec

    versions: dict[int, int] = {}  # id(module) -> its first input's _version as it was called

    def before_forward(module: Any, args: Any) -> None:
        if args and isinstance(args[0], torch.Tensor):
            versions[id(module)] = args[0]._version

    for module in model.modules():
        is_leaf = not any(True for _ in module.children())
        if id(module) in by_module or is_leaf:
            handles.append(module.register_forward_hook(on_forward))
        if is_leaf and id(module) not in by_module:
            handles.append(module.register_forward_pre_hook(before_forward))
    x = torch.from_numpy(inputs)
    try:
        with torch.set_grad_enabled(options.with_grad), _user_code():
            output = model(x)
    except (Exception, SystemExit) as err:
        takes_ids = any(isinstance(m, torch.nn.Embedding) for m in model.modules())
        fix = (
            "its nn.Embedding takes integer token ids: give them as --input ids.npy (int64, "
            "batch first)"
            if takes_ids and inputs.dtype.kind == "f"
            else "check the input shape"
        )
        raise InitcliError(
            f"{target}: forward failed on {input_text}: {_short(err)}; {fix}"
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    out = _first_tensor(output)
    if out is None or not out.is_floating_point():
        raise InitcliError(
            f"{target}: forward returned {type(output).__name__}; initcli needs a float tensor "
            "output (or a tuple whose first tensor is the output)"
        )
    if not options.with_grad:
        return None
    grad = rng.standard_normal(tuple(out.shape), dtype=np_dtype)
    if not out.requires_grad:
        raise InitcliError(
            f"{target}: the output does not depend on any parameter that requires grad; "
            "use --no-grad for forward statistics only"
        )
    try:
        with _user_code():
            (out * torch.from_numpy(grad)).sum().backward()
    except (Exception, SystemExit) as err:
        raise InitcliError(f"{target}: backward failed: {_short(err)}") from None
    return moments(grad).var


def _dead_and_zero(act: np.ndarray) -> tuple[float, float]:
    is_zero = act == 0
    zero = float(np.count_nonzero(is_zero)) / is_zero.size
    dead = np.logical_and.reduce(is_zero, axis=0)  # zero for every example of the batch
    return zero, float(np.count_nonzero(dead)) / max(dead.size, 1)


def _result(
    target: str,
    factory: Any,
    records: list[_Record],
    inputs: np.ndarray,
    options: TorchOptions,
    output_grad_var: float | None,
) -> RunResult:
    notes: list[str] = []
    layers: list[LayerStats] = []
    samples: list[LayerSamples] = []
    unused = [r.path for r in records if r.output is None]
    shared = [r.path for r in records if r.calls > 1]
    without_act = []
    for record in sorted(records, key=lambda r: r.order):
        if record.output is None:
            continue
        _, weight = _weight_of(record.module)
        shape = tuple(int(n) for n in weight.shape)
        fans = compute_fans(shape, "torch" if len(shape) >= 2 else "keras")
        out = _numpy(record.values)
        act_tensor = record.act if record.act is not None else record.values
        act = _numpy(act_tensor)
        activation: Activation | None = None
        if record.activation is not None:
            activation = resolve_activation(record.activation)
        else:
            without_act.append(record.path)
        zero_frac = dead_frac = saturated_frac = None
        if activation is not None and activation.can_die:
            zero_frac, dead_frac = _dead_and_zero(act)
        if activation is not None:
            mask = activation.saturated(act)
            if mask is not None:
                saturated_frac = float(np.count_nonzero(mask)) / mask.size
        w = moments(_numpy(weight))
        z = moments(out)
        a = moments(act)
        grad_var = weight_grad_var = bias_grad_var = None
        finite = z.finite and a.finite
        grad_sample = None
        if options.with_grad:
            if record.grad is not None:  # None: its output does not reach the loss
                grad = _numpy(record.grad)
                g = moments(grad)
                grad_var, finite = g.var, finite and g.finite
                grad_sample = _subsample(grad) if options.keep_samples else None
            if weight.grad is not None:
                weight_grad_var = moments(_numpy(weight.grad)).var
            bias = dict(record.module.named_parameters(recurse=False)).get("bias")
            if bias is not None and bias.grad is not None:
                bias_grad_var = moments(_numpy(bias.grad)).var
        own = "own" if options.init is None or weight.dim() < 2 else str(options.init)
        layers.append(
            LayerStats(
                index=len(layers) + 1,
                name=record.path,
                type=type(record.module).__name__,
                activation=record.activation or "none",
                weight_shape=list(shape),
                out_shape=list(out.shape[1:]),
                fan_in=fans.fan_in,
                fan_out=fans.fan_out,
                init=own,
                bias_init=None,
                weight_mean=w.mean,
                weight_var=w.var,
                preact_mean=z.mean,
                preact_var=z.var,
                act_mean=a.mean,
                act_var=a.var,
                zero_frac=zero_frac,
                dead_frac=dead_frac,
                saturated_frac=saturated_frac,
                grad_var=grad_var,
                weight_grad_var=weight_grad_var,
                bias_grad_var=bias_grad_var,
                finite=finite,
            )
        )
        if options.keep_samples:
            samples.append(LayerSamples(act=_subsample(act), grad=grad_sample))
    if not layers:
        raise InitcliError(f"{target}: no module with parameters ran in forward()")
    fill_ratios(layers)
    input_stats = moments(inputs.astype(np.float64))
    summary = summarize_layers(layers, input_stats.var, output_grad_var)
    notes.append("PyTorch hooks: Var z is each module's output; rows in the order they ran")
    if without_act:
        shown = ", ".join(without_act[:4]) + (", ..." if len(without_act) > 4 else "")
        notes.append(
            f"no activation module follows {shown}: its E/Var φ(z) equal its output's "
            "(an activation called as a function in forward() is invisible to hooks)"
        )
    notes.append("no mean-field theory for an arbitrary module: the theory columns are empty")
    if unused:
        notes.append(
            f"no forward call of their own, not shown: {', '.join(unused[:6])} (unused, or "
            "used inside a parent's forward, as MultiheadAttention uses out_proj's weight)"
        )
    if shared:
        notes.append(f"called more than once (first call shown): {', '.join(shared[:6])}")
    unreached = [r.path for r in records if r.grad is None and r.output is not None]
    if options.with_grad and unreached:
        shown = ", ".join(unreached[:4]) + (", ..." if len(unreached) > 4 else "")
        notes.append(
            f"no gradient reaches {shown} (no Var dL/dz): its output does not feed the loss "
            "sum(output * G) (output: the forward's first tensor), or needs no gradient "
            "(frozen parameters, or torch.no_grad() around it)"
        )
    if options.init is not None:
        kept = "norm scales keep the model's own values" + (
            "" if options.bias_init else ", and so do biases (--bias-init SPEC redraws them)"
        )
        notes.append(f"--init {options.init} redrew every weight of rank >= 2; {kept}")
    else:
        notes.append("the model's own initialization (the factory under torch.manual_seed(seed))")
    summary.notes.extend(notes)
    name = getattr(factory, "__name__", "model")
    init_text = options.init or "own"
    batch = int(inputs.shape[0])
    return RunResult(
        config=target,
        name=re.sub(r"[^A-Za-z0-9_.\-]", "_", name)[:64] or "model",
        init=init_text,
        bias_init=options.bias_init or "own",
        seed=options.seed,
        batch=batch,
        dtype=options.dtype,
        input_mean=input_stats.mean,
        input_var=input_stats.var,
        output_grad_var=output_grad_var,
        layers=layers,
        summary=summary,
        samples=samples,
    )


def run_torch(target: str, options: TorchOptions, seeds: int = 1) -> RunResult:
    """``seeds`` draws (seeds ``seed``..``seed+seeds-1``), aggregated as ``run --seeds``."""
    from dataclasses import replace

    if seeds < 1:
        raise InitcliError(f"--seeds {seeds} must be at least 1", EXIT_BAD_USAGE)
    draws = [
        run_torch_once(
            target,
            replace(options, seed=options.seed + k, keep_samples=options.keep_samples and k == 0),
        )
        for k in range(seeds)
    ]
    if seeds == 1:
        return draws[0]
    from initcli.experiment import aggregate

    return aggregate(draws)
