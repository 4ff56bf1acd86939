"""``attention``: multi-head self-attention on a sequence ``(tokens, features)``.

For an input ``x`` of shape ``(B, T, F)``, ``H`` heads of size ``d`` (``head_dim``, default
``F / H``) and logit scale ``s`` (default ``1/sqrt(d)``; muP uses ``1/d``)::

    Q = x Wq^T + bq,  K = x Wk^T + bk,  V = x Wv^T + bv          (B, T, H d), split in heads
    S_h = s Q_h K_h^T          (+ -inf above the diagonal when causal)         (B, H, T, T)
    P_h = softmax(S_h)         (max-subtracted; overflowing logits clipped to the float range)
    A = concat_h(P_h V_h),     y = A Wo^T + bo                                  (B, T, F)

exactly ``torch.nn.functional.scaled_dot_product_attention`` with ``scale=s`` between the
projections of ``torch.nn.MultiheadAttention`` (``in_proj_weight`` = [Wq; Wk; Wv],
``out_proj``). The four projections are rows of the statistics named ``<name>.q``, ``.k``,
``.v``, ``.o`` (weights in PyTorch layout ``(out, in)``; fans as a ``Linear`` of that shape;
``init`` for q, k, v and ``out_init``, default ``init``, for o); each row's z is its
projection's output. The ``.o`` row also carries the attention's own numbers, per head and
averaged over the batch and the query positions, computed in float64:

- ``attn_entropy``: mean entropy of the attention distribution of a query, in nats;
- ``attn_entropy_uniform``: its maximum, the mean over queries of log(keys it sees):
  ``log T``, or for causal attention the mean of ``log(t)`` for t = 1..T;
- ``attn_max_prob``: mean of the largest attention probability of a query;
- ``logit_var``: Var of the pre-softmax logits ``S_h`` (causal: the unmasked ones).

Backward (per head): ``dV = P^T dA``, ``dP = dA V^T``, ``dS = P * (dP - rowsum(dP * P))``,
``dQ = s dS K``, ``dK = s dS^T Q``, then each projection's own backward.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from initcli.layers.base import (
    CHANNELS,
    SEQUENCE,
    TOKENS,
    AllParameters,
    Array,
    Backward,
    BackwardStep,
    BuildContext,
    Forward,
    ForwardStep,
    GradientState,
    Layer,
    NoPrediction,
    TheoryRecord,
    fmt_shape,
    layer_error,
)
from initcli.layers.common import COMMON_KEYS, with_initializers
from initcli.layers.dense import DenseLayer
from initcli.yamlnodes import Fields, error

if TYPE_CHECKING:
    from initcli.network_spec import LayerSpec

ATTENTION_KEYS = (
    *COMMON_KEYS,
    "heads",
    "causal",
    "head_dim",
    "logit_scale",
    "bias",
    "init",
    "out_init",
    "bias_init",
    "repeat",
)
PROJECTIONS = ("q", "k", "v", "o")
LOGIT_SCALE_NAMES = {"1/sqrt(head_dim)": -0.5, "1/head_dim": -1.0}  # head_dim ** exponent


def logit_scale_value(text: str | float | None, head_dim: int) -> float:
    """The number a ``logit_scale`` value stands for (default 1/sqrt(head_dim))."""
    if text is None:
        return 1.0 / math.sqrt(head_dim)
    if isinstance(text, str):
        return float(head_dim ** LOGIT_SCALE_NAMES[text])
    return float(text)


def softmax_stable(logits: Array, mask: Array | None) -> Array:
    """Row softmax, max-subtracted; ``mask`` True marks entries set to probability 0.

    Logits that overflowed to +-inf are first clipped to the dtype's finite range, so the
    row maximum is finite and no NaN appears (a huge logit gives a one-hot row)."""
    big = np.finfo(logits.dtype).max
    np.nan_to_num(logits, copy=False, nan=np.nan, posinf=big, neginf=-big)
    if mask is not None:
        logits[..., mask] = -np.inf
    logits -= logits.max(axis=-1, keepdims=True)  # finite row max: the diagonal is unmasked
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return logits


def attention_statistics(
    logits: Array, probs: Array, mask: Array | None, causal: bool
) -> dict[str, Any]:
    """Per-head numbers (float64) from the logits and probabilities ``(B, H, T, T)``."""
    from initcli.moments import moments

    _, heads, tokens, _ = probs.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log(probs)
        terms = np.where(probs > 0, probs * logp, 0.0)
    entropy = -terms.sum(axis=-1, dtype=np.float64)  # (B, H, T)
    del logp, terms
    keep = None if mask is None else ~mask
    logit_var = []
    for head in range(heads):
        values = logits[:, head] if keep is None else logits[:, head][:, keep]
        logit_var.append(moments(values).var)
    visible = np.arange(1, tokens + 1) if causal else np.full(tokens, tokens)
    return {
        "attn_entropy": [float(v) for v in entropy.mean(axis=(0, 2))],
        "attn_entropy_uniform": float(np.mean(np.log(visible))),
        "attn_max_prob": [
            float(v) for v in probs.max(axis=-1).astype(np.float64).mean(axis=(0, 2))
        ],
        "logit_var": logit_var,
    }


@dataclasses.dataclass(frozen=True)
class AttentionLayer(Layer):
    heads: int = 1
    head_dim: int = 1
    causal: bool = False
    logit_scale: float = 1.0
    projections: tuple[DenseLayer, ...] = ()  # q, k, v, o

    def children(self) -> tuple[Layer, ...]:
        return self.projections

    def _mask(self) -> Array | None:
        tokens = self.in_shape[0]
        return np.triu(np.ones((tokens, tokens), dtype=bool), k=1) if self.causal else None

    def _split(self, t: Array) -> Array:
        batch, tokens, _ = t.shape
        return t.reshape(batch, tokens, self.heads, self.head_dim).transpose(0, 2, 1, 3)

    def _merge(self, t: Array) -> Array:
        batch, _, tokens, _ = t.shape
        return t.transpose(0, 2, 1, 3).reshape(batch, tokens, self.heads * self.head_dim)

    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        q_layer, k_layer, v_layer, o_layer = self.projections
        heads = []
        for layer in (q_layer, k_layer, v_layer):
            own = params.of(layer)
            z = layer.linear_forward(x, own["weight"], own.get("bias"))
            yield ForwardStep(layer, own["weight"], own.get("bias"), x, z, z)
            heads.append(self._split(z))
            del z
        qh, kh, vh = heads
        logits = np.matmul(qh, kh.transpose(0, 1, 3, 2))
        logits *= np.asarray(self.logit_scale, dtype=logits.dtype)
        big = np.finfo(logits.dtype).max  # overflowed logits: the largest finite value
        np.nan_to_num(logits, copy=False, nan=np.nan, posinf=big, neginf=-big)
        mask = self._mask()
        raw = logits.copy()
        probs = softmax_stable(logits, mask)
        extra = attention_statistics(raw, probs, mask, self.causal)
        del raw
        attended = self._merge(np.matmul(probs, vh))
        own = params.of(o_layer)
        y = o_layer.linear_forward(attended, own["weight"], own.get("bias"))
        yield ForwardStep(o_layer, own["weight"], own.get("bias"), attended, y, y, extra)
        saved = (x, qh, kh, vh, probs, attended) if keep else None
        return y, saved

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        x, qh, kh, vh, probs, attended = saved
        del saved
        q_layer, k_layer, v_layer, o_layer = self.projections
        own = params.of(o_layer)
        grad_attended, grad_wo = o_layer.linear_backward(attended, own["weight"], grad)
        del attended
        grad_bo = o_layer.bias_grad(grad) if own.get("bias") is not None else None
        yield BackwardStep(o_layer, grad, grad_wo, grad_bo)
        assert grad_attended is not None
        grad_heads = self._split(grad_attended)
        del grad_attended
        grad_v = np.matmul(probs.transpose(0, 1, 3, 2), grad_heads)
        grad_s = np.matmul(grad_heads, vh.transpose(0, 1, 3, 2))  # dL/dP
        del grad_heads, vh
        grad_s -= (grad_s * probs).sum(axis=-1, keepdims=True)
        grad_s *= probs
        del probs
        grad_s *= np.asarray(self.logit_scale, dtype=grad_s.dtype)
        grad_q = np.matmul(grad_s, kh)
        grad_k = np.matmul(grad_s.transpose(0, 1, 3, 2), qh)
        del grad_s, qh, kh
        grad_x: Array | None = None
        for layer, grad_z in ((q_layer, grad_q), (k_layer, grad_k), (v_layer, grad_v)):
            own = params.of(layer)
            merged = self._merge(grad_z)
            part, grad_w = layer.linear_backward(x, own["weight"], merged, need_grad_x=need_grad_x)
            grad_b = layer.bias_grad(merged) if own.get("bias") is not None else None
            yield BackwardStep(layer, merged, grad_w, grad_b)
            if part is not None:
                grad_x = part if grad_x is None else grad_x + part
        return grad_x

    # memory and cost
    def _sizes(self, batch: int) -> tuple[int, int, int]:
        tokens, features = self.in_shape
        inner = self.heads * self.head_dim
        return batch * tokens * features, batch * tokens * inner, batch * self.heads * tokens**2

    def saved_elements(self, batch: int) -> int:
        x, inner, scores = self._sizes(batch)
        return x + 4 * inner + scores

    def transient_bytes(self, batch: int, itemsize: int, previous: int) -> int:
        x, inner, scores = self._sizes(batch)
        weights = sum(math.prod(p.weight_shape) for p in self.projections)
        # the logits, their copy for the statistics and float64 entropy terms; the outputs
        return (4 * scores + 3 * inner + 2 * max(x, previous) + weights) * itemsize + 8 * scores

    def macs(self, batch: int) -> int:
        tokens = self.in_shape[0]
        products = 2 * batch * self.heads * tokens * tokens * self.head_dim
        return products + sum(p.macs(batch) for p in self.projections)

    def theory_forward(self, input_square: float, records: list[TheoryRecord]) -> float:
        raise NoPrediction(
            f"{self.name}: the mean-field recursion covers dense and conv stacks, not attention"
        )

    def theory_backward(
        self, grad: GradientState, records: dict[str, TheoryRecord]
    ) -> GradientState:
        raise NoPrediction(f"{self.name}: no mean-field prediction for attention")

    def notes(self) -> list[str]:
        return []


class AttentionKind:
    type = "attention"
    keys = ATTENTION_KEYS
    default_name = "attention"

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        if key in ("units", "filters"):
            return "attention keeps its input's features; give heads (and head_dim), not " + key
        if key == "activation":
            return "attention has no activation (its projections are linear); remove activation"
        return None

    def parse(self, fields: Fields) -> dict[str, Any]:
        options: dict[str, Any] = {
            "heads": fields.required_int("heads", "heads: 4"),
            "causal": fields.boolean("causal", "causal: true", default=False),
            "head_dim": fields.integer("head_dim", "head_dim: 64"),
        }
        if fields.has("logit_scale"):
            entry = fields.entries["logit_scale"]
            text = entry.value.value if hasattr(entry.value, "value") else None
            if isinstance(text, str) and text.strip() in LOGIT_SCALE_NAMES:
                options["logit_scale"] = text.strip()
            else:
                try:
                    options["logit_scale"] = fields.number(
                        "logit_scale", "logit_scale: 0.125", minimum=0.0, exclusive_minimum=True
                    )
                except Exception:
                    raise error(
                        fields.where("logit_scale"),
                        f"logit_scale must be a positive number or one of "
                        f"{', '.join(LOGIT_SCALE_NAMES)}, got {text!r}; write e.g. "
                        "logit_scale: 1/head_dim",
                    ) from None
        parsed: dict[str, Any] = {"options": options}
        for key, example in (("init", "init: normal(std=0.02)"), ("bias_init", "bias_init: zeros")):
            if fields.has(key):
                parsed[key] = fields.text(key, "an initializer SPEC", example)
        if fields.has("out_init"):
            options["out_init"] = fields.text(
                "out_init", "an initializer SPEC", "out_init: normal(std=0.004)"
            )
        if fields.has("bias"):
            parsed["bias"] = fields.boolean("bias", "bias: false")
            if fields.has("bias_init") and not parsed["bias"]:
                raise error(
                    fields.where("bias_init"),
                    "bias_init is given but bias: false (no bias); remove one of the two",
                )
        return parsed

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> AttentionLayer:
        options = spec.options
        if len(in_shape) != 2 or context.in_layout in (CHANNELS, TOKENS):
            what = {CHANNELS: " in (channels, length) layout", TOKENS: " token ids"}.get(
                context.in_layout or "", ""
            )
            raise layer_error(
                spec,
                f"attention needs a sequence (tokens, features) but {source} gives "
                f"{fmt_shape(in_shape)}{what}; give input shape [tokens, features] or put an "
                "embedding before it",
            )
        tokens, features = in_shape
        heads = int(options["heads"])
        head_dim = options.get("head_dim")
        if head_dim is None:
            if features % heads:
                raise layer_error(
                    spec,
                    f"heads {heads} does not divide the {features} features {source} gives; "
                    f"use a divisor of {features} or set head_dim",
                    "heads",
                )
            head_dim = features // heads
        inner = heads * int(head_dim)
        shapes = {"q": (inner, features), "k": (inner, features), "v": (inner, features)}
        shapes["o"] = (features, inner)
        projections = []
        for part in PROJECTIONS:
            init = options.get("out_init", spec.init) if part == "o" else spec.init
            child = dataclasses.replace(spec, name=f"{spec.name}.{part}", init=init)
            if part == "o" and "out_init" in options:
                locations = dict(spec.key_locations)
                locations["init"] = spec.where("out_init")
                child = dataclasses.replace(child, key_locations=locations)
            out_features, in_features = shapes[part]
            layer = DenseLayer(
                child,
                index,
                (tokens, in_features),
                (tokens, out_features),
                SEQUENCE,
                weight_shape=(out_features, in_features),
            )
            built = with_initializers(layer, child, context)
            assert isinstance(built, DenseLayer)
            projections.append(built)
        return AttentionLayer(
            spec,
            index,
            in_shape,
            in_shape,
            SEQUENCE,
            heads=heads,
            head_dim=int(head_dim),
            causal=bool(options["causal"]),
            logit_scale=logit_scale_value(options.get("logit_scale"), int(head_dim)),
            projections=tuple(projections),
        )


KIND = AttentionKind()
