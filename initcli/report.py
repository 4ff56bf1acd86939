"""Views of a :class:`~initcli.stats.RunResult`: the rich table, the verdict lines and CSV."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import asdict, fields

from rich.console import Console
from rich.table import Table
from rich.text import Text

from initcli.stats import DirectionSummary, LayerStats, RunResult

VERDICT_STYLE = {"stable": "green", "vanishing": "yellow", "exploding": "red"}


def fmt(value: float | None, digits: int = 3) -> str:
    """A number as a person reads it: 3 significant digits, scientific when tiny or huge."""
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e4:
        return f"{value:.{digits}g}"
    return f"{value:.{digits - 1}e}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def layer_table(result: RunResult, title: str | None = None) -> Table:
    layers = result.layers
    has_grad = any(layer.grad_var is not None for layer in layers)
    has_theory = any(layer.theory_preact_var is not None for layer in layers)
    has_dead = any(layer.dead_frac is not None for layer in layers)
    has_saturation = any(layer.saturated_frac is not None for layer in layers)
    inits = {layer.init for layer in layers}
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("layer")
    table.add_column("activation")
    table.add_column("weight (out,in,*k)")
    table.add_column("fan in/out", justify="right")
    if len(inits) > 1:
        table.add_column("init")
    table.add_column("Var W", justify="right")
    table.add_column("Var z", justify="right")
    if has_theory:
        table.add_column("theory", justify="right", style="dim")
    table.add_column("z ratio", justify="right")
    table.add_column("E φ(z)", justify="right")
    table.add_column("Var φ(z)", justify="right")
    if has_grad:
        table.add_column("Var ∂z", justify="right")
        if has_theory:
            table.add_column("theory", justify="right", style="dim")
        table.add_column("∂z ratio", justify="right")
        table.add_column("Var ∂W", justify="right")
    if has_dead:
        table.add_column("dead", justify="right")
    if has_saturation:
        table.add_column("saturated", justify="right")
    for layer in layers:
        row = [
            str(layer.index),
            layer.name,
            layer.activation,
            "x".join(str(d) for d in layer.weight_shape),
            f"{layer.fan_in}/{layer.fan_out}",
        ]
        if len(inits) > 1:
            row.append(layer.init)
        row += [fmt(layer.weight_var), fmt(layer.preact_var)]
        if has_theory:
            row.append(fmt(layer.theory_preact_var))
        row += [fmt(layer.preact_ratio), fmt(layer.act_mean), fmt(layer.act_var)]
        if has_grad:
            row.append(fmt(layer.grad_var))
            if has_theory:
                row.append(fmt(layer.theory_grad_var))
            row += [fmt(layer.grad_ratio), fmt(layer.weight_grad_var)]
        if has_dead:
            row.append(percent(layer.dead_frac))
        if has_saturation:
            row.append(percent(layer.saturated_frac))
        table.add_row(*row, style=None if layer.finite else "red")
    return table


def verdict_line(label: str, summary: DirectionSummary) -> Text:
    text = Text(f"{label}: ")
    text.append(summary.verdict, style=f"bold {VERDICT_STYLE.get(summary.verdict, '')}")
    text.append(f" — {summary.message}")
    return text


def print_result(console: Console, result: RunResult) -> None:
    init_note = result.init if all(s.init == result.init for s in result.layers) else "per layer"
    title = (
        f"{result.name}: init {init_note}, bias {result.bias_init}, batch {result.batch}, "
        f"seed {result.seed}, {result.dtype}"
    )
    console.print(layer_table(result, title))
    console.print(verdict_line("forward ", result.summary.forward))
    if result.summary.backward is not None:
        console.print(verdict_line("backward", result.summary.backward))
    for note in result.summary.notes:
        console.print(Text(f"note: {note}", style="dim"))


def to_csv(layers: Sequence[LayerStats], extra: dict[str, object] | None = None) -> str:
    """One row per layer, the same keys as the JSON ``layers`` (lists joined by 'x')."""
    names = [f.name for f in fields(LayerStats)]
    prefix = list(extra or {})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(prefix + names)
    for layer in layers:
        row = asdict(layer)
        values: list[object] = list((extra or {}).values())
        for name in names:
            value = row[name]
            if isinstance(value, list):
                value = "x".join(str(v) for v in value)
            elif value is None:
                value = ""
            elif isinstance(value, float):
                value = repr(value)
            values.append(value)
        writer.writerow(values)
    return buffer.getvalue()


def compare_table(results: Sequence[RunResult], title: str) -> Table:
    """Per layer: Var z and Var dL/dz of each initializer side by side (theory dimmed)."""
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("layer")
    has_theory = any(r.layers and r.layers[0].theory_preact_var is not None for r in results)
    for result in results:
        table.add_column(f"Var z\n{result.init}", justify="right")
        if has_theory:
            table.add_column("theory", justify="right", style="dim")
    for result in results:
        if any(layer.grad_var is not None for layer in result.layers):
            table.add_column(f"Var ∂z\n{result.init}", justify="right")
            if has_theory:
                table.add_column("theory", justify="right", style="dim")
    for position, layer in enumerate(results[0].layers):
        row = [str(layer.index), layer.name]
        for result in results:
            stats = result.layers[position]
            row.append(fmt(stats.preact_var))
            if has_theory:
                row.append(fmt(stats.theory_preact_var))
        for result in results:
            stats = result.layers[position]
            if stats.grad_var is not None:
                row.append(fmt(stats.grad_var))
                if has_theory:
                    row.append(fmt(stats.theory_grad_var))
        table.add_row(*row)
    return table
