"""``initcli compare SPEC SPEC...``: initializers side by side on one network."""

from __future__ import annotations

from pathlib import Path

import typer

from initcli.console import console, print_json
from initcli.errors import EXIT_BAD_USAGE, InitcliError, error_context

DEFAULT_DEPTH = 20
DEFAULT_WIDTH = 512
DEFAULT_BATCH = 256
DEFAULT_ACTIVATION = "relu"


def compare(
    specs: list[str] = typer.Argument(
        ..., help="One or more initializer SPECs, e.g. xavier he 'orthogonal(gain=1.41)'."
    ),
    activation: str | None = typer.Option(
        None, "--activation", help=f"Activation of the dense stack [{DEFAULT_ACTIVATION}]."
    ),
    depth: int | None = typer.Option(
        None, "--depth", help=f"Layers of the dense stack [{DEFAULT_DEPTH}]."
    ),
    width: int | None = typer.Option(
        None, "--width", help=f"Units per layer of the dense stack [{DEFAULT_WIDTH}]."
    ),
    batch: int | None = typer.Option(
        None, "--batch", help=f"Batch size (default {DEFAULT_BATCH}, or the config's)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="A network spec (YAML) to use instead of the dense stack."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of every random draw."),
    seeds: int = typer.Option(1, "--seeds", help="Repeat over K weight draws: mean and spread."),
    dtype: str = typer.Option("float32", "--dtype", help="float32 or float64."),
    out: Path = typer.Option(Path("outputs"), "--out", help="Directory for the overlay plot."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Skip the overlay plot."),
    force: bool = typer.Option(False, "--force", help="Replace a plot of the same name."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON only."),
    scheme: str | None = typer.Option(
        None,
        "--scheme",
        help="Rescale every run's inits per a paper: gpt2, t_fixup, deepnet or mup. A SPEC "
        "written scheme:NAME (scheme:none: the spec as written) runs the spec's own inits "
        "under that scheme, so schemes go side by side.",
    ),
) -> None:
    """Run the same network with each initializer and put the statistics side by side.

    Example: initcli compare xavier he --activation relu --depth 20 --width 512
    """
    from initcli.experiment import RunOptions, dense_stack_spec, run_seeds
    from initcli.initializers import resolve_initializer
    from initcli.report import compare_table, verdict_line
    from initcli.schemes import SCHEMES
    from initcli.spec import load_spec

    for text in specs:
        if text.startswith("scheme:"):
            name = text.removeprefix("scheme:")
            if name != "none" and name not in SCHEMES:
                raise InitcliError(
                    f"SPEC {text!r}: unknown scheme; use scheme:none or one of "
                    + ", ".join(f"scheme:{n}" for n in SCHEMES),
                    EXIT_BAD_USAGE,
                )
            if config is None:
                raise InitcliError(
                    f"SPEC {text!r} runs a spec's own inits under a scheme; give --config",
                    EXIT_BAD_USAGE,
                )
            continue
        with error_context("SPEC"):
            resolve_initializer(text)  # refuse a bad SPEC before any work
    if scheme is not None and scheme not in SCHEMES:
        raise InitcliError(
            f"--scheme: unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}",
            EXIT_BAD_USAGE,
        )
    stack_flags = {"--activation": activation, "--depth": depth, "--width": width}
    if config is not None:
        given = [flag for flag, value in stack_flags.items() if value is not None]
        if given:
            raise InitcliError(
                f"{', '.join(given)} only apply to the dense stack, not to --config "
                f"{str(config)!r}; drop them, or edit the spec",
                EXIT_BAD_USAGE,
            )
        spec = load_spec(config)
    else:
        activation = activation or DEFAULT_ACTIVATION
        from initcli.activations import resolve_activation

        with error_context("--activation"):
            resolve_activation(activation)
        spec = dense_stack_spec(
            depth or DEFAULT_DEPTH, width or DEFAULT_WIDTH, activation, batch or DEFAULT_BATCH
        )
    if not no_plots:
        from initcli.outputs import check_writable

        check_writable(out)
    results = []
    for text in specs:
        if text.startswith("scheme:"):
            name = text.removeprefix("scheme:")
            options = RunOptions(
                seed=seed,
                batch=batch,
                dtype=dtype,
                keep_samples=False,
                scheme=None if name == "none" else name,
            )
            result = run_seeds(spec, options, seeds)
            result.init = text  # the column's label: which scheme, not the spec's default
        else:
            options = RunOptions(
                seed=seed, batch=batch, dtype=dtype, init=text, keep_samples=False, scheme=scheme
            )
            result = run_seeds(spec, options, seeds)
        results.append(result)
    title = f"{spec.name}: {' vs '.join(specs)} (batch {results[0].batch}, seed {seed})"
    if scheme is not None:
        title += f"\nscheme {scheme}: {SCHEMES[scheme].rule}"
    written: list[Path] = []
    if not no_plots:
        from initcli.outputs import ensure_directory, save_figure, unique_path
        from initcli.plots import compare_figure

        directory = ensure_directory(out)
        figure = compare_figure(results, title)
        slug = "_vs_".join(r.init for r in results)
        safe = "".join(c if c.isalnum() or c in "._=-" else "-" for c in slug)[:150]
        target = unique_path(directory / f"compare_{spec.name}_{safe}_seed{seed}.png", force)
        written.append(save_figure(target, figure))
        from initcli.plots import signal_propagation_figure

        spp = signal_propagation_figure(results, f"{title}: signal propagation per block")
        if spp is not None:
            spp_target = unique_path(directory / f"spp_{spec.name}_{safe}_seed{seed}.png", force)
            written.append(save_figure(spp_target, spp))
    if as_json:
        print_json(
            {
                "runs": [
                    {
                        "init": r.init,
                        **({"scheme": r.scheme} if r.scheme else {}),
                        "layers": r.to_dict()["layers"],
                        "blocks": r.to_dict()["blocks"],
                        "summary": r.to_dict()["summary"],
                    }
                    for r in results
                ],
                "config": spec.path,
                "seed": seed,
                "seeds": seeds,
                "batch": results[0].batch,
            }
        )
        return
    terminal = console()
    terminal.print(compare_table(results, title))
    for result in results:
        terminal.print(verdict_line(f"{result.init} forward ", result.summary.forward))
        if result.summary.backward is not None:
            terminal.print(verdict_line(f"{result.init} backward", result.summary.backward))
        for stage in result.summary.blocks:
            terminal.print(f"{result.init} blocks  : {stage.verdict} — {stage.message}")
    for path in written:
        terminal.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command(name="compare")(compare)
