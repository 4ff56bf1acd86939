"""What every layer kind implements: the YAML side (:class:`LayerKind`) and the built layer
(:class:`Layer`), plus the tensors propagation hands to the statistics.

A kind is one module in :mod:`initcli.layers` with one ``KIND`` object, listed once in the
registry (``initcli/layers/__init__.py``). It says which YAML keys it accepts and parses
them (:meth:`LayerKind.parse`), then builds a :class:`Layer` for a given input shape
(:meth:`LayerKind.build`): shape inference, resolved initializers and activation.

A built layer samples its parameters through the run's ``numpy.random.Generator``, runs
forward on a batch returning what its backward needs, runs backward returning the input
gradient and its parameter gradients, says how many bytes it keeps and works in, and
steps the mean-field prediction. Forward and backward are generators: they ``yield`` the
:class:`ForwardStep` / :class:`BackwardStep` of every layer that reports statistics
(itself, or the layers inside a composite), so the statistics reduce each tensor before
propagation moves on and frees it; a composite runs its children with ``yield from``.

Conventions: the batch axis first, channels first (``(B, F)``, ``(B, C, L)``,
``(B, C, H, W)``); weights in PyTorch layout ``(out, in, *kernel)``.

Layouts of a 2-D per-example shape: ``(channels, length)`` for convolutions
(:data:`CHANNELS`) or ``(tokens, features)`` for sequence layers (:data:`SEQUENCE`: dense on
every token as ``torch.nn.Linear``, attention, layernorm, positional embeddings). A built
layer says the layout of its output in :attr:`Layer.layout` (None: the same as its input's,
or a 1-D/3-D shape that has no choice); :func:`initcli.network.build_chain` hands each
layer the layout of its input in :attr:`BuildContext.in_layout`. The input's layout is
``input.layout`` when the spec gives it, else None: undecided, so the first layer that
consumes it decides (conv1d reads channels, sequence layers read tokens x features).
Token ids (``input.distribution: tokens``) have the layout :data:`TOKENS`: only an
embedding takes them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from initcli.errors import EXIT_BAD_DATA, InitcliError

if TYPE_CHECKING:
    from initcli.activations import Activation
    from initcli.initializers import Initializer
    from initcli.network_spec import LayerSpec
    from initcli.theory import LayerParams
    from initcli.yamlnodes import Fields

Array = np.ndarray
CHANNELS = "channels"  # (channels, length): conv1d's input and output
SEQUENCE = "sequence"  # (tokens, features): dense per token, attention, layernorm
TOKENS = "tokens"  # (tokens,) integer ids: the input of an embedding
DType = type  # a numpy scalar type (np.float32); named so Layer.type does not shadow it
Params = Mapping[str, Array]  # one layer's parameters by name ("weight", "bias", ...)


# --- what propagation hands to the statistics ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class ForwardStep:
    """One reporting layer's forward tensors (z is its output before its activation)."""

    layer: Layer
    weight: Array | None
    bias: Array | None
    inputs: Array  # x, the layer's input batch
    preact: Array  # z (dense/conv: W x + b)
    act: Array  # phi(z), the layer's output
    # Numbers a kind reports beyond the common ones, by LayerStats field name (attention:
    # attn_entropy, attn_max_prob, logit_var, ...); None for most layers.
    extra: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class BackwardStep:
    layer: Layer
    grad_preact: Array  # dL/dz
    grad_weight: Array | None  # dL/dW, PyTorch layout
    grad_bias: Array | None  # dL/db


@dataclasses.dataclass(frozen=True)
class BlockForwardStep:
    """A residual block's forward tensors (``blocks`` in the JSON, not a row of ``layers``):
    its output ``shortcut(x) + scale * f(x)`` and the scaled branch ``scale * f(x)``.
    Yielded after the steps of the layers inside the block."""

    layer: Layer
    output: Array
    branch: Array


@dataclasses.dataclass(frozen=True)
class BlockBackwardStep:
    """A residual block's backward tensor: dL/d(block output). Yielded before the steps of
    the layers inside the block (backward runs from the output)."""

    layer: Layer
    grad_output: Array


Step = ForwardStep | BackwardStep | BlockForwardStep | BlockBackwardStep
Forward = Generator[Step, None, tuple[Array, Any]]  # yields steps, returns (output, saved)
Backward = Generator[Step, None, Array | None]  # yields steps, returns dL/d(input) or None


class AllParameters(Protocol):
    """Every layer's parameters, looked up by the layer's unique name."""

    def of(self, layer: Layer) -> Params: ...


