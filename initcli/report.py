"""Views of a :class:`~initcli.stats.RunResult` for the terminal: rich tables, verdict lines."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from initcli.stats import DirectionSummary, RunResult

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


def _uniform(values: Sequence[str]) -> str | None:
    """The one value every layer shares, or None when they differ."""
    return values[0] if values and all(v == values[0] for v in values) else None


def _shape_cell(shape: Sequence[int] | None) -> str:
    return "-" if shape is None else "x".join(str(d) for d in shape)


def _fan_cell(fan_in: int | None, fan_out: int | None) -> str:
    """Fans of a layer with a weight; "-" for one without (a norm, pooling)."""
    return "-" if fan_in is None or fan_out is None else f"{fan_in}/{fan_out}"


def forward_table(result: RunResult, title: str | None = None) -> Table:
    """Per layer: shapes, fans, Var W, Var z (with theory), and phi(z)'s statistics."""
    layers = result.layers
    has_theory = any(layer.theory_preact_var is not None for layer in layers)
    has_dead = any(layer.dead_frac is not None for layer in layers)
    has_saturation = any(layer.saturated_frac is not None for layer in layers)
    same_activation = _uniform([layer.activation for layer in layers])
    same_init = _uniform([layer.init for layer in layers])
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("layer")
    if same_activation is None:
        table.add_column("φ")
    table.add_column("weight (out,in,*k)")
    table.add_column("fan in/out", justify="right")
    if same_init is None:
        table.add_column("init")
    table.add_column("Var W", justify="right")
    table.add_column("Var z", justify="right")
    if has_theory:
        table.add_column("theory", justify="right", style="dim")
    table.add_column("ratio", justify="right")
    table.add_column("E φ(z)", justify="right")
    table.add_column("Var φ(z)", justify="right")
    if has_dead:
        table.add_column("dead", justify="right")
    if has_saturation:
        table.add_column("saturated", justify="right")
    for layer in layers:
        row = [str(layer.index), layer.name]
        if same_activation is None:
            row.append(layer.activation)
        row += [_shape_cell(layer.weight_shape), _fan_cell(layer.fan_in, layer.fan_out)]
        if same_init is None:
            row.append(layer.init)
        row += [fmt(layer.weight_var), fmt(layer.preact_var)]
        if has_theory:
            row.append(fmt(layer.theory_preact_var))
        row += [fmt(layer.preact_ratio), fmt(layer.act_mean), fmt(layer.act_var)]
        if has_dead:
            row.append(percent(layer.dead_frac))
        if has_saturation:
            row.append(percent(layer.saturated_frac))
        table.add_row(*row, style=None if layer.finite else "red")
    return table


def backward_table(result: RunResult, title: str | None = None) -> Table:
    """Per layer: Var dL/dz and Var dL/dW with their theory and ratios."""
    layers = result.layers
    has_theory = any(layer.theory_grad_var is not None for layer in layers)
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("layer")
    table.add_column("Var ∂L/∂z", justify="right")
    if has_theory:
        table.add_column("theory", justify="right", style="dim")
    table.add_column("ratio", justify="right")
    table.add_column("Var ∂L/∂W", justify="right")
    if has_theory:
        table.add_column("theory", justify="right", style="dim")
    table.add_column("ratio", justify="right")
    table.add_column("Var ∂L/∂b", justify="right")
    for layer in layers:
        row = [str(layer.index), layer.name, fmt(layer.grad_var)]
        if has_theory:
            row.append(fmt(layer.theory_grad_var))
        row += [fmt(layer.grad_ratio), fmt(layer.weight_grad_var)]
        if has_theory:
            row.append(fmt(layer.theory_weight_grad_var))
        row += [fmt(layer.weight_grad_ratio), fmt(layer.bias_grad_var)]
        table.add_row(*row, style=None if layer.finite else "red")
    return table


def attention_table(result: RunResult, title: str | None = None) -> Table | None:
    """One row per head of every attention layer (its ``.o`` row's numbers), or None."""
    rows = [layer for layer in result.layers if layer.attn_entropy is not None]
    if not rows:
        return None
    table = Table(title=title, title_justify="left", header_style="bold")
    for name in ("#", "attention", "head", "entropy", "uniform max", "max prob", "Var logits"):
        table.add_column(name, justify="left" if name == "attention" else "right")
    for layer in rows:
        assert layer.attn_entropy is not None and layer.attn_max_prob is not None
        assert layer.logit_var is not None
        for head, entropy in enumerate(layer.attn_entropy, start=1):
            table.add_row(
                str(layer.index),
                layer.name.rsplit(".", 1)[0],
                str(head),
                fmt(entropy),
                fmt(layer.attn_entropy_uniform),
                fmt(layer.attn_max_prob[head - 1]),
                fmt(layer.logit_var[head - 1]),
            )
    return table


