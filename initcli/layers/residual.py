"""``residual``: ``output = shortcut(x) + scale * f(branch_input_scale * x)``.

``f`` is the block's ``layers`` run in order (a :class:`~initcli.layers.chain.Chain`);
``shortcut`` is the identity (default) or one layer (a projection such as a strided 1x1
convolution), required when ``f`` changes the shape. ``scale`` is alpha (default 1.0;
0.0 is SkipInit, De & Smith 2020). ``branch_input_scale`` multiplies the branch input
(default 1.0); ``beta`` sets it to NF-ResNet's 1/beta_i (Brock, De & Smith 2021), beta_i
the expected standard deviation of the block input by their analytic rule: 1 at the
first block of a run, beta_{i+1}^2 = beta_i^2 + scale^2 after an identity shortcut, and
1 + scale^2 after a projection, which (as NF-ResNet's transition blocks) then sees the
scaled input too.

The block yields the steps of its layers (rows of ``layers``, ``block`` = its index) and
a :class:`BlockForwardStep` / :class:`BlockBackwardStep` (``blocks`` in the JSON).

Backward: dL/dx = J_s^T g + scale * branch_input_scale * J_f^T g, the identity's J_s^T g
being g itself. Mean field: E[y^2] = E[s^2] + scale^2 E[f^2] when E[f] = 0 (a branch
ending in a zero-mean layer: the cross term 2 scale E[s f] vanishes over the last
layer's zero-mean weights), and Var(dL/dx) = Var(J_s^T g) + (scale * bis)^2 Var(J_f^T g)
(the cross term vanishes likewise).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from yaml.nodes import MappingNode, ScalarNode

from initcli.layers.base import (
    SEQUENCE,
    AllParameters,
    Array,
    Backward,
    BlockBackwardStep,
    BlockForwardStep,
    BlockTheoryRecord,
    BuildContext,
    Forward,
    GradientState,
    Layer,
    NoPrediction,
    TheoryRecord,
    fmt_shape,
    layer_error,
)
from initcli.layers.chain import Chain, transients
from initcli.layers.common import COMMON_KEYS
from initcli.yamlnodes import STR, Fields, describe, error, read_number

if TYPE_CHECKING:
    from initcli.network_spec import LayerSpec

STATE_KEY = "residual.expected_variance"  # BuildContext.state: block name -> beta^2 after it


def build_list(
    specs: tuple[LayerSpec, ...],
    in_shape: tuple[int, ...],
    source: str,
    context: BuildContext,
) -> tuple[Layer, ...]:
    """Layers one after another: :func:`initcli.network.build_chain`, which also hands
    each layer the layout of its input (``context.in_layout``: a sequence stays one)."""
    from initcli.network import build_chain

    return build_chain(specs, in_shape, source, context)


def chain_of(spec: LayerSpec, layers: tuple[Layer, ...], in_shape: tuple[int, ...]) -> Chain:
    out_shape = layers[-1].out_shape if layers else in_shape
    return Chain(spec, 0, in_shape, out_shape, layers=layers)


@dataclasses.dataclass(frozen=True)
class ResidualLayer(Layer):
    branch: Chain | None = None
    shortcut: Layer | None = None  # None: identity
    scale: float = 1.0
    input_scale: float = 1.0  # branch_input_scale, resolved (beta: 1/beta_i)
    # The stream is (tokens, features): its channels, for the block statistics, are the
    # features (last axis), not the tokens; else axis 1 (dense features, conv channels).
    features_last: bool = False

    @property
    def is_block(self) -> bool:
        return True

    @property
    def body(self) -> Chain:
        assert self.branch is not None
        return self.branch

    def children(self) -> tuple[Layer, ...]:
        return (*self.body.layers, *((self.shortcut,) if self.shortcut is not None else ()))

    # --- propagation -----------------------------------------------------------------------

    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        branch_in = x if self.input_scale == 1.0 else x * x.dtype.type(self.input_scale)
        f, saved_branch = yield from self.body.forward(branch_in, params, keep)
        saved_shortcut = None
        if self.shortcut is None:
            s = x
        else:
            s, saved_shortcut = yield from self.shortcut.forward(branch_in, params, keep)
        # Never in place: a layer of the branch may keep its output for backward.
        branch = f * f.dtype.type(self.scale)
        del f
        out = s + branch
        del s
        yield BlockForwardStep(self, out, branch)
        del branch
        return out, ((saved_branch, saved_shortcut) if keep else None)

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        saved_branch, saved_shortcut = saved
        del saved
        yield BlockBackwardStep(self, grad)
        # The branch's gradient first: the shortcut's backward may overwrite grad.
        grad_branch = grad * grad.dtype.type(self.scale)
        grad_shortcut: Array | None = grad
        if self.shortcut is not None:
            grad_shortcut = yield from self.shortcut.backward(
                grad, params, saved_shortcut, need_grad_x
            )
        del grad
        grad_x = yield from self.body.backward(grad_branch, params, saved_branch, need_grad_x)
        del grad_branch, saved_branch
        if not need_grad_x:
            return None
        assert grad_x is not None and grad_shortcut is not None
        factor = grad_x.dtype.type(self.input_scale)
        if self.shortcut is None:
            return grad_shortcut + (grad_x if self.input_scale == 1.0 else grad_x * factor)
        total = grad_shortcut + grad_x
        return total if self.input_scale == 1.0 else total * factor

    # --- memory and cost -------------------------------------------------------------------

    def saved_elements(self, batch: int) -> int:
        own = self.shortcut.saved_elements(batch) if self.shortcut is not None else 0
        return self.body.saved_elements(batch) + own

    def transient_bytes(self, batch: int, itemsize: int, previous: int) -> int:
        # Inside: the branch's and shortcut's own peaks; around them the scaled branch
        # input, scale * f and the sum (or, backward, the scaled gradient and the sum).
        inp = batch * math.prod(self.in_shape)
        out = batch * math.prod(self.out_shape)
        parts = [*self.body.layers, *((self.shortcut,) if self.shortcut is not None else ())]
        inner = max(transients(parts, batch, itemsize, max(inp, previous)), default=0)
        return inner + (inp + 2 * out) * itemsize

    # --- mean-field theory -----------------------------------------------------------------

    def theory_forward(self, input_square: float, records: list[TheoryRecord]) -> float:
        stream = records[-1] if records else None  # what fed the block (a block's: its stream)
        branch_in = self.input_scale**2 * input_square
        branch = self.body.theory_forward(branch_in, records)
        by_name = {record.layer.name: record for record in records}
        mean = self.body.theory_output_mean(by_name)
        if self.scale != 0.0 and (mean is None or abs(mean) > 1e-12 * math.sqrt(branch)):
            what = "is not known" if mean is None else f"is {mean:.3g}, not 0"
            raise NoPrediction(
                f"{self.name}: the mean of its branch output {what}, so the add's cross "
                "term 2 scale E[shortcut * branch] does not vanish and the stream's second "
                "moment is not predicted; end the branch with a zero-mean layer (a linear "
                "dense/conv with zero bias)"
            )
        if self.shortcut is None:
            shortcut = input_square
        else:
            shortcut = self.shortcut.theory_forward(branch_in, records)
        scaled = self.scale**2 * branch
        out = shortcut + scaled
        records.append(self._stream_record(stream, records, out, scaled, input_square))
        return out

    def _stream_record(
        self,
        before: TheoryRecord | None,
        records: list[TheoryRecord],
        out: float,
        scaled: float,
        input_square: float,
    ) -> BlockTheoryRecord:
        """The block's record, shaped as the stream after it (see BlockTheoryRecord)."""
        from initcli.activations import resolve_activation
        from initcli.theory import LayerParams

        # The stream's origin: the projection (its record is the last one), else what fed
        # the block; its mean is the stream's, the branch adding a zero-mean term.
        origin = records[-1] if self.shortcut is not None else before
        mean = 0.0 if origin is None else origin.act_mean
        if origin is None:
            linear = resolve_activation("linear")
            params = LayerParams(linear, sigma_w2=1.0, sigma_w2_back=1.0, kind="block")
        else:
            params = origin.params
        return BlockTheoryRecord(
            layer=self,
            params=params,
            preact_mean=mean,
            preact_var=out - mean**2,
            act_mean=mean,
            act_square=out,
            derivative_square=1.0,
            input_square=input_square,
            second_moment=out,
            branch_second_moment=scaled,
        )

    def theory_backward(
        self, grad: GradientState, records: dict[str, TheoryRecord]
    ) -> GradientState:
        own = records[self.name]
        own.grad_var = grad.value
        through_branch = self.body.theory_backward(
            GradientState(grad.factor * self.scale**2, grad.upstream), records
        ).value
        if self.shortcut is None:
            total = grad.value + self.input_scale**2 * through_branch
        else:
            through_shortcut = self.shortcut.theory_backward(grad, records).value
            total = self.input_scale**2 * (through_shortcut + through_branch)
        return GradientState(1.0, total)

    def notes(self) -> list[str]:
        return super().notes()