@dataclasses.dataclass(frozen=True)
class RowInfo:
    """What a reporting layer's row of the statistics says about the layer itself; None
    where the layer has no such thing (a norm layer has no fans, flatten no activation)."""

    activation: Activation | None = None  # phi after the layer; None: identity
    weight_shape: tuple[int, ...] | None = None  # PyTorch layout (out, in, *kernel)
    fan_in: int | None = None
    fan_out: int | None = None
    init: str = ""
    bias_init: str | None = None
    # True: the row also reports Var of the layer's input (``input_var``), as norm layers
    # do (issue 11: "norm layers report the Var of their input and output").
    reports_input: bool = False


# --- mean-field prediction -----------------------------------------------------------------


class NoPrediction(Exception):
    """Raised by a layer whose statistics mean-field theory does not predict; the reason
    becomes the run's note ("no mean-field prediction: <reason>")."""


@dataclasses.dataclass(frozen=True)
class GradientState:
    """Var(dL/d(layer output)) = ``factor * upstream``, kept as two numbers so a chain of
    dense layers multiplies them in the order of Schoenholz et al.'s recursion
    Var(dL/dz_l) = (n_{l+1} Var W_{l+1}) E[phi'(z_l)^2] Var(dL/dz_{l+1}) exactly."""

    factor: float
    upstream: float

    @property
    def value(self) -> float:
        return self.factor * self.upstream


@dataclasses.dataclass
class TheoryRecord:
    """The forward numbers one reporting layer's prediction needs on the way back."""

    layer: Layer
    params: LayerParams
    preact_mean: float
    preact_var: float
    act_mean: float
    act_square: float  # E[phi(z)^2]
    derivative_square: float  # E[phi'(z)^2]
    input_square: float  # E[x^2] of the layer's input
    grad_var: float = math.nan


@dataclasses.dataclass
class BlockTheoryRecord(TheoryRecord):
    """A residual block's mean-field numbers, appended to ``records`` after the records of
    the layers inside it (:func:`initcli.network_theory.predict_network` separates them).

    Its :class:`TheoryRecord` fields describe the stream leaving the block, so a layer
    that reads the record before it (a norm asking the mean of its input) sees the
    stream: ``act_mean`` its mean (the block input's, the branch adding a zero-mean
    term), ``params`` those of the layer the stream came from (a linear one for a
    projection), ``act_square`` its second moment."""

    second_moment: float = math.nan  # E[y^2] of the block output
    branch_second_moment: float = math.nan  # scale^2 E[f^2]


# --- the YAML side -------------------------------------------------------------------------


