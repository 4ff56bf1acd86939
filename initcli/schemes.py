"""Built-in transformer initialization schemes (``--scheme`` of ``run`` and ``compare``).

A scheme rewrites the initializers of a validated :class:`~initcli.network_spec.NetworkSpec`
before it is built, following one paper's rule (each function's docstring states it with
the paper's equation, section or table). The structure it reads:

- a *residual block* is a layer of type ``residual`` (its branch is its ``layers``); the
  number of blocks ``N`` below is the number of such layers after ``repeat``/``group``
  expansion, so a pre-LN transformer block (attention branch + MLP branch) counts 2;
  the *transformer layers* are ``N / 2``;
- the *output projection* of a branch is its last weighted layer: an attention's ``.o``
  (its ``out_init``) or a dense layer;
- a branch's attention ``v`` projection is the attention's ``init``, which initcli shares
  between q, k and v; schemes that treat v apart from q, k say so.

Rescaling an initializer ``init`` by ``c`` multiplies every weight it draws by ``c``:
``random_normal(mean, std)`` -> ``(c mean, c std)``, ``random_uniform(minval, maxval)`` ->
``(c minval, c maxval)``, an initializer with a ``gain`` -> ``gain * c``, one with a
variance ``scale`` -> ``scale * c^2``; any other initializer is refused with a one-line
error naming the layer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from initcli.errors import EXIT_BAD_USAGE, InitcliError
from initcli.network_spec import LayerSpec, NetworkSpec

__all__ = ["SCHEMES", "Scheme", "apply_scheme", "rescaled"]


@dataclass(frozen=True)
class Scheme:
    name: str
    rule: str  # one line, printed in the run's header
    apply: Callable[[NetworkSpec, str], tuple[NetworkSpec, list[str]]]


def _usage(message: str) -> InitcliError:
    return InitcliError(message, EXIT_BAD_USAGE)


def rescaled(text: str, factor: float, who: str) -> str:
    """The SPEC of ``text``'s initializer with every draw multiplied by ``factor``."""
    from initcli.initializers import resolve_initializer
    from initcli.spec_strings import format_call

    init = resolve_initializer(text)
    params = dict(init.params)
    if "std" in params:
        params["std"] = float(params["std"]) * factor  # type: ignore[arg-type]
        params["mean"] = float(params.get("mean", 0.0)) * factor  # type: ignore[arg-type]
    elif "minval" in params and "maxval" in params:
        params["minval"] = float(params["minval"]) * factor  # type: ignore[arg-type]
        params["maxval"] = float(params["maxval"]) * factor  # type: ignore[arg-type]
    elif "gain" in params:
        params["gain"] = float(params["gain"]) * factor  # type: ignore[arg-type]
    elif "scale" in params:
        params["scale"] = float(params["scale"]) * factor**2  # type: ignore[arg-type]
    else:
        raise _usage(
            f"{who}: the scheme cannot rescale initializer {init.spec!r} (no std, bounds, "
            "gain or scale); give the layer an init such as random_normal(std=0.02) or "
            "torch.xavier_normal"
        )
    return format_call(init.name, params)


# --- walking the spec ----------------------------------------------------------------------


def _map_layers(
    layers: tuple[LayerSpec, ...], change: Callable[[LayerSpec], LayerSpec]
) -> tuple[LayerSpec, ...]:
    """Every layer (composites' children first) passed through ``change``."""
    out = []
    for layer in layers:
        children = {key: _map_layers(group, change) for key, group in layer.children.items()}
        out.append(change(replace(layer, children=children)))
    return tuple(out)


def _walk(layers: tuple[LayerSpec, ...]) -> list[LayerSpec]:
    found = []
    for layer in layers:
        found.append(layer)
        for group in layer.children.values():
            found.extend(_walk(group))
    return found


def _weighted(layer: LayerSpec) -> bool:
    return layer.type in ("dense", "attention", "conv1d", "conv2d")