# --- the YAML side -------------------------------------------------------------------------


class ResidualKind:
    type = "residual"
    keys = (*COMMON_KEYS, "scale", "shortcut", "branch_input_scale", "repeat", "layers")
    default_name = "res"

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        if key in other_keys:
            return (
                f"{key} is not a residual key (a residual block takes {', '.join(self.keys)}); "
                f"put {key} on a layer inside its layers: [...]"
            )
        return None

    def parse(self, fields: Fields) -> dict[str, Any]:
        example = "layers: [{type: dense, units: 512, activation: relu}]"
        if not fields.has("layers"):
            raise fields.missing("layers", example)
        scale = fields.number("scale", "scale: 1.0 (0.0 is SkipInit)", default=1.0, minimum=0.0)
        children = {"layers": fields.layers("layers")}
        if fields.has("shortcut"):
            entry = fields.entries["shortcut"]
            node = entry.value
            if isinstance(node, MappingNode):
                children["shortcut"] = fields.layer("shortcut")
            elif not (
                isinstance(node, ScalarNode) and node.tag == STR and node.value == "identity"
            ):
                raise error(
                    entry.loc,
                    f"expected identity or one layer mapping, got {describe(node)}; write "
                    "e.g. shortcut: {type: conv2d, filters: 128, kernel_size: 1, stride: 2}",
                )
        input_scale: float | str = 1.0
        if fields.has("branch_input_scale"):
            entry = fields.entries["branch_input_scale"]
            node = entry.value
            if isinstance(node, ScalarNode) and node.tag == STR and node.value == "beta":
                input_scale = "beta"
            else:
                input_scale = read_number(
                    node,
                    entry.loc,
                    "branch_input_scale: beta (NF-ResNet's 1/beta) or a number such as 0.5",
                    minimum=0.0,
                    exclusive_minimum=True,
                )
        return {
            "bias": False,
            "options": {"scale": scale, "branch_input_scale": input_scale},
            "children": children,
        }

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> ResidualLayer:
        scale = float(spec.options.get("scale", 1.0))
        option = spec.options.get("branch_input_scale", 1.0)
        shortcut_specs = spec.children.get("shortcut", ())
        expected = context.state.setdefault(STATE_KEY, {})
        if option == "beta":
            variance_in = expected.get(source, 1.0)
            input_scale = 1.0 / math.sqrt(variance_in)
            expected[spec.name] = (1.0 if shortcut_specs else variance_in) + scale**2
        else:
            input_scale = float(option)
        layers = build_list(spec.children["layers"], in_shape, source, context)
        branch_spec = dataclasses.replace(spec, name=f"{spec.name}.layers", type="chain")
        branch = chain_of(branch_spec, layers, in_shape)
        shortcut = None
        if shortcut_specs:
            shortcut = context.build_child(shortcut_specs[0], 1, in_shape, source)
            shortcut_shape, what, key = (
                shortcut.out_shape,
                f"its shortcut {shortcut.name}",
                "shortcut",
            )
        else:
            shortcut_shape, what, key = in_shape, "the identity shortcut", "layers"
        if branch.out_shape != shortcut_shape:
            hint = (
                _projection_hint(in_shape, branch.out_shape)
                if shortcut is None
                else (f"make {shortcut.name} give {fmt_shape(branch.out_shape)}")
            )
            raise layer_error(
                spec,
                f"the branch (layers) maps {fmt_shape(in_shape)} to "
                f"{fmt_shape(branch.out_shape)}, which does not add to {what}'s "
                f"{fmt_shape(shortcut_shape)}; {hint}",
                key,
            )
        from initcli.network import layout_after

        stream = context.in_layout
        for layer in layers:
            stream = layout_after(layer, stream)
        return ResidualLayer(
            spec,
            index,
            in_shape,
            branch.out_shape,
            branch=branch,
            shortcut=shortcut,
            scale=scale,
            input_scale=input_scale,
            features_last=stream == SEQUENCE and len(branch.out_shape) == 2,
        )


def _projection_hint(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> str:
    if len(out_shape) == 1:
        return f"add shortcut: {{type: dense, units: {out_shape[0]}}}"
    if len(in_shape) == len(out_shape) and out_shape[1] > 0:
        stride = max(1, round(in_shape[1] / out_shape[1]))
        kind = "conv1d" if len(out_shape) == 2 else "conv2d"
        return (
            f"add shortcut: {{type: {kind}, filters: {out_shape[0]}, kernel_size: 1, "
            f"stride: {stride}}}"
        )
    return "add a shortcut layer mapping the block input to the branch's output shape"


KIND = ResidualKind()
