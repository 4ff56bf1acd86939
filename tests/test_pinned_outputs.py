"""Behaviour pinned before the layer-kinds redesign (issue 10): the ``--json`` of every
shipped config and README example on fixed seeds must stay byte-identical.

Regenerate with ``python scripts/pin_outputs.py`` only for a change meant to move numbers.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("pin_outputs", REPO / "scripts" / "pin_outputs.py")
assert _spec is not None and _spec.loader is not None
pin_outputs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pin_outputs)


SAME_MACHINE = (pin_outputs.PINNED / "MACHINE").read_text() == pin_outputs.machine()


def _close(new: Any, old: Any, path: str = "", scale: float = 0.0) -> None:
    """Equal up to float32 rounding of a different GEMM summation order (another machine or
    BLAS kernel): 5e-3, as tests/test_float32_accuracy.py allows a backward statistic where
    a relu unit near 0 lands on the other side of it (resnet_preact's batchnorm1 weight
    gradient variance moves 3.8e-3 between OpenBLAS's SkylakeX and Haswell kernels).

    ``scale``: the spread of the tensor a mean belongs to; a mean that is 0 up to rounding
    (a normalised layer's, ~1e-9) then compares to that spread, not to itself."""
    if isinstance(old, dict):
        assert isinstance(new, dict) and new.keys() == old.keys(), path
        for key in old:
            spread = old.get(key.removesuffix("_mean") + "_var") if key.endswith("_mean") else 0
            spread = math.sqrt(spread) if isinstance(spread, float) and spread > 0 else 0.0
            _close(new[key], old[key], f"{path}.{key}", spread)
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), path
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            _close(a, b, f"{path}[{i}]")
    elif isinstance(old, float) and isinstance(new, float):
        tolerance = max(1e-12, 1e-5 * scale)
        assert math.isclose(new, old, rel_tol=5e-3, abs_tol=tolerance), (path, new, old)
    else:
        assert new == old, path


@pytest.mark.parametrize("name", sorted(pin_outputs.CASES))
def test_output_is_byte_identical_to_the_pinned_file(name: str) -> None:
    pinned = (pin_outputs.PINNED / f"{name}.json").read_text()
    rendered = pin_outputs.render(pin_outputs.CASES[name])
    if not SAME_MACHINE:  # another CPU or BLAS: same keys and values to float32 rounding
        _close(json.loads(rendered), json.loads(pinned))
        return
    if rendered != pinned:
        assert json.loads(rendered) == json.loads(pinned)  # pytest shows the first difference
    assert rendered == pinned


def test_every_shipped_config_is_pinned() -> None:
    for config in (REPO / "configs").glob("*.yaml"):
        assert f"run_{config.stem}" in pin_outputs.CASES
