"""``layernorm``: per example over all its values, as ``torch.nn.LayerNorm(normalized_shape=
in_shape)``: dense ``(F,)`` over the features, conv ``(C, L)`` / ``(C, H, W)`` over channels
and positions; biased variance, eps inside the square root, gamma and beta of the input's
shape. See :mod:`initcli.layers.normalization` for the math and the theory.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from initcli.layers.base import SEQUENCE, BuildContext, fmt_shape, layer_error
from initcli.layers.normalization import (
    NORM_KEYS,
    NormLayer,
    norm_eps,
    norm_wrong_key,
    parse_norm,
)
from initcli.yamlnodes import Fields

if TYPE_CHECKING:
    from initcli.network_spec import LayerSpec


@dataclasses.dataclass(frozen=True)
class LayerNormLayer(NormLayer):
    pass


class LayerNormKind:
    type = "layernorm"
    keys = NORM_KEYS
    default_name = "layernorm"

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        return norm_wrong_key(self.type, key)

    def parse(self, fields: Fields) -> dict[str, Any]:
        return parse_norm(fields)

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> LayerNormLayer:
        if math.prod(in_shape) < 2:
            raise layer_error(
                spec,
                f"layernorm normalizes each example over its values, but {source} gives "
                f"{fmt_shape(in_shape)}: one value, whose normalized form is always 0; "
                "give it a wider input or remove the layer",
            )
        # On a sequence (tokens, features): per token over the features, as a transformer's
        # torch.nn.LayerNorm(features) / RMSNorm(features) (see initcli.layers.base).
        per_token = context.in_layout == SEQUENCE and len(in_shape) == 2
        return LayerNormLayer(
            spec,
            index,
            in_shape,
            in_shape,
            SEQUENCE if per_token else None,
            eps=norm_eps(spec),
            activation=context.activation(spec),
            param_shape=in_shape[-1:] if per_token else in_shape,
            norm_axes=(2,) if per_token else tuple(range(1, len(in_shape) + 1)),
        )


KIND = LayerNormKind()
