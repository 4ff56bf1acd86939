"""``batchnorm``: per channel over the batch and every position, with the batch's own
statistics (training mode), as ``torch.nn.BatchNorm1d`` on ``(B, F)`` and ``(B, C, L)`` and
``torch.nn.BatchNorm2d`` on ``(B, C, H, W)``: biased variance, eps inside the square root,
gamma and beta of shape ``(C,)`` (``(F,)`` on a flat input). Running statistics are not
kept: initcli looks at one batch at initialization. See :mod:`initcli.layers.normalization`
for the math and the theory.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from initcli.layers.base import Array, BuildContext, fmt_shape, layer_error
from initcli.layers.normalization import (
    NORM_KEYS,
    NormLayer,
    norm_eps,
    norm_wrong_key,
    parse_norm,
)
from initcli.yamlnodes import Fields

if TYPE_CHECKING:
    from initcli.spec import LayerSpec


@dataclasses.dataclass(frozen=True)
class BatchNormLayer(NormLayer):
    def check_batch(self, x: Array) -> None:
        if self.values_per_group(x.shape[0]) < 2:
            raise layer_error(
                self.spec,
                f"batchnorm normalizes each channel over the batch and positions, but batch "
                f"{x.shape[0]} with input {fmt_shape(self.in_shape)} gives one value per "
                "channel (its variance is 0, as torch.nn.BatchNorm1d refuses in training "
                "mode); use --batch >= 2",
            )

    def theory_group(self) -> int | None:
        return None  # batch x positions: the batch is the run's, not the layer's


class BatchNormKind:
    type = "batchnorm"
    keys = NORM_KEYS
    default_name = "batchnorm"

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
    ) -> BatchNormLayer:
        if len(in_shape) not in (1, 2, 3):  # pragma: no cover - the spec allows no other
            raise layer_error(spec, f"batchnorm cannot normalize {fmt_shape(in_shape)}")
        return BatchNormLayer(
            spec,
            index,
            in_shape,
            in_shape,
            eps=norm_eps(spec),
            activation=context.activation(spec),
            param_shape=(in_shape[0],),
            norm_axes=(0, *range(2, len(in_shape) + 1)),
        )


KIND = BatchNormKind()
