"""``flatten``: a reshape of each example to one axis, no parameters and no statistics row."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from initcli.layers.base import AllParameters, Array, Backward, BuildContext, Forward, Layer
from initcli.layers.common import COMMON_KEYS
from initcli.yamlnodes import Fields

if TYPE_CHECKING:
    from initcli.network_spec import LayerSpec


@dataclasses.dataclass(frozen=True)
class FlattenLayer(Layer):
    output_is_view = True  # of a contiguous input: every layer's output is one

    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        return x.reshape(x.shape[0], *self.out_shape), None
        yield  # a generator that reports nothing

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        if not need_grad_x:
            return None
        return grad.reshape(grad.shape[0], *self.in_shape)
        yield  # a generator that reports nothing


class FlattenKind:
    type = "flatten"
    keys = COMMON_KEYS
    default_name = "flatten"

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        if key in other_keys:
            return (
                "flatten takes only type and name (it has no weights, activation or repeat); "
                f"remove {key}"
            )
        return None

    def parse(self, fields: Fields) -> dict[str, Any]:
        return {"bias": False}

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> FlattenLayer:
        return FlattenLayer(spec, index, in_shape, (math.prod(in_shape),))


KIND = FlattenKind()
