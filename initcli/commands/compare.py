"""``initcli compare SPEC SPEC...``: initializers side by side on one network."""

from __future__ import annotations

from pathlib import Path

import typer

from initcli.console import console, print_json
from initcli.errors import EXIT_BAD_USAGE, InitcliError

DEFAULT_DEPTH = 20
DEFAULT_WIDTH = 512
DEFAULT_BATCH = 256
DEFAULT_ACTIVATION = "relu"


def compare(
    context: typer.Context,
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
    spectrum: bool = typer.Option(
        False,
        "--spectrum",
        help="Compare the singular values of the input-output Jacobian instead of variances.",
    ),
    scheme: str | None = typer.Option(
        None,
        "--scheme",
        help="Rescale every run's inits per a paper: gpt2, t_fixup, deepnet or mup. A SPEC "
        "written scheme:NAME (scheme:none: the spec as written) runs the spec's own inits "
        "under that scheme, so schemes go side by side.",
    ),
    allow_long: bool = typer.Option(
        False,
        "--allow-long",
        help="Run even a job refused up front as too long (over 10000 layers, over 1000 "
        "seeds, or an estimated 10 minutes).",
    ),
) -> None:
    """Run the same network with each initializer and put the statistics side by side.

    Example: initcli compare xavier he --activation relu --depth 20 --width 512
    """
    if (context.obj or {}).get("owns_process") and seeds == 1:  # see initcli.allocator
        from initcli.allocator import keep_freed_memory

        keep_freed_memory()
    from initcli.experiment import RunOptions, run_jobs
    from initcli.options import Stack, prepare_compare
    from initcli.progress import progress, wanted
    from initcli.report import compare_table, verdict_line
    from initcli.schemes import SCHEMES

    plan = prepare_compare(
        specs,
        Stack(activation, depth, width),
        config,
        RunOptions(seed=seed, batch=batch, dtype=dtype, keep_samples=False, scheme=scheme),
        seeds,
        out,
        plots=not no_plots,
        defaults=(DEFAULT_ACTIVATION, DEFAULT_DEPTH, DEFAULT_WIDTH, DEFAULT_BATCH),
        allow_long=allow_long,
    )
    spec = plan.jobs[0][0]
    if spectrum:
        given = [flag for flag, value in (("--seeds", seeds != 1), ("--batch", batch)) if value]
        if dtype != "float32":
            given.append("--dtype")
        if scheme is not None or any(text.startswith("scheme:") for text in specs):
            given.append("--scheme / scheme:NAME")
        if given:
            raise InitcliError(
                f"{', '.join(given)} do not apply to --spectrum (one weight draw, K examples, "
                "float64); drop them",
                EXIT_BAD_USAGE,
            )
        _compare_spectrum(spec, specs, seed, out, no_plots, force, as_json, allow_long)
        return
    with progress(wanted(as_json, plan.seconds)) as bar:
        if seeds == 1:
            bar.start(f"{' vs '.join(specs)}: layers", len(specs) * plan.layers * 2)
            results = run_jobs(plan.jobs, seeds, on_step=bar.advance)
        else:
            bar.start(f"{' vs '.join(specs)}: seeds", len(specs) * seeds)
            results = run_jobs(plan.jobs, seeds, on_draw=bar.advance)
    for text, result in zip(specs, results, strict=True):
        if text.startswith("scheme:"):
            result.init = text  # the column's label: which scheme, not the spec's default
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


def _compare_spectrum(
    spec: object,
    specs: list[str],
    seed: int,
    out: Path,
    no_plots: bool,
    force: bool,
    as_json: bool,
    allow_long: bool,
) -> None:
    """``compare --spectrum``: the Jacobian's singular values per initializer, one density
    curve each (``initcli spectrum`` on the same network and seed)."""
    from initcli.network_spec import NetworkSpec
    from initcli.spectrum import run_spectrum
    from initcli.spectrum_report import spectrum_figure, summary_table, verdict_line

    assert isinstance(spec, NetworkSpec)
    results = [run_spectrum(spec, init=text, seed=seed, allow_long=allow_long) for text in specs]
    title = (
        f"{spec.name}: {' vs '.join(specs)} (seed {seed}, {results[0].examples} examples, "
        f"Jacobian {results[0].out_dim} x {results[0].in_dim})"
    )
    written: list[Path] = []
    if not no_plots:
        from initcli.outputs import ensure_directory, save_figure, unique_path

        directory = ensure_directory(out)
        slug = "_vs_".join(r.init for r in results)
        safe = "".join(c if c.isalnum() or c in "._=-" else "-" for c in slug)[:150]
        target = unique_path(directory / f"spectrum_{spec.name}_{safe}_seed{seed}.png", force)
        figure = spectrum_figure(results, title.replace(" (seed", "\n(seed"))
        written.append(save_figure(target, figure))
    if as_json:
        print_json({"spectra": [r.to_dict() for r in results], "config": spec.path, "seed": seed})
        return
    terminal = console()
    terminal.print(summary_table(results, title))
    for result in results:
        terminal.print(verdict_line(result, f"{result.init}: "))
    shared = set.intersection(*(set(r.notes) for r in results))
    for note in dict.fromkeys(note for r in results for note in r.notes if note in shared):
        terminal.print(f"note: {note}")
    for result in results:
        for note in result.notes:
            if note not in shared:
                terminal.print(f"note: {result.init}: {note}")
    for path in written:
        terminal.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command(name="compare")(compare)