def _residuals(spec: NetworkSpec) -> list[LayerSpec]:
    return [layer for layer in _walk(spec.layers) if layer.type == "residual"]


def _output_projections(spec: NetworkSpec) -> set[str]:
    """Names of the last weighted layer of every residual branch."""
    names = set()
    for block in _residuals(spec):
        inside = [layer for layer in _walk(block.children.get("layers", ())) if _weighted(layer)]
        if inside:
            names.add(inside[-1].name)
    return names


def _need_blocks(spec: NetworkSpec, scheme: str) -> int:
    count = len(_residuals(spec))
    if count == 0:
        raise _usage(
            f"--scheme {scheme}: {spec.path} has no residual blocks (type: residual), and "
            f"{scheme}'s rule is stated per residual block; use a transformer spec such as "
            "configs/gpt_small.yaml"
        )
    return count


def _init_of(layer: LayerSpec, default: str) -> str:
    return layer.init if layer.init is not None else default


def _out_init_of(layer: LayerSpec, default: str) -> str:
    return str(layer.options.get("out_init", _init_of(layer, default)))


def _with_out_init(layer: LayerSpec, text: str) -> LayerSpec:
    return replace(layer, options={**layer.options, "out_init": text})


def _with_options(layer: LayerSpec, **extra: object) -> LayerSpec:
    return replace(layer, options={**layer.options, **extra})


# --- the schemes ---------------------------------------------------------------------------


def gpt2(spec: NetworkSpec, default: str) -> tuple[NetworkSpec, list[str]]:
    """GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners",
    sec. 2.3 Model): "We scale the weights of residual layers at initialization by a factor
    of 1/sqrt(N) where N is the number of residual layers."

    Here N = the number of residual blocks (2 per transformer layer, as in GPT-2's code
    and nanoGPT's ``std = 0.02 / sqrt(2 * n_layer)``), and the scaled weights are the output
    projection of each residual branch (attention ``out_init``, the MLP's second dense)."""
    blocks = _need_blocks(spec, "gpt2")
    factor = 1.0 / math.sqrt(blocks)
    targets = _output_projections(spec)

    def change(layer: LayerSpec) -> LayerSpec:
        if layer.name not in targets:
            return layer
        who = f"--scheme gpt2: {layer.name}"
        if layer.type == "attention":
            return _with_out_init(layer, rescaled(_out_init_of(layer, default), factor, who))
        return replace(layer, init=rescaled(_init_of(layer, default), factor, who))

    new = replace(spec, layers=_map_layers(spec.layers, change))
    return new, [
        f"scheme gpt2: {len(targets)} residual output projections x 1/sqrt({blocks}) = {factor:.4g}"
    ]


