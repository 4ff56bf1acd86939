"""Per-layer statistics and the verdict: the one result object every view renders.

:class:`StatsCollector` consumes the steps of :func:`initcli.propagate.propagate` and reduces
each tensor to float64 moments in one pass (``initcli.moments``) before the next step is
computed. :func:`summarize` turns the per-layer numbers into a verdict.

Verdict rule (per direction): the total change T of the variance from the first weighted
layer to the last — forward: Var(z) of layer L over Var(z) of layer 1; backward: Var(dL/dz)
of layer 1 over that of layer L — and the per-layer factor T^(1/(L-1)). Layer 1 is the
reference rather than the input because the first layer sees the raw input, not phi of it
(He init doubles the input's variance once, then keeps it). A one-layer network compares
with the input and the output gradient. |log10 T| <= 1 (within a factor of 10 over the
whole depth) is "stable"; below, "vanishing"; above, "exploding". A non-finite value
(overflow to inf, or NaN) is "exploding", and the message says
"exploded at layer k" for the first layer where it appears.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from initcli.block_stats import BlockStats, BlockVerdict, channel_moments
from initcli.layers.base import BlockBackwardStep, BlockForwardStep, Step
from initcli.moments import Moments, moments
from initcli.propagate import BackwardStep, ForwardStep

STABLE_DECADES = 1.0  # |log10 total change| within this is "stable"
HISTOGRAM_SAMPLES = 50_000  # values kept per layer for the histogram plots


@dataclass
class LayerStats:
    """One weighted layer. Field names are the ``--json`` / CSV contract; add, never rename."""

    index: int  # 1-based among weighted layers
    name: str
    type: str
    activation: str
    weight_shape: list[int] | None  # PyTorch layout (out, in, *kernel); None: no weight
    out_shape: list[int]  # per example, channels-first
    fan_in: int | None  # None for a layer without a weight matrix (norms, pooling)
    fan_out: int | None
    init: str
    bias_init: str | None
    weight_mean: float | None
    weight_var: float | None
    preact_mean: float
    preact_var: float  # Var(z), z = W x + b
    act_mean: float
    act_var: float  # Var(phi(z))
    zero_frac: float | None  # share of exact zeros in phi(z) (relu-like activations)
    dead_frac: float | None  # share of units that are zero for every example in the batch
    saturated_frac: float | None  # share of phi(z) at its bounds (tanh, sigmoid, hard_tanh)
    grad_var: float | None = None  # Var(dL/dz)
    weight_grad_var: float | None = None  # Var(dL/dW)
    bias_grad_var: float | None = None
    preact_ratio: float | None = None  # this layer's Var over the previous layer's
    act_ratio: float | None = None
    grad_ratio: float | None = None
    weight_grad_ratio: float | None = None
    finite: bool = True  # False when this layer's forward or backward values are inf/NaN
    theory_preact_var: float | None = None
    theory_grad_var: float | None = None
    theory_weight_grad_var: float | None = None  # dense layers only
    spread: dict[str, list[float]] | None = None  # with --seeds K: [min, max] over the draws
    input_var: float | None = None  # Var of the layer's input (norm layers; None for others)
    block: int | None = None  # 1-based index of the residual block it is in; None outside
    # attention (the ``.o`` row of an attention layer; None elsewhere), per head, averaged
    # over the batch and query positions: see initcli.layers.attention
    attn_entropy: list[float] | None = None  # nats
    attn_entropy_uniform: float | None = None  # mean log(visible keys): the maximum
    attn_max_prob: list[float] | None = None
    logit_var: list[float] | None = None  # Var of the pre-softmax logits


PER_HEAD_KEYS = ("attn_entropy", "attn_max_prob", "logit_var")
EXTRA_KEYS = (*PER_HEAD_KEYS, "attn_entropy_uniform")


@dataclass
class LayerSamples:
    """Strided subsamples of one layer's tensors, for histograms (not part of the JSON)."""

    act: np.ndarray
    grad: np.ndarray | None = None


@dataclass
class DirectionSummary:
    verdict: str  # "stable" | "vanishing" | "exploding"
    factor_per_layer: float | None
    total: float | None
    depth: int
    first_nonfinite_layer: int | None
    message: str


@dataclass
class Summary:
    forward: DirectionSummary
    backward: DirectionSummary | None
    notes: list[str] = field(default_factory=list)
    blocks: list[BlockVerdict] = field(default_factory=list)  # per stage of residual blocks


