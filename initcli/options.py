"""Every ``run`` / ``compare`` option checked once, in one place, before any work.

``run`` and ``compare`` parse their flags with Typer and hand them here. :func:`prepare_run`
and :func:`prepare_compare` check and normalise each value (dtype, batch, seed, seeds, depth,
width, the initializer SPECs, the output directory), build every network once, and refuse,
before anything is allocated or a process is started, a job that would not fit in memory or
whose up-front estimate is absurd (too many layers, seeds, or seconds; ``--allow-long``
lifts those three). What comes out is a :class:`Plan`: the specs and options every path
(one seed or many, one initializer or several) then uses as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from initcli.errors import EXIT_BAD_USAGE, InitcliError, did_you_mean, error_context
from initcli.experiment import DTYPES, RunOptions, check_memory, dense_stack_spec
from initcli.network import Network, build_network, flops
from initcli.network_spec import NetworkSpec

ALLOW_LONG_FLAG = "--allow-long"
MAX_LAYERS = 10_000  # the YAML loader's limit (spec.MAX_LAYERS), also for compare --depth
MAX_SEEDS = 1_000
MAX_SECONDS = 600.0  # refuse a job estimated to take longer than this
# Deliberately slow rates, so the estimate errs long (2-7x the one-core times measured on
# the shipped configs): float32 GEMMs reach 30-100 GFLOP/s per core here; statistics read
# each tensor a few times; a layer costs a fixed overhead in Python (sampling, two GEMM
# calls, eight moments) even when it is one unit wide.
FLOP_RATE = 2e10  # FLOP/s
ELEMENT_RATE = 5e7  # tensor elements per second through sampling and statistics
LAYER_OVERHEAD = 1e-3  # seconds per weighted layer and draw


@dataclass(frozen=True)
class Plan:
    """What a command will run: one ``(spec, options)`` job per initializer, each ``seeds``
    times; ``seconds`` is the up-front estimate of the whole job."""

    jobs: tuple[tuple[NetworkSpec, RunOptions], ...]
    seeds: int
    seconds: float
    layers: int  # weighted layers of one network


def check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise InitcliError(
            f"--dtype {dtype!r} is not supported; use float32 or float64", EXIT_BAD_USAGE
        )
    return dtype


def check_positive(flag: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise InitcliError(f"{flag} {value} must be at least 1", EXIT_BAD_USAGE)


def check_scheme(scheme: str | None, flag: str = "--scheme") -> None:
    from initcli.schemes import SCHEMES

    if scheme is not None and scheme not in SCHEMES:
        hint = did_you_mean(scheme, list(SCHEMES))
        raise InitcliError(
            f"{flag}: unknown scheme {scheme!r}{hint}; use one of {', '.join(SCHEMES)}",
            EXIT_BAD_USAGE,
        )


def check_seed(seed: int) -> None:
    if seed < 0:
        raise InitcliError(f"--seed {seed} must be at least 0", EXIT_BAD_USAGE)


def estimate_seconds(network: Network, batch: int, with_grad: bool) -> float:
    """A deliberately pessimistic wall time of one draw (see the rates above)."""
    seconds = 0.0
    for layer in network.walk():
        if layer.children() or not (layer.reports or layer.parameter_shapes()):
            continue  # composites are counted through their leaves; reshapes cost nothing
        work = flops(layer, batch) * (1.0 if with_grad else 1 / 3)
        elements = batch * math.prod(layer.out_shape) * (4 if with_grad else 2)
        elements += layer.parameter_count() * (2 if with_grad else 1)
        seconds += work / FLOP_RATE + elements / ELEMENT_RATE + LAYER_OVERHEAD
    return seconds


def _dense_layer_seconds(width: int, batch: int, with_grad: bool) -> float:
    """:func:`estimate_seconds` of one ``width`` x ``width`` dense layer, without building it."""
    work = 6 * batch * width * width * (1.0 if with_grad else 1 / 3)
    elements = batch * width * (4 if with_grad else 2) + width * width * (2 if with_grad else 1)
    return work / FLOP_RATE + elements / ELEMENT_RATE + LAYER_OVERHEAD


def format_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def check_limits(layers: int, seeds: int, seconds: float, allow_long: bool, shrink: str) -> None:
    """Refuse an absurd job up front, with the estimate and the override flag."""
    if allow_long:
        return
    override = f"or pass {ALLOW_LONG_FLAG} to run it anyway"
    if layers > MAX_LAYERS:
        raise InitcliError(
            f"the network has {layers} weighted layers, over the limit of {MAX_LAYERS} "
            f"(estimated {format_seconds(seconds)}); {shrink}, {override}",
            EXIT_BAD_USAGE,
        )
    if seeds > MAX_SEEDS:
        raise InitcliError(
            f"--seeds {seeds} is over the limit of {MAX_SEEDS} draws (estimated "
            f"{format_seconds(seconds)}); a few dozen draws show the spread, {override}",
            EXIT_BAD_USAGE,
        )
    if seconds > MAX_SECONDS:
        raise InitcliError(
            f"this job is estimated to take about {format_seconds(seconds)} (limit "
            f"{format_seconds(MAX_SECONDS)}); {shrink}{', or fewer --seeds' if seeds > 1 else ''}, "
            f"{override}",
            EXIT_BAD_USAGE,
        )


def _plan(
    jobs: list[tuple[NetworkSpec, RunOptions]], seeds: int, allow_long: bool, shrink: str
) -> Plan:
    seconds = 0.0
    layers = 0
    for spec, options in jobs:
        network = build_network(spec, init=options.init, bias_init=options.bias_init)
        if not any(layer.parameter_shapes() for layer in network.walk()):
            # run_experiment says so with the spec's path; nothing to estimate here
            return Plan(tuple(jobs), seeds, 0.0, 0)
        batch = spec.batch if options.batch is None else options.batch
        layers = len(network.reporting_layers())
        seconds += seeds * estimate_seconds(network, batch, options.with_grad)
        try:
            check_limits(layers, seeds, seconds, allow_long, shrink)
            check_memory(network, batch, options.dtype, options.with_grad)
        except InitcliError as err:  # name the config whose size it is, when there is one
            if spec.path.startswith("<"):  # "<command line>": the flags built it
                raise
            raise err.with_context(spec.path) from None
    return Plan(tuple(jobs), seeds, seconds, layers)


def _check_out(out: Path, needed: bool) -> None:
    if needed:
        from initcli.outputs import check_writable

        check_writable(out)


def prepare_run(
    config: Path | NetworkSpec,
    options: RunOptions,
    seeds: int,
    out: Path,
    allow_long: bool = False,
) -> Plan:
    """Check every ``initcli run`` option; load (a path) and build the network once."""
    check_seed(options.seed)
    check_positive("--seeds", seeds)
    check_positive("--batch", options.batch)
    check_dtype(options.dtype)
    check_scheme(options.scheme)
    if isinstance(config, NetworkSpec):
        spec = config
    else:
        from initcli.network_spec import load_spec

        spec = load_spec(config)
    _check_out(out, True)
    return _plan([(spec, options)], seeds, allow_long, "use fewer or smaller layers")


@dataclass(frozen=True)
class Stack:
    """The dense stack flags of ``compare`` (None: not given)."""

    activation: str | None
    depth: int | None
    width: int | None


def prepare_compare(
    specs: list[str],
    stack: Stack,
    config: Path | None,
    options: RunOptions,
    seeds: int,
    out: Path,
    plots: bool,
    defaults: tuple[str, int, int, int],
    allow_long: bool = False,
) -> Plan:
    """Check every ``initcli compare`` option; one job per initializer SPEC."""
    from initcli.initializers import resolve_initializer
    from initcli.network_spec import load_spec
    from initcli.schemes import SCHEMES

    for text in specs:
        if text.startswith("scheme:"):  # the spec's own inits under a scheme (or none)
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
    check_scheme(options.scheme)
    check_seed(options.seed)
    check_positive("--seeds", seeds)
    check_positive("--batch", options.batch)
    check_positive("--depth", stack.depth)
    check_positive("--width", stack.width)
    check_dtype(options.dtype)
    default_activation, default_depth, default_width, default_batch = defaults
    stack_flags = {"--activation": stack.activation, "--depth": stack.depth, "--width": stack.width}
    if config is not None:
        given = [flag for flag, value in stack_flags.items() if value is not None]
        if given:
            raise InitcliError(
                f"{', '.join(given)} apply only to the dense stack, not to --config "
                f"{str(config)!r}; drop them, or edit the spec",
                EXIT_BAD_USAGE,
            )
        spec = load_spec(config)
        shrink = "use fewer or smaller layers"
    else:
        from initcli.activations import resolve_activation

        activation = stack.activation or default_activation
        with error_context("--activation"):
            resolve_activation(activation)
        depth = stack.depth or default_depth
        width = stack.width or default_width
        batch = options.batch or default_batch
        shrink = "use a smaller --depth, --width or --batch"
        if depth > MAX_LAYERS and not allow_long:  # refused before building 10^9 layer specs
            seconds = len(specs) * seeds * depth * _dense_layer_seconds(width, batch, True)
            check_limits(depth, seeds, seconds, False, shrink)
        spec = dense_stack_spec(depth, width, activation, batch)
    _check_out(out, plots)
    jobs = [(spec, _compare_options(options, text)) for text in specs]
    return _plan(jobs, seeds, allow_long, shrink)


def _compare_options(options: RunOptions, text: str) -> RunOptions:
    """One column of ``compare``: an initializer SPEC (under ``--scheme`` if given), or
    ``scheme:NAME`` for the spec's own initializers under that scheme."""
    if text.startswith("scheme:"):
        name = text.removeprefix("scheme:")
        return replace(options, init=None, scheme=None if name == "none" else name)
    return replace(options, init=text)
