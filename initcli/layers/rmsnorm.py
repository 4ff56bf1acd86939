"""``rmsnorm``: per example over all its values, ``x / sqrt(mean(x^2) + eps) * gamma``, as
``torch.nn.RMSNorm(normalized_shape=in_shape, eps=1e-5)`` (Zhang and Sennrich 2019): no
mean subtracted and no beta. initcli's default eps is 1e-5 as for the other norms; PyTorch's
default (``eps=None``) is the dtype's machine epsilon, so give ``eps`` explicitly to
compare. See :mod:`initcli.layers.normalization` for the math and the theory.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from initcli.layers.base import SEQUENCE, BuildContext
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
class RMSNormLayer(NormLayer):
    pass


class RMSNormKind:
    type = "rmsnorm"
    keys = NORM_KEYS
    default_name = "rmsnorm"

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        if key == "bias":
            return "rmsnorm has no bias (beta), as torch.nn.RMSNorm; remove bias"
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
    ) -> RMSNormLayer:
        # On a sequence (tokens, features): per token over the features, as a transformer's
        # torch.nn.LayerNorm(features) / RMSNorm(features) (see initcli.layers.base).
        per_token = context.in_layout == SEQUENCE and len(in_shape) == 2
        return RMSNormLayer(
            spec,
            index,
            in_shape,
            in_shape,
            SEQUENCE if per_token else None,
            eps=norm_eps(spec),
            activation=context.activation(spec),
            param_shape=in_shape[-1:] if per_token else in_shape,
            norm_axes=(2,) if per_token else tuple(range(1, len(in_shape) + 1)),
            centered=False,
        )


KIND = RMSNormKind()