@dataclass
class RunResult:
    config: str
    name: str
    init: str
    bias_init: str
    seed: int
    batch: int
    dtype: str
    input_mean: float
    input_var: float
    output_grad_var: float | None
    layers: list[LayerStats]
    summary: Summary
    seeds: int = 1  # draws averaged into these numbers (--seeds)
    scheme: str | None = None  # --scheme (initcli.schemes); in the JSON only when given
    samples: list[LayerSamples] = field(default_factory=list, repr=False)
    blocks: list[BlockStats] = field(default_factory=list)  # residual blocks, in order

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object and ``stats.json``: everything but the raw samples."""
        data = asdict(self)
        data.pop("samples")
        if data["scheme"] is None:
            del data["scheme"]
        for layer in data["layers"]:  # attention keys only on the rows that have them
            for key in EXTRA_KEYS:
                if layer.get(key, 0) is None:
                    del layer[key]
        return data


def _subsample(values: np.ndarray, limit: int = HISTOGRAM_SAMPLES) -> np.ndarray:
    flat = values.reshape(-1)
    step = max(1, flat.size // limit)
    return np.array(flat[::step][:limit], dtype=np.float64)


def ratio(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    if previous == 0 or not math.isfinite(previous) or not math.isfinite(current):
        return math.nan if current != 0 or previous != 0 else None
    return current / previous


def _dead_and_zero(act: np.ndarray) -> tuple[float, float]:
    is_zero = act == 0
    zero_frac = float(np.count_nonzero(is_zero)) / is_zero.size
    dead = np.logical_and.reduce(is_zero, axis=0)  # zero for every example
    return zero_frac, float(np.count_nonzero(dead)) / max(dead.size, 1)


def fill_ratios(layers: list[LayerStats]) -> None:
    """Each layer's variances over the previous layer's (the first layer has none)."""
    for previous, current in itertools.pairwise(layers):
        current.preact_ratio = ratio(current.preact_var, previous.preact_var)
        current.act_ratio = ratio(current.act_var, previous.act_var)
        current.grad_ratio = ratio(current.grad_var, previous.grad_var)
        current.weight_grad_ratio = ratio(current.weight_grad_var, previous.weight_grad_var)


class StatsCollector:
    """Reduce propagation steps to :class:`LayerStats`, in the order they arrive."""

    def __init__(self, keep_samples: bool = True) -> None:
        self.layers: list[LayerStats] = []
        self.samples: list[LayerSamples] = []
        self._by_name: dict[str, int] = {}
        self.keep_samples = keep_samples
        self.blocks: list[BlockStats] = []
        self._block_by_name: dict[str, int] = {}

    def add(self, step: Step) -> None:
        if isinstance(step, ForwardStep):
            self._forward(step)
        elif isinstance(step, BackwardStep):
            self._backward(step)
        elif isinstance(step, BlockForwardStep):
            self._block_forward(step)
        else:
            self._block_backward(step)

    def _block_forward(self, step: BlockForwardStep) -> None:
        from initcli.layers.residual import ResidualLayer

        layer = step.layer
        assert isinstance(layer, ResidualLayer)
        out = channel_moments(step.output, layer.features_last)
        branch = channel_moments(step.branch, layer.features_last)
        stats = BlockStats(
            index=len(self.blocks) + 1,  # arrival order; renumbered in network order later
            name=layer.name,
            scale=layer.scale,
            branch_input_scale=layer.input_scale,
            shortcut=layer.shortcut.name if layer.shortcut is not None else "identity",
            out_shape=list(layer.out_shape),
            avg_channel_sq_mean=out.sq_mean,
            avg_channel_var=out.var,
            branch_avg_channel_var=branch.var,
            second_moment=out.second_moment,
            branch_second_moment=branch.second_moment,
            finite=out.finite and branch.finite,
        )
        self._block_by_name[layer.name] = len(self.blocks)
        self.blocks.append(stats)

    def _block_backward(self, step: BlockBackwardStep) -> None:
        stats = self.blocks[self._block_by_name[step.layer.name]]
        grad = moments(step.grad_output)
        stats.grad_var = grad.var
        stats.finite = stats.finite and grad.finite

    def _forward(self, step: ForwardStep) -> None:
        layer = step.layer
        info = layer.row_info()
        weight = moments(step.weight) if step.weight is not None else None
        preact = moments(step.preact)
        act = moments(step.act)
        zero_frac = dead_frac = saturated_frac = None
        activation = info.activation
        if activation is not None and activation.can_die:
            zero_frac, dead_frac = _dead_and_zero(step.act)
        saturated = activation.saturated(step.act) if activation is not None else None
        if saturated is not None:
            saturated_frac = float(np.count_nonzero(saturated)) / saturated.size
        stats = LayerStats(
            index=len(self.layers) + 1,
            name=layer.name,
            type=layer.type,
            activation=activation.spec if activation is not None else "linear",
            weight_shape=list(info.weight_shape) if info.weight_shape is not None else None,
            out_shape=list(layer.out_shape),
            fan_in=info.fan_in,
            fan_out=info.fan_out,
            init=info.init,
            bias_init=info.bias_init,
            weight_mean=weight.mean if weight is not None else None,
            weight_var=weight.var if weight is not None else None,
            preact_mean=preact.mean,
            preact_var=preact.var,
            act_mean=act.mean,
            act_var=act.var,
            zero_frac=zero_frac,
            dead_frac=dead_frac,
            saturated_frac=saturated_frac,
            finite=preact.finite and act.finite,
            input_var=moments(step.inputs).var if info.reports_input else None,
        )
        if step.extra:
            for key, value in step.extra.items():
                if key not in EXTRA_KEYS:
                    raise AssertionError(f"{layer.name}: unknown statistic {key}")
                setattr(stats, key, value)
        self._by_name[layer.name] = len(self.layers)
        self.layers.append(stats)
        if self.keep_samples:
            self.samples.append(LayerSamples(act=_subsample(step.act)))

    def _backward(self, step: BackwardStep) -> None:
        position = self._by_name[step.layer.name]
        stats = self.layers[position]
        grad: Moments = moments(step.grad_preact)
        stats.grad_var = grad.var
        finite = grad.finite
        if step.grad_weight is not None:
            weight_grad = moments(step.grad_weight)
            stats.weight_grad_var = weight_grad.var
            finite = finite and weight_grad.finite
        if step.grad_bias is not None:
            stats.bias_grad_var = moments(step.grad_bias).var
        stats.finite = stats.finite and finite
        if self.keep_samples:
            self.samples[position].grad = _subsample(step.grad_preact)

    def finish(self) -> list[LayerStats]:
        """The layers, with their ratios filled once forward and backward are all in."""
        fill_ratios(self.layers)
        return self.layers


def _direction(
    word: str,
    values: list[float],
    reference: float,
    nonfinite_at: int | None,
    backward: bool,
    ends: tuple[int, int] | None = None,
) -> DirectionSummary:
    """Summarise one direction; ``values`` run from the reference end to the far end.

    With two or more layers the reference is the first value (layer 1 forward, layer L
    backward); a single layer is compared with ``reference`` (input or output gradient).
    ``ends``: the layer numbers of the first and last value, when they are not 1 and
    ``len(values)`` (layers no gradient reaches are left out of ``values``).
    """
    depth = len(values)
    if nonfinite_at is not None:
        beyond = "the layers below it (towards the input)" if backward else "the layers after it"
        return DirectionSummary(
            "exploding",
            None,
            None,
            depth,
            nonfinite_at,
            f"{word} exploded at layer {nonfinite_at}: overflow to inf/NaN there, so "
            f"{beyond} are not meaningful; use a smaller-scale initializer, or "
            "--dtype float64 to see how far it grows",
        )
    start, steps = (values[0], depth - 1) if depth > 1 else (reference, 1)
    first, last = ends if ends is not None else ((depth, 1) if backward else (1, depth))
    span = f"from layer {first} to layer {last}" if depth > 1 else "through the layer"
    final = values[-1]
    if start <= 0 or final <= 0:
        total = 0.0 if final <= 0 < start else math.nan
        return DirectionSummary(
            "vanishing", 0.0, total, depth, None, f"{word} are exactly zero {span}"
        )
    total = final / start
    factor = total ** (1.0 / steps)
    decades = math.log10(total)
    if abs(decades) <= STABLE_DECADES:
        verdict, verb = "stable", ("grow" if factor >= 1 else "shrink")
    elif decades < 0:
        verdict, verb = "vanishing", "shrink"
    else:
        verdict, verb = "exploding", "grow"
    message = f"{word} {verb} x{factor:.3g} per layer: variance x{total:.3g} {span}"
    return DirectionSummary(verdict, factor, total, depth, None, message)


def summarize(layers: list[LayerStats], input_var: float, output_grad_var: float | None) -> Summary:
    nonfinite_forward = next(
        (s.index for s in layers if not (math.isfinite(s.preact_var) and math.isfinite(s.act_var))),
        None,
    )
    forward = _direction(
        "activations (Var z)", [s.preact_var for s in layers], input_var, nonfinite_forward, False
    )
    backward = None
    # A layer no gradient reaches (grad_var None beside layers that have one: an own PyTorch
    # model's module feeding only a tuple output the loss leaves out) is not a vanishing one.
    reached = [s for s in layers if s.grad_var is not None]
    if output_grad_var is not None and reached:
        nonfinite_backward = next(
            (s.index for s in reversed(reached) if not math.isfinite(s.grad_var or 0.0)),
            None,
        )
        grads = [float(s.grad_var or 0.0) for s in reversed(reached)]  # `or`: for mypy
        backward = _direction(
            "gradients (Var dL/dz)",
            grads,
            output_grad_var,
            nonfinite_backward,
            True,
            (reached[-1].index, reached[0].index),
        )
    return Summary(forward=forward, backward=backward)
