"""``initcli run CONFIG``: per-layer statistics of one network at initialization."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from initcli.console import console, print_json
from initcli.errors import EXIT_BAD_USAGE, InitcliError

if TYPE_CHECKING:
    from initcli.forked import Helper

DEFAULT_OUT = Path("outputs")


def run_directory(
    parent: Path, name: str, init: str, seed: int, force: bool, suffix: str = ""
) -> Path:
    """``parent/<name>_<init>_seed<N><suffix>``; a new run never silently replaces another's
    files.

    Without ``force`` an existing directory gets a numbered sibling (``..._2``); with it the
    new run's files replace the previous run's (:class:`initcli.outputs.StagedDirectory`).
    """
    from initcli.outputs import unique_path

    slug = re.sub(r"[^A-Za-z0-9._=-]+", "-", f"{name}_{init}_seed{seed}{suffix}").strip("-")
    return unique_path(parent / slug, force, keep_suffix=False)


# Every file `initcli run` may write in its directory: --force removes those of them that the
# new run does not write (tests/test_run.py checks that a run writes no other name).
RUN_FILES = frozenset(
    {
        "stats.json",
        "stats.csv",
        "blocks.csv",
        "variance_by_layer.png",
        "activation_histograms.png",
        "gradient_histograms.png",
        "signal_propagation.png",
    }
)


# The histogram figures, which a run leaves out when no layer has a finite value to bin.
HISTOGRAM_FILES = ("activation_histograms.png", "gradient_histograms.png")


def write_data_files(result: object, directory: Path) -> list[Path]:
    """stats.json and stats.csv (and blocks.csv for residual networks) in ``directory``."""
    from initcli.outputs import ensure_directory, write_text
    from initcli.serialize import to_csv, to_json
    from initcli.stats import RunResult

    assert isinstance(result, RunResult)
    ensure_directory(directory)
    written = [
        write_text(directory / "stats.json", to_json(result.to_dict())),
        write_text(directory / "stats.csv", to_csv(result.layers)),
    ]
    if result.blocks:
        written.append(write_text(directory / "blocks.csv", to_csv(result.blocks)))
    return written


def start_figures(
    result: object, directory: Path, figures: Helper | None = None
) -> Callable[[], list[Path]]:
    """Start drawing the PNG figures into ``directory``; returns the wait for their paths.

    With ``figures`` (a helper process that has imported matplotlib meanwhile) they are
    drawn there while this process prints the tables; it gets the binned histograms, not
    the samples, so handing them over does not wait for its import (initcli.forked.Helper).
    """
    from initcli.plots import figure_data, save_run_plots
    from initcli.stats import RunResult

    assert isinstance(result, RunResult)
    data = figure_data(result)
    if figures is None or not figures.forked:
        return lambda: save_run_plots(data, directory)
    from initcli.experiment import cores

    # The helper is single-threaded, so it may fork again: one child per figure.
    figures.send(save_run_plots, data, directory, cores() > 1)
    return figures.receive


def run(
    context: typer.Context,
    config: Path = typer.Argument(
        ...,
        help="Network spec (YAML), a Keras model (model.json from to_json(), model.keras), or "
        "a PyTorch factory path/model.py:NAME or package.module:NAME.",
    ),
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
    input_shape: str | None = typer.Option(
        None, "--input-shape", help="PyTorch model: one example's shape, e.g. 3,32,32."
    ),
    kwargs: str | None = typer.Option(
        None, "--kwargs", help="PyTorch model: factory arguments, e.g. 'depth=20,width=64'."
    ),
    input_data: Path | None = typer.Option(
        None, "--input", help="PyTorch model: an input batch (.npy, batch axis first)."
    ),
    scheme: str | None = typer.Option(
        None,
        "--scheme",
        help="Rescale the spec's inits per a paper: gpt2, t_fixup, deepnet or mup.",
    ),
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
    (also: initcli run examples/keras_cnn.json; initcli run
    examples/torch_models.py:make_resnet --input-shape 3,32,32)
    """
    if not no_plots:
        # numpy and the figure-data code first, so that the helper inherits them instead of
        # importing them again beside this process (interleaved best of 12 on mlp_tanh:
        # 0.583 s against 0.658 s for the whole run with plots)
        import initcli.plots  # noqa: F401
    # Forked first, so that its matplotlib import overlaps everything that follows.
    owns_process = bool((context.obj or {}).get("owns_process"))
    if owns_process and seeds == 1:  # see initcli.allocator for why, and why not --seeds
        from initcli.allocator import keep_freed_memory

        keep_freed_memory()
    with _figure_helper(no_plots, owns_process) as figures:
        from initcli.experiment import RunOptions, run_jobs
        from initcli.options import check_dtype, check_positive, check_seed, prepare_run
        from initcli.outputs import check_writable
        from initcli.progress import progress, wanted

        # Every option is checked once, here and in prepare_run, before any path splits.
        check_seed(seed)
        check_positive("--seeds", seeds)
        check_positive("--batch", batch)
        check_dtype(dtype)
        target = str(config)
        torch_flags = {"--input-shape": input_shape, "--kwargs": kwargs, "--input": input_data}
        if _is_torch_target(target):
            from initcli.importers.torch_hooks import TorchOptions, run_torch
            from initcli.shape_strings import parse_shape

            _refuse_torch_conflicts(input_shape, input_data, batch)
            if scheme is not None:
                raise InitcliError(
                    "--scheme rewrites a YAML spec's initializers; for a PyTorch model use --init, "
                    "or write the model's own init",
                    EXIT_BAD_USAGE,
                )
            check_writable(out)
            torch_options = TorchOptions(
                input_shape=None
                if input_shape is None
                else parse_shape(input_shape, "--input-shape"),
                input_path=input_data,
                kwargs=kwargs,
                batch=batch,
                seed=seed,
                dtype=dtype,
                init=init,
                bias_init=bias_init,
                with_grad=not no_grad,
                keep_samples=not no_plots,
            )
            result = run_torch(target, torch_options, seeds)
            _finish(result, out, seed, force, no_plots, as_json, figures)
            return
        if target.endswith(".py"):
            raise InitcliError(
                f"{target}: name the factory in the file, e.g. {target}:make_model "
                "(a function returning the torch.nn.Module)",
                EXIT_BAD_USAGE,
            )
        for flag, value in torch_flags.items():
            if value is not None:
                raise InitcliError(
                    f"{flag} is for a PyTorch model (path/model.py:NAME); {target} is a "
                    f"{'Keras model' if _is_keras(target) else 'YAML spec'}, whose input shape is "
                    "in the file: remove " + flag,
                    EXIT_BAD_USAGE,
                )
        notes: list[str] = []
        if _is_keras(target):
            from initcli.importers.keras_config import load_keras_spec

            spec, notes = load_keras_spec(config)
        else:
            from initcli.network_spec import load_spec

            spec = load_spec(config)
        options = RunOptions(
            seed=seed,
            batch=batch,
            dtype=dtype,
            init=init,
            bias_init=bias_init,
            with_grad=not no_grad,
            keep_samples=not no_plots,
            scheme=scheme,
        )
        plan = prepare_run(spec, options, seeds, out, allow_long)
        spec = plan.jobs[0][0]
        with progress(wanted(as_json, plan.seconds)) as bar:
            if seeds == 1:
                from initcli.blas import bundled_openblas, openblas_limited_while
                from initcli.experiment import cores

                bar.start(f"{spec.name}: layers", plan.layers * (1 if no_grad else 2))
                # a core left to the figure helper while it imports matplotlib
                with openblas_limited_while(
                    bundled_openblas(), max(1, cores() - 1), lambda: not figures.prepared()
                ) as check:

                    def step() -> None:
                        check()
                        bar.advance()

                    (result,) = run_jobs(plan.jobs, seeds, on_step=step)
            else:
                bar.start(f"{spec.name}: seeds", seeds)
                (result,) = run_jobs(plan.jobs, seeds, on_draw=bar.advance)
        result.summary.notes.extend(notes)
        _finish(result, out, seed, force, no_plots, as_json, figures)


