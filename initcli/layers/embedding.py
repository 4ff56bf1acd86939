"""``embedding`` (token ids -> vectors) and ``positional_embedding`` (a learned vector per
position, added), as ``torch.nn.Embedding`` and GPT-2's ``wpe``.

``embedding``: weight ``(vocab, dim)``, the layout of ``nn.Embedding.weight``; its fans are
what ``torch.nn.init._calculate_fan_in_and_fan_out`` gives that 2-D tensor: fan_in = dim
(``size(1)``), fan_out = vocab (``size(0)``). Forward ``y[b, t] = W[ids[b, t]]``; backward
has no input gradient (ids are integers) and ``dL/dW[v] = sum of dL/dy over the positions
holding token v``: the rows of tokens absent from the batch get exactly zero gradient, and
``Var dL/dW`` is over all ``vocab`` rows, zeros included (the run says so in a note).

``positional_embedding``: weight ``(tokens, dim)`` (fan_in = dim, fan_out = tokens),
``y = x + P`` on a sequence ``(tokens, dim)``; ``dL/dx = dL/dy``, ``dL/dP = sum over the
batch of dL/dy``. Neither has a bias or an activation; both are rows of the statistics
(Var z = Var y).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from initcli.layers.base import (
    SEQUENCE,
    TOKENS,
    AllParameters,
    Array,
    Backward,
    BackwardStep,
    BuildContext,
    DType,
    Forward,
    ForwardStep,
    GradientState,
    Layer,
    NoPrediction,
    RowInfo,
    TheoryRecord,
    fmt_shape,
    layer_error,
)
from initcli.layers.common import COMMON_KEYS
from initcli.yamlnodes import Fields

if TYPE_CHECKING:
    from initcli.fans import Fans
    from initcli.initializers import Initializer
    from initcli.network_spec import LayerSpec

EMBEDDING_KEYS = (*COMMON_KEYS, "vocab", "dim", "init")
POSITIONAL_KEYS = (*COMMON_KEYS, "dim", "init")


@dataclasses.dataclass(frozen=True)
class TableLayer(Layer):
    """A weight table with no bias and no activation (what both kinds share)."""

    weight_shape: tuple[int, ...] = ()
    init: Initializer | None = None
    fans: Fans | None = None

    @property
    def reports(self) -> bool:
        return True

    def row_info(self) -> RowInfo:
        assert self.init is not None and self.fans is not None
        return RowInfo(
            weight_shape=self.weight_shape,
            fan_in=self.fans.fan_in,
            fan_out=self.fans.fan_out,
            init=self.init.spec,
        )

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"weight": self.weight_shape}

    def sample_parameters(self, rng: np.random.Generator, dtype: DType) -> dict[str, Array]:
        from initcli.initializers import sample_weight

        assert self.init is not None
        return {"weight": sample_weight(self.init, self.weight_shape, rng, dtype)}

    def theory_forward(self, input_square: float, records: list[TheoryRecord]) -> float:
        raise NoPrediction(
            f"{self.name}: the mean-field recursion covers dense and conv stacks, not "
            f"{self.type} layers"
        )

    def theory_backward(
        self, grad: GradientState, records: dict[str, TheoryRecord]
    ) -> GradientState:
        raise NoPrediction(f"{self.name}: no mean-field prediction for {self.type}")


@dataclasses.dataclass(frozen=True)
class EmbeddingLayer(TableLayer):
    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        weight = params.of(self)["weight"]
        if x.dtype.kind not in "iu":
            raise TypeError(f"{self.name}: token ids must be integers, got {x.dtype}")
        y = weight[x]  # (B, T, dim), a gather (a copy)
        yield ForwardStep(self, weight, None, x, y, y)
        return y, (x if keep else None)

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        ids = saved
        grad_weight = scatter_rows(ids, grad, self.weight_shape[0])
        yield BackwardStep(self, grad, grad_weight, None)
        return None  # token ids have no gradient

    def saved_elements(self, batch: int) -> int:
        return batch * math.prod(self.in_shape)

    def transient_bytes(self, batch: int, itemsize: int, previous: int) -> int:
        out = batch * math.prod(self.out_shape)
        return (2 * out + math.prod(self.weight_shape)) * itemsize

    def notes(self) -> list[str]:
        vocab = self.weight_shape[0]
        return [
            f"{self.name}: only the rows of token ids present in the batch get gradient; "
            f"Var dL/dW is over all {vocab} rows, the unused ones exactly 0"
        ]


def scatter_rows(ids: Array, grad: Array, rows: int) -> Array:
    """``out[v] = sum of grad[b, t]`` over the positions with ``ids[b, t] == v`` (what
    ``nn.Embedding``'s backward computes), by one sort and a segmented sum."""
    flat_ids = ids.reshape(-1)
    flat = grad.reshape(flat_ids.size, -1)
    order = np.argsort(flat_ids, kind="stable")
    sorted_ids = flat_ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    out = np.zeros((rows, flat.shape[1]), dtype=grad.dtype)
    out[sorted_ids[starts]] = np.add.reduceat(flat[order], starts, axis=0)
    return out


@dataclasses.dataclass(frozen=True)
class PositionalLayer(TableLayer):
    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        weight = params.of(self)["weight"]
        y = x + weight
        yield ForwardStep(self, weight, None, x, y, y)
        return y, None

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        grad_weight = grad.sum(axis=0)
        yield BackwardStep(self, grad, grad_weight, None)
        return grad if need_grad_x else None

    def transient_bytes(self, batch: int, itemsize: int, previous: int) -> int:
        return (2 * batch * math.prod(self.out_shape) + math.prod(self.weight_shape)) * itemsize

    def macs(self, batch: int) -> int:
        return 0


def _resolved(layer: TableLayer, spec: LayerSpec, context: BuildContext) -> TableLayer:
    from initcli.fans import compute_fans

    return dataclasses.replace(
        layer, init=context.weight_init(spec), fans=compute_fans(layer.weight_shape, "torch")
    )


def _wrong_key(kind: str, keys: tuple[str, ...], key: str) -> str | None:
    if key in ("activation", "bias", "bias_init"):
        return f"{kind} has no {key} (a table of vectors: weight only); remove {key}"
    if key == "units":
        return f"{kind} takes dim, not units; rename units to dim"
    return None


class EmbeddingKind:
    type = "embedding"
    keys = EMBEDDING_KEYS
    default_name = "embedding"
    accepts_tokens = True

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        return _wrong_key(self.type, self.keys, key)

    def parse(self, fields: Fields) -> dict[str, Any]:
        parsed: dict[str, Any] = {
            "bias": False,
            "units": fields.required_int("dim", "dim: 256"),
            "options": {"vocab": fields.required_int("vocab", "vocab: 1000")},
        }
        if fields.has("init"):
            parsed["init"] = fields.text("init", "an initializer SPEC", "init: normal(std=0.02)")
        return parsed

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> EmbeddingLayer:
        vocab = int(spec.options["vocab"])
        if context.in_layout != TOKENS or len(in_shape) != 1:
            raise layer_error(
                spec,
                f"embedding reads token ids but {source} gives {fmt_shape(in_shape)} of "
                "real values; set input: {shape: [tokens], distribution: tokens, vocab: V} "
                "and make the embedding the first layer",
            )
        input_vocab = context.input_vocab
        if input_vocab is not None and input_vocab > vocab:
            raise layer_error(
                spec,
                f"vocab {vocab} is smaller than the input's vocab {input_vocab}: token ids "
                f"{vocab}..{input_vocab - 1} would have no embedding; set vocab: {input_vocab}",
                "vocab",
            )
        assert spec.units is not None
        layer = EmbeddingLayer(
            spec, index, in_shape, (in_shape[0], spec.units), SEQUENCE, (vocab, spec.units)
        )
        resolved = _resolved(layer, spec, context)
        assert isinstance(resolved, EmbeddingLayer)
        return resolved


class PositionalKind:
    type = "positional_embedding"
    keys = POSITIONAL_KEYS
    default_name = "positional"

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        if key == "vocab":
            return "positional_embedding has one row per token position, not a vocab; remove vocab"
        return _wrong_key(self.type, self.keys, key)

    def parse(self, fields: Fields) -> dict[str, Any]:
        parsed: dict[str, Any] = {"bias": False, "units": fields.required_int("dim", "dim: 256")}
        if fields.has("init"):
            parsed["init"] = fields.text("init", "an initializer SPEC", "init: normal(std=0.01)")
        return parsed

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> PositionalLayer:
        from initcli.layers.base import CHANNELS

        assert spec.units is not None
        if len(in_shape) != 2 or context.in_layout == CHANNELS:
            raise layer_error(
                spec,
                f"positional_embedding adds a vector per token to a sequence (tokens, "
                f"features) but {source} gives {fmt_shape(in_shape)}"
                + (" in (channels, length) layout" if len(in_shape) == 2 else "")
                + "; put it after an embedding or on a [tokens, features] input",
            )
        if in_shape[1] != spec.units:
            raise layer_error(
                spec,
                f"dim {spec.units} differs from the {in_shape[1]} features {source} gives; "
                f"set dim: {in_shape[1]}",
                "dim",
            )
        layer = PositionalLayer(spec, index, in_shape, in_shape, SEQUENCE, in_shape)
        resolved = _resolved(layer, spec, context)
        assert isinstance(resolved, PositionalLayer)
        return resolved


EMBEDDING = EmbeddingKind()
POSITIONAL = PositionalKind()
