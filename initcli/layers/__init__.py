"""The layer kinds: one module each, one registry.

To add a kind: write ``initcli/layers/<kind>.py`` with a ``KIND`` object (a
:class:`~initcli.layers.base.LayerKind`: its YAML keys, parsing, and ``build`` returning a
:class:`~initcli.layers.base.Layer`), add one line to :data:`_KINDS` below, and its tests.
The spec parser, propagation, statistics, memory check and theory ask the registry and
the built layers; nothing else switches on a layer's type.
"""

from __future__ import annotations

from initcli.layers import (
    attention,
    batchnorm,
    convolution,
    dense,
    embedding,
    flatten,
    group,
    layernorm,
    pooling,
    residual,
    rmsnorm,
)
from initcli.layers.base import LayerKind

_KINDS: tuple[LayerKind, ...] = (
    dense.KIND,
    convolution.CONV1D,
    convolution.CONV2D,
    flatten.KIND,
    embedding.EMBEDDING,
    embedding.POSITIONAL,
    attention.KIND,
    batchnorm.KIND,
    layernorm.KIND,
    rmsnorm.KIND,
    pooling.AVGPOOL2D,
    pooling.MAXPOOL2D,
    pooling.GLOBAL_AVGPOOL,
    residual.KIND,
    group.KIND,
)

REGISTRY: dict[str, LayerKind] = {kind.type: kind for kind in _KINDS}
LAYER_TYPES: tuple[str, ...] = tuple(REGISTRY)
ALL_KEYS: frozenset[str] = frozenset(key for kind in _KINDS for key in kind.keys)


def kind_of(type_name: str) -> LayerKind:
    """The registered kind of a (validated) ``type:`` value."""
    return REGISTRY[type_name]