def _figure_helper(no_plots: bool, owns_process: bool) -> AbstractContextManager[Helper]:
    """A process forked before the computation that imports matplotlib meanwhile, on
    another core, and then draws the figures (initcli.forked): only for the console program
    (``owns_process``) and with plots; otherwise the figures are drawn here, in turn."""
    from initcli.forked import helper_process

    return helper_process(_import_figure_modules, enabled=owns_process and not no_plots)


def _import_figure_modules() -> None:
    from initcli.plots import import_matplotlib

    import_matplotlib()


def _is_torch_target(target: str) -> bool:
    from initcli.importers.torch_hooks import is_torch_target

    return is_torch_target(target) and not Path(target).exists()


def _is_keras(target: str) -> bool:
    return target.lower().endswith((".json", ".keras"))


def _refuse_torch_conflicts(
    input_shape: str | None, input_data: Path | None, batch: int | None
) -> None:
    if input_shape is not None and input_data is not None:
        raise InitcliError(
            "--input-shape and --input both give the input; keep one (--input's shape is "
            "that of the .npy file)",
            EXIT_BAD_USAGE,
        )
    if input_data is not None and batch is not None:
        raise InitcliError(
            "--batch and --input: the batch is the first axis of the --input file; remove --batch",
            EXIT_BAD_USAGE,
        )


def _finish(
    result: object,
    out: Path,
    seed: int,
    force: bool,
    no_plots: bool,
    as_json: bool,
    figures: Helper | None = None,
) -> None:
    from initcli.outputs import staged_directory
    from initcli.stats import RunResult

    assert isinstance(result, RunResult)
    directory = run_directory(out, result.name, result.init, seed, force)
    with staged_directory(directory, RUN_FILES) as stage:
        try:
            written = write_data_files(result, stage.path)
            figures_written = (
                (lambda: []) if no_plots else start_figures(result, stage.path, figures)
            )
            terminal = None if as_json else console()
            try:
                if terminal is None:
                    print_json(result.to_dict())
                else:
                    from initcli.report import print_result

                    print_result(terminal, result)
            except OSError:
                # `initcli run ... | head` (the reader left: no error, main() says) or stdout
                # on a full disk: the files are still completed before the error goes on
                stage.commit(written + figures_written())
                raise
            written = stage.commit(written + figures_written())
        except BaseException:
            if figures is not None:
                figures.close()  # stop drawing into the staged directory before it goes
            raise
    if terminal is None:
        return
    terminal.print(
        f"wrote {len(written)} files to {directory}/: " + ", ".join(p.name for p in written)
    )
    if no_plots:
        return
    names = {path.name for path in written}
    for name in HISTOGRAM_FILES:
        if name not in names:  # plots.histogram_panel found nothing to bin
            no_gradients = name.startswith("gradient") and result.summary.backward is None
            why = "--no-grad: no gradients" if no_gradients else "no layer has a finite value"
            terminal.print(f"not drawn: {name} ({why})")


def register(app: typer.Typer) -> None:
    app.command(name="run")(run)
