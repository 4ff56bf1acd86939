"""Fans as a pure function of shape and layout, checked against PyTorch, Keras and JAX."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "numpy")

import numpy as np
import pytest

from initcli.errors import EXIT_BAD_USAGE, InitcliError
from initcli.fans import (
    LAYOUTS,
    Fans,
    compute_fans,
    convert_axes,
    convert_shape,
    layout_to_torch,
    layout_to_torch_axes,
    torch_to_layout,
    torch_to_layout_axes,
)

# Ranks 2-5: dense, conv1d/2d/3d, odd and even kernels, 1-sized axes.
SHAPES = [
    (1, 1),
    (3, 5),
    (256, 128),
    (64, 3, 7),
    (64, 3, 7, 7),
    (16, 8, 2, 4),
    (1, 32, 1, 1),
    (8, 4, 3, 3, 3),
    (5, 7, 1, 2, 3),
]
SMALL = [(), (1,), (7,), (256,)]


def test_reference_example() -> None:
    # shared/REFERENCE.md: 64,3,7,7 under PyTorch, and the same numbers read as Keras.
    assert compute_fans((64, 3, 7, 7), "torch") == Fans(147, 3136, 49)
    assert compute_fans((64, 3, 7, 7), "keras") == Fans(1344, 1344, 192)


@pytest.mark.parametrize("shape", SHAPES)
def test_layouts_agree_on_the_same_weight(shape: tuple[int, ...]) -> None:
    expected = compute_fans(shape, "torch")
    for layout in ("keras", "jax"):
        assert compute_fans(torch_to_layout(shape, layout), layout) == expected


@pytest.mark.parametrize("layout", ["torch", "jax"])
@pytest.mark.parametrize("shape", SMALL)
def test_torch_and_jax_refuse_rank_below_two(layout: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(InitcliError, match="at least 2 dimensions") as info:
        compute_fans(shape, layout)
    assert info.value.exit_code == EXIT_BAD_USAGE


def test_keras_rank_zero_and_one() -> None:
    assert compute_fans((), "keras") == Fans(1, 1, 1)
    assert compute_fans((7,), "keras") == Fans(7, 7, 1)


def test_unknown_layout() -> None:
    with pytest.raises(InitcliError, match="one of torch, keras, jax"):
        compute_fans((3, 3), "tf")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_axes_move_arrays_like_shapes(shape: tuple[int, ...], layout: str) -> None:
    array = np.arange(np.prod(shape)).reshape(shape)
    moved = array.transpose(torch_to_layout_axes(len(shape), layout))
    assert moved.shape == torch_to_layout(shape, layout)
    back = moved.transpose(layout_to_torch_axes(len(shape), layout))
    np.testing.assert_array_equal(back, array)
    assert layout_to_torch(moved.shape, layout) == shape
    for target in LAYOUTS:
        axes = convert_axes(len(shape), layout, target)
        direct = array.transpose(torch_to_layout_axes(len(shape), target))
        np.testing.assert_array_equal(moved.transpose(axes), direct)
        assert convert_shape(moved.shape, layout, target) == direct.shape


def test_torch_weight_in_keras_layout() -> None:
    assert torch_to_layout((64, 3, 7, 5), "keras") == (7, 5, 3, 64)
    assert layout_to_torch((7, 5, 3, 64), "keras") == (64, 3, 7, 5)


# --- differential: the frameworks' own functions --------------------------------------
@pytest.mark.parametrize("shape", SHAPES + SMALL)
def test_equals_torch(shape: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch")
    from torch.nn.init import _calculate_fan_in_and_fan_out

    tensor = torch.empty(shape)
    if len(shape) < 2:
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            _calculate_fan_in_and_fan_out(tensor)
        with pytest.raises(InitcliError):
            compute_fans(shape, "torch")
        return
    fans = compute_fans(shape, "torch")
    assert (fans.fan_in, fans.fan_out) == _calculate_fan_in_and_fan_out(tensor)


@pytest.mark.parametrize("shape", SHAPES + SMALL)
def test_equals_keras(shape: tuple[int, ...]) -> None:
    pytest.importorskip("keras")
    from keras.src.initializers.random_initializers import compute_fans as keras_fans

    fans = compute_fans(shape, "keras")
    assert (fans.fan_in, fans.fan_out) == keras_fans(shape)


@pytest.mark.parametrize("shape", SHAPES + SMALL)
def test_equals_jax(shape: tuple[int, ...]) -> None:
    pytest.importorskip("jax")
    from jax._src.nn.initializers import _compute_fans

    if len(shape) < 2:
        with pytest.raises(ValueError):
            _compute_fans(shape)
        with pytest.raises(InitcliError):
            compute_fans(shape, "jax")
        return
    fans = compute_fans(shape, "jax")
    assert (fans.fan_in, fans.fan_out) == _compute_fans(shape)
