"""A network built from its spec: every layer with its shapes, initializers and activation.

:func:`build_network` turns a validated :class:`~initcli.network_spec.NetworkSpec` into built
layers (:mod:`initcli.layers`, one module per kind) chained from the input: each kind
infers its output shape from its input shape and refuses what it cannot take, naming the
layer, its location and both shapes. Initializer and activation SPEC strings are resolved
here, once per text, with the source of each text in its errors.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import TypeVar

from initcli import layers as layer_kinds
from initcli.activations import Activation, resolve_activation
from initcli.errors import EXIT_BAD_DATA, InitcliError
from initcli.initializers import Initializer, resolve_initializer
from initcli.layers.base import TOKENS, BuildContext, Layer
from initcli.layers.chain import Chain
from initcli.network_spec import LayerSpec, Location, NetworkSpec

__all__ = [
    "Layer",
    "Network",
    "build_network",
    "flops",
    "infer_layer",
    "macs",
    "parameter_count",
]


@dataclasses.dataclass(frozen=True)
class Network:
    name: str
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]  # the top-level list, as the spec's ``layers``
    notes: tuple[str, ...] = ()  # one line each, for the report: choices a reader should know

    @property
    def root(self) -> Chain:
        """The whole network as one chain (what propagation and the theory walk)."""
        spec = LayerSpec(type="network", name=self.name, location=Location("<network>"))
        return Chain(spec, 0, self.input_shape, self.output_shape, layers=self.layers)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].out_shape if self.layers else self.input_shape

    def walk(self) -> Iterator[Layer]:
        """Every layer, composites' sub-layers included, depth first (the sampling order)."""
        for layer in self.layers:
            yield from layer.walk()

    def reporting_layers(self) -> list[Layer]:
        """The layers that are rows of the statistics, in order."""
        return [layer for layer in self.walk() if layer.reports]

    def parameter_count(self) -> int:
        return sum(parameter_count(layer) for layer in self.walk())


def macs(layer: Layer, batch: int) -> int:
    """Multiply-accumulates of the forward products over a batch."""
    return layer.macs(batch)


def flops(layer: Layer, batch: int) -> int:
    """FLOPs of the forward product and both backward products (dL/dx, dL/dW): 3 * 2 * MACs."""
    return 6 * macs(layer, batch)


def parameter_count(layer: Layer) -> int:
    """This layer's own parameters (not a composite's children's)."""
    return layer.parameter_count()


def infer_layer(
    spec: LayerSpec, index: int, in_shape: tuple[int, ...], source: str = "the input"
) -> Layer:
    """One layer's shapes (and convolution geometry), without activation or initializers.

    ``source`` names what produces ``in_shape`` in error messages (the previous layer).
    Raises :class:`InitcliError` (exit 1) naming the layer, its location and both shapes.
    """
    kind = layer_kinds.kind_of(spec.type)
    infer = getattr(kind, "infer", None)
    if infer is not None:
        layer: Layer = infer(spec, index, in_shape, source)
        return layer

    def unresolved(_: LayerSpec) -> object:
        raise AssertionError("infer_layer resolves no initializer or activation")

    context = BuildContext(unresolved, unresolved, unresolved, _no_children)  # type: ignore[arg-type]
    return kind.build(spec, index, in_shape, source, context)


def _no_children(spec: LayerSpec, index: int, shape: tuple[int, ...], source: str) -> Layer:
    raise AssertionError("infer_layer builds no sub-layers")


T = TypeVar("T")


def _resolver(resolve: Callable[[str], T]) -> Callable[[str, str, int | None], T]:
    """``resolve`` with a per-build cache and the source of the text prefixed to its errors."""
    cache: dict[str, T] = {}

    def resolved(text: str, where: str, exit_code: int | None) -> T:
        if text not in cache:
            try:
                cache[text] = resolve(text)
            except InitcliError as err:
                raise err.with_context(where, exit_code) from None
        return cache[text]

    return resolved


