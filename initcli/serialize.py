"""Results as text files: JSON (valid everywhere, non-finite numbers as null) and CSV.

Both are views of the same :class:`~initcli.stats.RunResult` data: ``stats.json`` is
exactly what ``--json`` prints and ``stats.csv`` has one row per layer with the same keys.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # at run time imported where used: console imports this module at start-up
    from initcli.block_stats import BlockStats
    from initcli.stats import LayerStats


def jsonable(value: Any) -> Any:
    """Plain JSON types; non-finite floats become null (JSON has no inf or NaN)."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    np = sys.modules.get("numpy")  # no numpy value can exist before numpy is imported
    if np is not None and isinstance(value, (np.ndarray, np.generic)):
        return jsonable(value.tolist())  # a NumPy scalar becomes its Python bool/int/float
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def to_json(value: Any) -> str:
    """Deterministic, valid JSON text (same input, same bytes)."""
    return json.dumps(jsonable(value), indent=2, allow_nan=False) + "\n"


def to_csv(
    layers: Sequence[LayerStats] | Sequence[BlockStats], extra: dict[str, object] | None = None
) -> str:
    """One row per layer (or block), the same keys as the JSON ``layers`` (``blocks``),
    lists joined by 'x' (attention's per-head lists by ';'; their columns only when some
    row has them)."""
    from initcli.block_stats import BlockStats
    from initcli.stats import EXTRA_KEYS, LayerStats

    names = [
        f.name
        for f in fields(BlockStats if layers and isinstance(layers[0], BlockStats) else LayerStats)
        if f.name not in EXTRA_KEYS
        or any(getattr(layer, f.name, None) is not None for layer in layers)
    ]
    prefix = list(extra or {})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(prefix + names)
    for layer in layers:
        row = asdict(layer)
        values: list[object] = list((extra or {}).values())
        for name in names:
            value = row[name]
            if isinstance(value, list) and name in EXTRA_KEYS:  # per head
                value = ";".join(repr(v) for v in value)
            elif isinstance(value, list):
                value = "x".join(str(v) for v in value)
            elif value is None:
                value = ""
            elif isinstance(value, float):
                value = repr(value)
            values.append(value)
        writer.writerow(values)
    return buffer.getvalue()