def t_fixup(spec: NetworkSpec, default: str) -> tuple[NetworkSpec, list[str]]:
    """T-Fixup (Huang, Perez, Ba & Volkovs 2020, "Improving Transformer Optimization Through
    Better Initialization", ICML, sec. 3.3 "T-Fixup Initialization", steps 1-3):

    1. Xavier initialization for every weight except the input embeddings, which are
       N(0, d^-1/2) (d the embedding dimension; std d^-1/2 as in their code);
    2. decoder (causal attention present): scale the attention ``v`` and output ``w``
       weights, every MLP weight and the input embeddings by (9M)^-1/4, M = transformer
       layers;
    3. encoder (no causal attention): scale ``v``, ``w`` and the MLP weights by
       0.67 N^-1/4 (the embeddings by (9N)^-1/4, step 2's rule for the encoder input).

    initcli's attention shares one ``init`` between q, k and v, so the ``v`` scaling is
    applied to q and k too: noted in the run. T-Fixup also removes every LayerNorm (and
    learning-rate warm-up); this scheme only sets inits: run it on a spec without layernorm
    to match the paper. Positional embeddings keep their init."""
    blocks = _need_blocks(spec, "t_fixup")
    layers = max(1, blocks // 2)
    causal = any(
        layer.type == "attention" and layer.options.get("causal") for layer in _walk(spec.layers)
    )
    factor = (9 * layers) ** -0.25 if causal else 0.67 * layers**-0.25
    embed_factor = (9 * layers) ** -0.25
    inside = {layer.name for block in _residuals(spec) for layer in _walk(block.children["layers"])}
    xavier = "torch.xavier_uniform"

    def change(layer: LayerSpec) -> LayerSpec:
        if layer.type == "embedding":
            dim = layer.units or 1
            return replace(layer, init=f"random_normal(std={dim**-0.5 * embed_factor!r})")
        if layer.type == "attention" and layer.name in inside:
            scaled = f"torch.xavier_uniform(gain={factor!r})"
            return _with_out_init(replace(layer, init=scaled), scaled)
        if layer.type == "dense" and layer.name in inside:
            return replace(layer, init=f"torch.xavier_uniform(gain={factor!r})")
        if layer.type in ("dense", "attention"):
            return replace(layer, init=xavier)
        return layer

    new = replace(spec, layers=_map_layers(spec.layers, change))
    rule = "(9M)^-1/4" if causal else "0.67 N^-1/4"
    has_norm = any("norm" in layer.type for layer in _walk(spec.layers))
    return new, [
        f"scheme t_fixup ({'decoder' if causal else 'encoder'}, {layers} layers): xavier, "
        f"residual-branch weights x {rule} = {factor:.4g} (q and k too: initcli shares one "
        f"init for q, k, v), embeddings N(0, d^-1/2) x {embed_factor:.4g}"
    ] + (["scheme t_fixup: the paper removes LayerNorm, this spec keeps it"] if has_norm else [])


def deepnet(spec: NetworkSpec, default: str) -> tuple[NetworkSpec, list[str]]:
    """DeepNet / DeepNorm (Wang, Ma, Dong, Huang, Zhang & Wei 2022, "DeepNet: Scaling
    Transformers to 1,000 Layers", fig. 2 pseudo-code and its table of alpha, beta):
    post-LN blocks ``x = LN(alpha x + G(x))``; Xavier-normal init with gain beta for the FFN,
    ``v_proj`` and ``out_proj`` weights, gain 1 for ``q_proj`` and ``k_proj``; for an
    encoder-only or decoder-only stack of N layers alpha = (2N)^1/4, beta = (8N)^-1/4.

    initcli's attention shares one ``init`` between q, k and v: the scheme gives q, k, v
    gain 1 and the output projection gain beta (v unscaled: noted in the run). alpha on
    the skip is applied as the residual's ``scale`` 1/alpha on the branch: for a post-LN
    block LN(alpha x + G(x)) = LN(x + G(x)/alpha) exactly (LayerNorm is invariant to a
    positive factor, up to its eps); for a pre-LN block that is not DeepNorm."""
    blocks = _need_blocks(spec, "deepnet")
    layers = max(1, blocks // 2)
    alpha = (2 * layers) ** 0.25
    beta = (8 * layers) ** -0.25
    inside = {layer.name for block in _residuals(spec) for layer in _walk(block.children["layers"])}

    def change(layer: LayerSpec) -> LayerSpec:
        if layer.type == "attention" and layer.name in inside:
            return _with_out_init(
                replace(layer, init="torch.xavier_normal"), f"torch.xavier_normal(gain={beta!r})"
            )
        if layer.type == "dense" and layer.name in inside:
            return replace(layer, init=f"torch.xavier_normal(gain={beta!r})")
        if layer.type == "residual":
            scale = float(layer.options.get("scale", 1.0))
            return _with_options(layer, scale=scale / alpha)
        return layer

    new = replace(spec, layers=_map_layers(spec.layers, change))
    notes = [
        f"scheme deepnet ({layers} layers): FFN and attention output weights "
        f"xavier_normal(gain=beta={beta:.4g}), q/k/v gain 1 (v unscaled: initcli shares one "
        f"init for q, k, v); alpha = {alpha:.4g}"
        + ", as residual scale 1/alpha on the branch: LN(alpha x + f) = LN(x + f / alpha), "
        "exact for post-LN blocks (LayerNorm ignores a positive factor; eps aside)"
    ]
    return new, notes


def mup(spec: NetworkSpec, default: str) -> tuple[NetworkSpec, list[str]]:
    """muP (Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen & Gao 2022,
    "Tensor Programs V", arXiv:2203.03466): attention logits scaled by 1/d instead of
    1/sqrt(d) (sec. 4, "1/d attention"), and the init variances of their Table 3: hidden
    weights Var 1/fan_in, output (readout) weights Var 1/fan_in^2.

    Here: every attention gets ``logit_scale: 1/head_dim``; every dense and attention
    projection but the last layer of the network is drawn N(0, 1/fan_in)
    (``torch.kaiming_normal(nonlinearity=linear)``); the network's last dense layer is
    N(0, 1/fan_in^2) (std 1/fan_in). Embeddings keep their init: their fan_in (the
    vocabulary) does not grow with width, and Table 3 scales input weights only by it."""
    from initcli.network import build_network

    network = build_network(spec, init=default)
    last = [layer for layer in network.reporting_layers() if layer.type == "dense"]
    if not last:
        raise _usage(f"--scheme mup: {spec.path} has no dense layer to be the readout")
    readout = last[-1]
    fan_in = readout.row_info().fan_in or 1
    hidden = "torch.kaiming_normal(nonlinearity=linear)"

    def change(layer: LayerSpec) -> LayerSpec:
        if layer.type == "attention":
            return _with_out_init(
                replace(layer, init=hidden, options={**layer.options, "logit_scale": "1/head_dim"}),
                hidden,
            )
        if layer.name == readout.name:
            return replace(layer, init=f"random_normal(std={1.0 / fan_in!r})")
        if layer.type == "dense":
            return replace(layer, init=hidden)
        return layer

    new = replace(spec, layers=_map_layers(spec.layers, change))
    return new, [
        f"scheme mup: attention logits x 1/head_dim, hidden weights Var 1/fan_in, readout "
        f"{readout.name} Var 1/fan_in^2 (std 1/{fan_in})"
    ]


SCHEMES: Mapping[str, Scheme] = {
    "gpt2": Scheme(
        "gpt2",
        "residual output projections x 1/sqrt(N), N residual blocks (Radford et al. 2019, "
        "sec. 2.3)",
        gpt2,
    ),
    "t_fixup": Scheme(
        "t_fixup",
        "xavier; v, out and MLP weights x (9M)^-1/4 (decoder) or 0.67 N^-1/4 (encoder); "
        "embeddings N(0, d^-1/2) (Huang et al. 2020, sec. 3.3)",
        t_fixup,
    ),
    "deepnet": Scheme(
        "deepnet",
        "FFN, v and out weights xavier_normal(gain=(8N)^-1/4), skip x alpha=(2N)^1/4 "
        "(Wang et al. 2022, fig. 2)",
        deepnet,
    ),
    "mup": Scheme(
        "mup",
        "attention logits 1/d, hidden Var 1/fan_in, readout Var 1/fan_in^2 "
        "(Yang et al. 2022, sec. 4 and Table 3)",
        mup,
    ),
}


def apply_scheme(
    spec: NetworkSpec, scheme: str, init_override: str | None = None
) -> tuple[NetworkSpec, list[str]]:
    """``spec`` with ``scheme``'s initializers (``init_override``: ``--init``, the default of
    layers without their own init, which the scheme rescales), and notes saying what it
    changed. Unknown names are refused (exit 2)."""
    if scheme not in SCHEMES:
        from initcli.errors import closest

        match = closest(scheme, list(SCHEMES))
        hint = f"did you mean {match}? " if match else ""
        raise _usage(f"--scheme: unknown scheme {scheme!r}; {hint}use one of {', '.join(SCHEMES)}")
    default = init_override if init_override is not None else spec.init
    new, notes = SCHEMES[scheme].apply(spec, default)
    return dataclasses.replace(new, key_locations=spec.key_locations), notes
