"""``group``: a plain repeatable list of layers run in order, no skip (``repeat: 4`` gives
four copies, each with its own weights, named ``group2_1.dense1``, ... when named, else
``group2.dense1`` by position)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from initcli.layers.base import BuildContext
from initcli.layers.chain import Chain
from initcli.layers.common import COMMON_KEYS
from initcli.layers.residual import STATE_KEY, build_list
from initcli.yamlnodes import Fields

if TYPE_CHECKING:
    from initcli.spec import LayerSpec


@dataclasses.dataclass(frozen=True)
class GroupLayer(Chain):
    """A chain that is one layer of its parent's list."""


class GroupKind:
    type = "group"
    keys = (*COMMON_KEYS, "repeat", "layers")
    default_name = "group"

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        if key in other_keys:
            return (
                f"{key} is not a group key (a group takes {', '.join(self.keys)}); "
                f"put {key} on a layer inside its layers: [...]"
            )
        return None

    def parse(self, fields: Fields) -> dict[str, Any]:
        if not fields.has("layers"):
            raise fields.missing("layers", "layers: [{type: dense, units: 64}]")
        return {"bias": False, "children": {"layers": fields.layers("layers")}}

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> GroupLayer:
        layers = build_list(spec.children["layers"], in_shape, source, context)
        expected = context.state.setdefault(STATE_KEY, {})
        if layers[-1].name in expected:  # a beta block's successor sees through the group
            expected[spec.name] = expected[layers[-1].name]
        return GroupLayer(spec, index, in_shape, layers[-1].out_shape, layers=layers)


KIND = GroupKind()
