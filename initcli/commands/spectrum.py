"""``initcli spectrum CONFIG``: singular values of the input-output Jacobian at step 0."""

from __future__ import annotations

from pathlib import Path

import typer

from initcli.console import console, print_json

DEFAULT_OUT = Path("outputs")
# Every file `initcli spectrum` may write in its directory (see initcli.commands.run.RUN_FILES).
SPECTRUM_FILES = frozenset({"spectrum.json", "singular_values.npy", "singular_value_density.png"})


def write_spectrum_outputs(result: object, directory: Path, plots: bool) -> list[Path]:
    from initcli.outputs import ensure_directory, save_figure, save_npy, write_text
    from initcli.serialize import to_json
    from initcli.spectrum import SpectrumResult

    assert isinstance(result, SpectrumResult)
    ensure_directory(directory)
    written = [
        write_text(directory / "spectrum.json", to_json(result.to_dict())),
        save_npy(directory / "singular_values.npy", result.values),
    ]
    if plots:
        from initcli.spectrum_report import header, spectrum_figure

        figure = spectrum_figure([result], header(result).replace(", Jacobian", "\nJacobian"))
        written.append(save_figure(directory / "singular_value_density.png", figure))
    return written


def spectrum(
    config: Path = typer.Argument(..., help="Network spec (YAML), e.g. configs/mlp_tanh.yaml."),
    init: str | None = typer.Option(
        None, "--init", help="Weight initializer SPEC replacing the spec's default `init`."
    ),
    bias_init: str | None = typer.Option(
        None, "--bias-init", help="Bias initializer SPEC replacing the spec's `bias_init`."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of every random draw."),
    examples: int = typer.Option(
        16, "--examples", help="Input examples K at which the Jacobian is taken."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON only."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Skip the density plot."),
    out: Path = typer.Option(
        DEFAULT_OUT, "--out", help="Parent directory of this run's output directory."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace the files of a previous run with the same name."
    ),
    allow_long: bool = typer.Option(
        False,
        "--allow-long",
        help="Run even when the up-front estimate is over 10 minutes (refused otherwise).",
    ),
) -> None:
    """Singular values of the Jacobian d output / d input at K random inputs, beside
    free-probability theory (dynamical isometry, Pennington et al. 2017).

    Example: initcli spectrum configs/mlp_tanh.yaml --init orthogonal --examples 16
    """
    from initcli.network_spec import load_spec
    from initcli.outputs import check_writable, staged_directory
    from initcli.spectrum import run_spectrum

    spec = load_spec(config)
    check_writable(out)
    result = run_spectrum(spec, init, bias_init, seed, examples, allow_long)
    from initcli.commands.run import run_directory

    directory = run_directory(out, spec.name, result.init, seed, force, suffix="_spectrum")
    with staged_directory(directory, SPECTRUM_FILES) as stage:
        written = stage.commit(write_spectrum_outputs(result, stage.path, plots=not no_plots))
    if as_json:
        print_json(result.to_dict())
        return
    from initcli.spectrum_report import print_result

    terminal = console()
    print_result(terminal, result)
    terminal.print(
        f"wrote {len(written)} files to {directory}/: " + ", ".join(p.name for p in written)
    )


def register(app: typer.Typer) -> None:
    app.command(name="spectrum")(spectrum)