def verdict_line(label: str, summary: DirectionSummary) -> Text:
    text = Text(f"{label}: ")
    text.append(summary.verdict, style=f"bold {VERDICT_STYLE.get(summary.verdict, '')}")
    text.append(f" — {summary.message}")
    return text


def block_table(result: RunResult, title: str | None = None) -> Table:
    """Per residual block: the signal-propagation numbers (Brock et al. 2021) and theory."""
    blocks = result.blocks
    has_theory = any(block.theory_second_moment is not None for block in blocks)
    has_grad = any(block.grad_var is not None for block in blocks)
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("block")
    table.add_column("scale", justify="right")
    table.add_column("shortcut")
    table.add_column("avg ch mean²", justify="right")
    table.add_column("avg ch var", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("branch var", justify="right")
    table.add_column("E y²", justify="right")
    if has_theory:
        table.add_column("theory", justify="right", style="dim")
    if has_grad:
        table.add_column("Var ∂L/∂y", justify="right")
        if has_theory:
            table.add_column("theory", justify="right", style="dim")
    for block in blocks:
        scale = f"{block.scale:g}"
        if block.branch_input_scale != 1.0:
            scale += f" (in x{block.branch_input_scale:.3g})"
        row = [str(block.index), block.name, scale, block.shortcut]
        row += [fmt(block.avg_channel_sq_mean), fmt(block.avg_channel_var)]
        row += [fmt(block.var_ratio), fmt(block.branch_avg_channel_var), fmt(block.second_moment)]
        if has_theory:
            row.append(fmt(block.theory_second_moment))
        if has_grad:
            row.append(fmt(block.grad_var))
            if has_theory:
                row.append(fmt(block.theory_grad_var))
        table.add_row(*row, style=None if block.finite else "red")
    return table


BLOCK_STYLE = {
    "linear": "green",
    "flat": "green",
    "short": "",
    "exponential": "red",
    "exploding": "red",
    "shrinking": "yellow",
}


def print_result(console: Console, result: RunResult) -> None:
    same_init = _uniform([layer.init for layer in result.layers])
    same_activation = _uniform([layer.activation for layer in result.layers])
    draws = (
        f"seeds {result.seed}..{result.seed + result.seeds - 1} (means)"
        if result.seeds > 1
        else f"seed {result.seed}"
    )
    title = (
        f"{result.name}: init {same_init or 'per layer'}, bias {result.bias_init}"
        + (f", activation {same_activation}" if same_activation else "")
        + f", batch {result.batch}, {draws}, {result.dtype}"
        + (f", scheme {result.scheme}" if result.scheme else "")
    )
    if result.scheme:
        from initcli.schemes import SCHEMES

        title += f"\nscheme {result.scheme}: {SCHEMES[result.scheme].rule}"
    console.print(forward_table(result, f"{title}\nforward (ratio: this layer over the last)"))
    if any(layer.grad_var is not None for layer in result.layers):
        console.print(
            backward_table(result, "backward, dL/d(output) ~ N(0, 1) (Var ∂L/∂W sums the batch)")
        )
    attention = attention_table(
        result,
        "attention at step 0, per head (mean over batch and queries; entropy in nats, "
        "uniform max = mean log(keys seen))",
    )
    if attention is not None:
        console.print(attention)
    if result.blocks:
        console.print(
            block_table(
                result,
                "residual blocks (per channel of each block output y; branch: scale*f(x))",
            )
        )
    console.print(verdict_line("forward ", result.summary.forward))
    if result.summary.backward is not None:
        console.print(verdict_line("backward", result.summary.backward))
    for stage in result.summary.blocks:
        text = Text("blocks  : ")
        text.append(stage.verdict, style=f"bold {BLOCK_STYLE.get(stage.verdict, '')}")
        text.append(f" — {stage.message}")
        console.print(text)
    for note in dict.fromkeys(result.summary.notes):  # once each, in order
        console.print(Text(f"note: {note}", style="dim"))


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
