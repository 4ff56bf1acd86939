"""``initcli run CONFIG``: per-layer statistics of one network at initialization."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from initcli.console import console, print_json

DEFAULT_OUT = Path("outputs")


def run_directory(parent: Path, name: str, init: str, seed: int, force: bool) -> Path:
    """``parent/<name>_<init>_seed<N>``; a new run never silently replaces another's files.

    Without ``force`` an existing directory gets a numbered sibling (``..._2``); with it the
    files inside are replaced (each atomically).
    """
    from initcli.outputs import unique_path

    slug = re.sub(r"[^A-Za-z0-9._=-]+", "-", f"{name}_{init}_seed{seed}").strip("-")
    return unique_path(parent / slug, force, keep_suffix=False)


def write_outputs(result: object, directory: Path, plots: bool) -> list[Path]:
    from initcli.outputs import ensure_directory, to_json, write_text
    from initcli.report import to_csv
    from initcli.stats import RunResult

    assert isinstance(result, RunResult)
    ensure_directory(directory)
    written = [
        write_text(directory / "stats.json", to_json(result.to_dict())),
        write_text(directory / "stats.csv", to_csv(result.layers)),
    ]
    if plots:
        from initcli.plots import save_run_plots

        written += save_run_plots(result, directory)
    return written


def run(
    config: Path = typer.Argument(..., help="Network spec (YAML), e.g. configs/mlp_tanh.yaml."),
    init: str | None = typer.Option(
        None, "--init", help="Weight initializer SPEC replacing the spec's default `init`."
    ),
    bias_init: str | None = typer.Option(
        None, "--bias-init", help="Bias initializer SPEC replacing the spec's `bias_init`."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of every random draw."),
    seeds: int = typer.Option(
        1, "--seeds", help="Repeat over K weight draws (seeds N..N+K-1): mean and spread."
    ),
    batch: int | None = typer.Option(None, "--batch", help="Batch size (default: the spec's)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32 or float64."),
    out: Path = typer.Option(
        DEFAULT_OUT, "--out", help="Parent directory of this run's output directory."
    ),
    no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG plots."),
    no_grad: bool = typer.Option(False, "--no-grad", help="Forward only (less memory)."),
    force: bool = typer.Option(
        False, "--force", help="Replace the files of a previous run with the same name."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON only."),
    allow_long: bool = typer.Option(
        False,
        "--allow-long",
        help="Run even a job refused up front as too long (over 10000 layers, over 1000 "
        "seeds, or an estimated 10 minutes).",
    ),
) -> None:
    """Sample weights, push a random batch forward and a random gradient back, and report
    per-layer variances with a verdict on vanishing or exploding signals.

    Example: initcli run configs/mlp_tanh.yaml --init glorot_uniform --seed 1
    """
    from initcli.experiment import RunOptions, run_jobs
    from initcli.options import prepare_run
    from initcli.progress import progress, wanted

    options = RunOptions(
        seed=seed,
        batch=batch,
        dtype=dtype,
        init=init,
        bias_init=bias_init,
        with_grad=not no_grad,
        keep_samples=not no_plots,
    )
    plan = prepare_run(config, options, seeds, out, allow_long)
    if not no_plots:
        from initcli.plots import preload

        preload()
    spec = plan.jobs[0][0]
    with progress(wanted(as_json, plan.seconds)) as bar:
        if seeds == 1:
            bar.start(f"{spec.name}: layers", plan.layers * (1 if no_grad else 2))
            (result,) = run_jobs(plan.jobs, seeds, on_step=bar.advance)
        else:
            bar.start(f"{spec.name}: seeds", seeds)
            (result,) = run_jobs(plan.jobs, seeds, on_draw=bar.advance)
    directory = run_directory(out, spec.name, result.init, seed, force)
    written = write_outputs(result, directory, plots=not no_plots)
    if as_json:
        print_json(result.to_dict())
        return
    from initcli.report import print_result

    terminal = console()
    print_result(terminal, result)
    terminal.print(
        f"wrote {len(written)} files to {directory}/: " + ", ".join(p.name for p in written)
    )


def register(app: typer.Typer) -> None:
    app.command(name="run")(run)
