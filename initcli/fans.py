"""Fans: ``fan_in``, ``fan_out`` and receptive field as a pure function of shape and layout.

Layouts (where the input and output axes of a weight are):

* ``torch``: ``(out, in, *kernel)``, as ``torch.nn.init._calculate_fan_in_and_fan_out``.
  Rank < 2 is refused ("Fan in and fan out can not be computed for tensor with fewer
  than 2 dimensions").
* ``keras``: ``(*kernel, in, out)``, as ``keras.src.initializers.compute_fans`` (TF1's
  ``init_ops._compute_fans`` is the same rule). Rank 0 gives ``fan_in = fan_out = 1``;
  rank 1 gives ``fan_in = fan_out = shape[0]``.
* ``jax``: ``(*kernel, in, out)`` with JAX's defaults ``in_axis=-2, out_axis=-1,
  batch_axis=()`` (``jax._src.nn.initializers._compute_fans``); rank < 2 is refused.

For rank >= 2 every rule is ``fan_in = in * rf``, ``fan_out = out * rf`` with ``rf`` the
product of the kernel sizes, so the same weight gives the same fans in every layout once
its axes are put where that layout expects them.

Depthwise, grouped and transposed convolutions: initcli, like every framework, reads the
shape literally. A depthwise Keras kernel ``(kh, kw, in, multiplier)`` therefore gets
``fan_in = kh*kw*in`` although each output sees only ``kh*kw`` inputs (Keras #11773), and a
transposed-convolution weight, stored ``(in, out/groups, *k)`` in PyTorch, gets its fans
swapped (PyTorch #23854, PR #30079). Grouped PyTorch weights ``(out, in/groups, *k)`` give
the per-group ``fan_in`` (correct) and ``fan_out = out * rf`` (counts all groups). initcli's
own layers are dense and ordinary convolutions, for which the literal rule is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

from initcli.errors import EXIT_BAD_USAGE, InitcliError

Layout = Literal["torch", "keras", "jax"]
LAYOUTS: tuple[Layout, ...] = ("torch", "keras", "jax")
AXES = {"torch": "(out, in, *kernel)", "keras": "(*kernel, in, out)", "jax": "(*kernel, in, out)"}


@dataclass(frozen=True)
class Fans:
    fan_in: int
    fan_out: int
    receptive_field: int


def check_layout(layout: str, source: str = "--layout") -> Layout:
    """``layout`` lower-cased if it is one of torch, keras, jax; else a one-line error."""
    low = layout.lower()
    if low not in LAYOUTS:
        raise InitcliError(
            f"{source} {layout!r} is not a layout; use one of {', '.join(LAYOUTS)}",
            EXIT_BAD_USAGE,
        )
    return cast(Layout, low)


def compute_fans(shape: Sequence[int], layout: Layout = "torch") -> Fans:
    """Fans of a weight of ``shape`` stored in ``layout`` (rules in the module docstring)."""
    layout = check_layout(layout, "layout")
    dims = tuple(int(n) for n in shape)
    if any(n < 0 for n in dims):
        raise InitcliError(f"shape {dims} has a negative size", EXIT_BAD_USAGE)
    rank = len(dims)
    if rank < 2:
        if layout == "keras":
            size = dims[0] if rank == 1 else 1
            return Fans(size, size, 1)
        who = "PyTorch" if layout == "torch" else "JAX (default in_axis=-2)"
        raise InitcliError(
            f"shape {dims} has rank {rank}: {who} computes fans only for weights with at "
            f"least 2 dimensions {AXES[layout]}; use --layout keras for Keras' rank-0/1 "
            "rule (fan_in = fan_out = size)",
            EXIT_BAD_USAGE,
        )
    if layout == "torch":
        out_size, in_size, kernel = dims[0], dims[1], dims[2:]
    else:
        out_size, in_size, kernel = dims[-1], dims[-2], dims[:-2]
    receptive_field = math.prod(kernel)
    return Fans(in_size * receptive_field, out_size * receptive_field, receptive_field)


def torch_to_layout_axes(rank: int, layout: Layout) -> tuple[int, ...]:
    """Axes for ``np.transpose`` taking a PyTorch-layout array to ``layout``."""
    if layout == "torch" or rank < 2:
        return tuple(range(rank))
    return (*range(2, rank), 1, 0)


def layout_to_torch_axes(rank: int, layout: Layout) -> tuple[int, ...]:
    """Axes for ``np.transpose`` taking an array in ``layout`` to PyTorch layout."""
    if layout == "torch" or rank < 2:
        return tuple(range(rank))
    return (rank - 1, rank - 2, *range(rank - 2))


def torch_to_layout(shape: Sequence[int], layout: Layout) -> tuple[int, ...]:
    """A PyTorch-layout shape ``(out, in, *k)`` written in ``layout``."""
    dims = tuple(shape)
    return tuple(dims[axis] for axis in torch_to_layout_axes(len(dims), layout))


def layout_to_torch(shape: Sequence[int], layout: Layout) -> tuple[int, ...]:
    """A shape written in ``layout`` as PyTorch's ``(out, in, *k)``."""
    dims = tuple(shape)
    return tuple(dims[axis] for axis in layout_to_torch_axes(len(dims), layout))


def convert_shape(shape: Sequence[int], source: Layout, target: Layout) -> tuple[int, ...]:
    """A shape written in ``source`` layout, rewritten in ``target`` layout."""
    return torch_to_layout(layout_to_torch(shape, source), target)


def convert_axes(rank: int, source: Layout, target: Layout) -> tuple[int, ...]:
    """Axes for ``np.transpose`` taking a ``source``-layout array to ``target`` layout."""
    to_torch = layout_to_torch_axes(rank, source)
    from_torch = torch_to_layout_axes(rank, target)
    return tuple(to_torch[axis] for axis in from_torch)