class LayerKind(Protocol):
    """One ``type:`` of layer in the YAML spec (the registry holds one per type)."""

    @property
    def type(self) -> str: ...

    @property
    def keys(self) -> tuple[str, ...]:
        """Every YAML key it accepts, in the order the errors list them."""
        ...

    @property
    def default_name(self) -> str:
        """A layer without ``name`` is called f"{default_name}{position}"."""
        ...

    def wrong_key(self, key: str, other_keys: frozenset[str]) -> str | None:
        """A precise message for a key this kind does not take (``other_keys``: every key
        some kind takes), or None for the generic "unknown key ... allowed keys" error."""
        ...

    def parse(self, fields: Fields) -> dict[str, Any]:
        """The :class:`~initcli.network_spec.LayerSpec` fields from the layer's YAML keys."""
        ...

    def build(
        self,
        spec: LayerSpec,
        index: int,
        in_shape: tuple[int, ...],
        source: str,
        context: BuildContext,
    ) -> Layer:
        """The layer at 1-based ``index`` of its list for a per-example ``in_shape``
        (``source`` names what produces it, for errors), refusing shapes it cannot take."""
        ...


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What building needs beyond the layer's own spec: initializer and activation
    resolution (with the source of each text in its errors), and how to build children."""

    weight_init: Callable[[LayerSpec], Initializer]
    bias_init: Callable[[LayerSpec], Initializer]
    activation: Callable[[LayerSpec], Activation]
    build_child: Callable[[LayerSpec, int, tuple[int, ...], str], Layer]  # as LayerKind.build
    # The layout of the layer's input (CHANNELS, SEQUENCE, TOKENS, or None: undecided or
    # not 2-D); build_chain sets it for each layer it builds.
    in_layout: str | None = None
    input_vocab: int | None = None  # the network input's vocab when it is token ids
    # Scratch the kinds share during one build, keyed by the kind that owns the entry (the
    # residual kind keeps NF-ResNet's expected stream variance of each block here, so a
    # block with ``branch_input_scale: beta`` knows the variance of the block before it).
    state: dict[str, Any] = dataclasses.field(default_factory=dict)


# --- the built layer -----------------------------------------------------------------------


def fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def layer_error(spec: LayerSpec, message: str, key: str | None = None) -> InitcliError:
    where = spec.location if key is None else spec.where(key)
    return InitcliError(f"{where}: {spec.name}: {message}", EXIT_BAD_DATA)


@dataclasses.dataclass(frozen=True)
class Layer:
    """A layer with its shapes. Subclasses override what their kind does; the defaults are
    those of a parameter-free layer that reports no statistics.

    ``in_shape``/``out_shape`` are per example (no batch axis); ``index`` is the layer's
    1-based position in its list.
    """

    spec: LayerSpec
    index: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    # Layout of out_shape (CHANNELS, SEQUENCE, TOKENS); None: the input's layout carries on.
    layout: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    # structure
    @property
    def reports(self) -> bool:
        """True when the layer is a row of the statistics (``layers`` in the JSON)."""
        return False

    def row_info(self) -> RowInfo:
        """How a reporting layer describes itself in its row."""
        return RowInfo()

    @property
    def is_block(self) -> bool:
        """True for a residual block: an entry of ``blocks`` in the JSON (its steps are
        :class:`BlockForwardStep` / :class:`BlockBackwardStep`)."""
        return False

    def children(self) -> tuple[Layer, ...]:
        """Sub-layers of a composite, in propagation order; () for a plain layer."""
        return ()

    def walk(self) -> Iterator[Layer]:
        """This layer, then every layer inside it, depth first (the sampling order)."""
        yield self
        for child in self.children():
            yield from child.walk()

    # parameters
    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """This layer's own parameters (not its children's), by name, in sampling order."""
        return {}

    def sample_parameters(self, rng: np.random.Generator, dtype: DType) -> dict[str, Array]:
        return {}

    def parameter_count(self) -> int:
        return sum(math.prod(shape) for shape in self.parameter_shapes().values())

    # propagation
    def forward(self, x: Array, params: AllParameters, keep: bool) -> Forward:
        """Yield the steps of the reporting layers; return (output, saved for backward).

        ``keep`` False: forward only, save nothing."""
        raise NotImplementedError
        yield  # pragma: no cover

    def backward(
        self, grad: Array, params: AllParameters, saved: Any, need_grad_x: bool
    ) -> Backward:
        """Yield the steps of the reporting layers; return dL/d(input) (None when not
        ``need_grad_x``: the first layer saves the product).

        ``grad`` is the callee's: backward may overwrite it (dL/dz takes dL/dphi's buffer),
        so a caller that still needs it passes a copy. ``saved`` is consumed: call once."""
        raise NotImplementedError
        yield  # pragma: no cover

    # memory (bytes from shapes alone, for the check before anything is allocated)
    def saved_elements(self, batch: int) -> int:
        """Elements this layer keeps from forward until its backward."""
        return 0

    # What a chain needs to count a tensor two neighbours keep only once: this layer keeps
    # its output itself (relu-like: phi(z)), or the input array it was given (dense, conv),
    # or its output is a view of its input (flatten).
    keeps_output = False
    keeps_input = False
    output_is_view = False

    def transient_bytes(self, batch: int, itemsize: int, previous: int) -> int:
        """Peak temporary bytes of this layer's forward or backward call (``previous``: the
        elements of the tensor that fed it)."""
        return 0

    # cost
    def macs(self, batch: int) -> int:
        """Multiply-accumulates of the forward products over a batch."""
        return sum(child.macs(batch) for child in self.children())

    # mean-field theory
    def theory_forward(self, input_square: float, records: list[TheoryRecord]) -> float:
        """E[y^2] of the output from E[x^2] of the input; append a record per reporting
        layer. Raise :class:`NoPrediction` where the theory does not apply."""
        return input_square

    def theory_backward(
        self, grad: GradientState, records: dict[str, TheoryRecord]
    ) -> GradientState:
        """Var(dL/dx) from Var(dL/dy); fill ``grad_var`` of this layer's records."""
        return grad

    def theory_output_mean(self, records: dict[str, TheoryRecord]) -> float | None:
        """E[y] of every output element in the mean-field limit, after ``theory_forward``
        (``records`` by layer name); None when this layer cannot say. A residual block
        needs its branch's to know that the add's cross term vanishes."""
        return None

    def notes(self) -> list[str]:
        """Lines for the report: choices of this layer a reader should know."""
        return [note for child in self.children() for note in child.notes()]