def build_network(
    spec: NetworkSpec, init: str | None = None, bias_init: str | None = None
) -> Network:
    """Layers with shapes, initializers, activations and fans.

    Initializer precedence (issue 3): a layer's own ``init``/``bias_init`` wins; otherwise
    the ``init``/``bias_init`` override (``--init``/``--bias-init``); otherwise the spec's
    default. Errors name where the offending text came from (``file:line: key`` or the flag).
    """
    initializer = _resolver(resolve_initializer)
    activation = _resolver(resolve_activation)

    def default(override: str | None, key: str, value: str) -> tuple[str, str, int | None]:
        if override is not None:
            return override, f"--{key.replace('_', '-')}", None
        where = spec.key_locations.get(key, Location(spec.path, key=key))
        return value, str(where), EXIT_BAD_DATA

    # Resolved up front so a bad flag or default is reported even if every layer overrides it.
    default_init = default(init, "init", spec.init)
    default_bias = default(bias_init, "bias_init", spec.bias_init)
    initializer(*default_init)
    initializer(*default_bias)

    def own_or(
        own: str | None, where: Location, fallback: tuple[str, str, int | None]
    ) -> Initializer:
        if own is None:
            return initializer(*fallback)
        return initializer(own, str(where), EXIT_BAD_DATA)

    def weight_init(layer: LayerSpec) -> Initializer:
        return own_or(layer.init, layer.where("init"), default_init)

    def bias_init_of(layer: LayerSpec) -> Initializer:
        return own_or(layer.bias_init, layer.where("bias_init"), default_bias)

    def activation_of(layer: LayerSpec) -> Activation:
        return activation(layer.activation, str(layer.where("activation")), EXIT_BAD_DATA)

    def build_child(layer: LayerSpec, index: int, in_shape: tuple[int, ...], source: str) -> Layer:
        kind = layer_kinds.kind_of(layer.type)
        return kind.build(layer, index, in_shape, source, context)

    context = BuildContext(weight_init, bias_init_of, activation_of, build_child)

    if not 1 <= len(spec.input_shape) <= 3 or any(n < 1 for n in spec.input_shape):
        where = spec.key_locations.get("input", Location(spec.path, key="input"))
        raise InitcliError(
            f"{where}: input shape {list(spec.input_shape)} must be [features], "
            "[channels, length] or [channels, height, width] of positive ints",
            EXIT_BAD_DATA,
        )
    if spec.input_distribution == "tokens":
        context = dataclasses.replace(context, in_layout=TOKENS, input_vocab=spec.input_vocab)
    elif spec.input_layout is not None:
        context = dataclasses.replace(context, in_layout=spec.input_layout)
    built = build_chain(spec.layers, spec.input_shape, "the input", context)
    notes = tuple(note for layer in built for note in layer.notes())
    return Network(spec.name, spec.input_shape, built, notes)


def build_chain(
    specs: tuple[LayerSpec, ...],
    in_shape: tuple[int, ...],
    source: str,
    context: BuildContext,
) -> tuple[Layer, ...]:
    """Layers one after another, each fed by the one before (``source`` feeds the first).

    Each layer is built with ``in_layout`` = the layout of its input (``context.in_layout``
    for the first): a layer's own :attr:`Layer.layout`, else its input's, carried on while
    the shape stays 2-D (see :mod:`initcli.layers.base`). Token ids reach only an
    embedding: any other kind fed tokens is refused here.
    """
    built: list[Layer] = []
    shape = in_shape
    layout = context.in_layout
    for index, layer_spec in enumerate(specs, start=1):
        kind = layer_kinds.kind_of(layer_spec.type)
        if layout == TOKENS and not getattr(kind, "accepts_tokens", False):
            raise InitcliError(
                f"{layer_spec.location}: {layer_spec.name}: {source} gives token ids "
                f"(input distribution: tokens), which a {layer_spec.type} layer cannot take; "
                "put '- {type: embedding, vocab: V, dim: D}' before it",
                EXIT_BAD_DATA,
            )
        layer = kind.build(
            layer_spec, index, shape, source, dataclasses.replace(context, in_layout=layout)
        )
        built.append(layer)
        shape, source = layer.out_shape, layer_spec.name
        layout = layout_after(layer, layout)
    return tuple(built)


def layout_after(layer: Layer, in_layout: str | None) -> str | None:
    """The layout of ``layer``'s output fed ``in_layout``: its own, else its input's while
    the shape stays 2-D (see :mod:`initcli.layers.base`)."""
    if layer.layout is not None:
        return layer.layout
    if len(layer.out_shape) != 2 and in_layout != TOKENS:
        return None
    return in_layout


def parameter_bytes(network: Network, itemsize: int) -> int:
    """Bytes of every parameter of the network."""
    return sum(
        math.prod(shape) * itemsize
        for layer in network.walk()
        for shape in layer.parameter_shapes().values()
    )
