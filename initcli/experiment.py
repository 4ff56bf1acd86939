"""One experiment end to end: spec -> network -> propagate -> stats (a :class:`RunResult`).

``run`` and ``compare`` both call :func:`run_experiment`; the CLI only renders its result.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from initcli.block_stats import BlockStats, fill_block_ratios, judge_blocks
from initcli.errors import EXIT_BAD_DATA, EXIT_BAD_USAGE, InitcliError
from initcli.moments import moments
from initcli.network import Network, build_network, parameter_bytes
from initcli.network_spec import LayerSpec, Location, NetworkSpec
from initcli.network_theory import predict_with_blocks, weight_grad_var
from initcli.propagate import (
    estimate_memory,
    propagate,
    sample_input,
    sample_parameters,
)
from initcli.stats import (
    PER_HEAD_KEYS,
    LayerStats,
    RunResult,
    StatsCollector,
    fill_ratios,
    summarize,
)

DTYPES: dict[str, Any] = {"float32": np.float32, "float64": np.float64}
MEMORY_HEADROOM = 0.8  # refuse a run whose estimate exceeds this share of available memory


@dataclass(frozen=True)
class RunOptions:
    seed: int = 0
    batch: int | None = None  # None: the spec's batch
    dtype: str = "float32"
    init: str | None = None  # replaces the spec's default weight initializer
    bias_init: str | None = None  # replaces the spec's default bias initializer
    with_grad: bool = True
    keep_samples: bool = True
    scheme: str | None = None  # --scheme: initcli.schemes rewrites the spec's inits first


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (bytes), or None where the OS does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    raise AssertionError("unreachable")


def _memory_limit_from_environment() -> int | None:
    """INITCLI_MEMORY_LIMIT (bytes) caps the memory a run may plan on; unset: no cap."""
    text = os.environ.get("INITCLI_MEMORY_LIMIT", "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 20 or int(text) == 0:
        raise InitcliError(
            f"environment variable INITCLI_MEMORY_LIMIT={text[:40]!r} must be a positive "
            "number of bytes (e.g. 8000000000); unset it to use the memory available",
            EXIT_BAD_USAGE,
        )
    return int(text)


def check_memory(network: Network, batch: int, dtype: str, with_grad: bool) -> int:
    """Refuse, before allocating anything, a run that would not fit in memory."""
    estimate = estimate_memory(network, batch, np.dtype(DTYPES[dtype]).itemsize, with_grad)
    available = _memory_limit_from_environment() or available_memory()
    if available is not None and estimate > MEMORY_HEADROOM * available:
        weights = parameter_bytes(network, np.dtype(DTYPES[dtype]).itemsize)
        if weights > MEMORY_HEADROOM * available:  # no batch size can help
            raise InitcliError(
                f"this run needs about {_format_bytes(estimate)} but only "
                f"{_format_bytes(available)} is available, and the weights alone need "
                f"{_format_bytes(weights)}; use narrower or fewer layers"
                + (", or --dtype float32" if dtype == "float64" else ""),
                EXIT_BAD_DATA,
            )
        hints = [f"a smaller --batch (now {batch})"]
        if with_grad:
            hints.append("--no-grad (forward only)")
        if dtype == "float64":
            hints.append("--dtype float32")
        raise InitcliError(
            f"this run needs about {_format_bytes(estimate)} but only "
            f"{_format_bytes(available)} is available; try " + ", or ".join(hints),
            EXIT_BAD_DATA,
        )
    return estimate


def run_experiment(
    spec: NetworkSpec, options: RunOptions, on_step: Callable[[], None] | None = None
) -> RunResult:
    if options.dtype not in DTYPES:
        raise InitcliError(
            f"--dtype {options.dtype!r} is not supported; use float32 or float64", EXIT_BAD_USAGE
        )
    batch = spec.batch if options.batch is None else options.batch
    if batch < 1:
        raise InitcliError(f"--batch {batch} must be at least 1", EXIT_BAD_USAGE)
    scheme_notes: list[str] = []
    if options.scheme is not None:
        from initcli.schemes import apply_scheme

        spec, scheme_notes = apply_scheme(spec, options.scheme, options.init)
    network = build_network(spec, init=options.init, bias_init=options.bias_init)
    if not any(layer.parameter_shapes() for layer in network.walk()):
        raise InitcliError(
            f"{spec.path}: the network has no dense or conv layer, so there is nothing to "
            "initialize; add one under layers:",
            EXIT_BAD_DATA,
        )
    check_memory(network, batch, options.dtype, options.with_grad)
    dtype = DTYPES[options.dtype]
    rng = np.random.default_rng(options.seed)
    params = sample_parameters(network, rng, dtype)
    inputs = sample_input(
        network.input_shape, batch, spec.input_distribution, rng, dtype, spec.input_vocab
    )
    input_moments = moments(inputs)
    output_grad_var: float | None = None

    def draw_output_grad() -> np.ndarray:
        # G ~ N(0, 1), drawn when backward begins rather than before forward (which draws
        # nothing, so these are the same numbers), so that it is not alive through forward.
        nonlocal output_grad_var
        grad = rng.standard_normal((batch, *network.output_shape), dtype=dtype)
        output_grad_var = moments(grad).var
        return grad

    collector = StatsCollector(keep_samples=options.keep_samples)
    output_grad = draw_output_grad if options.with_grad else None
    for step in propagate(network, params, inputs, output_grad):
        collector.add(step)
        del step  # else the loop variable keeps this step's tensors alive through the next
        if on_step is not None:
            on_step()
    layers = collector.finish()
    blocks = order_blocks(network, layers, collector.blocks)
    theory_notes: list[str] = []
    attach_theory(network, layers, batch, theory_notes, blocks)
    summary = summarize(layers, input_moments.var, output_grad_var)
    summary.notes.extend(scheme_notes)
    summary.blocks = judge_blocks(blocks)
    summary.notes.extend(network.notes)
    summary.notes.extend(theory_notes)
    pooled = pooling_note(network) if summary.backward is not None else None
    if pooled is not None:
        summary.notes.append(pooled)
    return RunResult(
        config=spec.path,
        name=spec.name,
        init=options.init or spec.init,
        bias_init=options.bias_init or spec.bias_init,
        seed=options.seed,
        batch=batch,
        dtype=options.dtype,
        input_mean=input_moments.mean,
        input_var=input_moments.var,
        output_grad_var=output_grad_var,
        layers=layers,
        summary=summary,
        samples=collector.samples,
        scheme=options.scheme,
        blocks=blocks,
    )


def order_blocks(
    network: Network, layers: list[LayerStats], blocks: list[BlockStats]
) -> list[BlockStats]:
    """Blocks in network order (an outer block before the blocks inside it), numbered from
    1, and each row's ``block``: the innermost residual block it is in."""
    by_name = {block.name: block for block in blocks}
    ordered = [by_name[layer.name] for layer in network.walk() if layer.name in by_name]
    row_block: dict[str, int] = {}
    for index, (block, layer) in enumerate(
        zip(ordered, [lay for lay in network.walk() if lay.is_block], strict=True), start=1
    ):
        block.index = index
        for inner in layer.walk():
            if inner.reports:
                row_block[inner.name] = index  # an inner block overrides its outer one
    for row in layers:
        row.block = row_block.get(row.name)
    fill_block_ratios(ordered)
    return ordered


def attach_theory(
    network: Network,
    layers: list[LayerStats],
    batch: int,
    notes: list[str],
    blocks: list[BlockStats] | None = None,
) -> None:
    """Fill the ``theory_*`` fields: the mean-field prediction for unit-variance input and
    output gradient, from the initializers' laws (not from the sampled weights)."""
    try:
        predictions, block_records = predict_with_blocks(network)
    except InitcliError as err:
        notes.append(f"no mean-field prediction: {err.message}")
        return
    for block, record in zip(blocks or [], block_records, strict=True):
        block.theory_second_moment = record.second_moment
        block.theory_branch_second_moment = record.branch_second_moment
        block.theory_grad_var = record.grad_var if block.grad_var is not None else None
    if any(layer.type.startswith("conv") for layer in layers):
        notes.append(
            "theory treats convolutions per channel and ignores borders: zero padding lowers "
            "the measured variance near the edges of small feature maps"
        )
    for stats, prediction in zip(layers, predictions, strict=True):
        stats.theory_preact_var = prediction.preact_var
        stats.theory_grad_var = prediction.grad_var if stats.grad_var is not None else None
        if stats.weight_grad_var is not None:
            stats.theory_weight_grad_var = weight_grad_var(prediction, batch)
        if prediction.note and prediction.note not in notes:
            notes.append(f"{stats.name}: {prediction.note}")


_POOLING = ("global_avgpool", "avgpool2d", "maxpool2d")


def pooling_note(network: Network) -> str | None:
    """:func:`per_element_pooling_note` for the network's pooling layers, if it has any."""
    pools = [layer.name for layer in network.walk() if layer.type in _POOLING]
    return per_element_pooling_note(pools) if pools else None


def per_element_pooling_note(pools: list[str]) -> str:
    """Var dL/dz is per element, and a pool hands each output's gradient to several input
    positions (an average over P positions gives each 1/P of it: variance 1/P^2): say that
    part of the backward factor is this bookkeeping, not a vanishing signal."""
    shown = ", ".join(pools[:3]) + (", ..." if len(pools) > 3 else "")
    return (
        f"Var dL/dz is per element: through {shown} each pooled output's gradient is shared "
        "out over the positions it pools (a global average over P positions: each gets 1/P "
        "of it, variance 1/P^2), so part of the backward factor is that, not a fading signal"
    )


def dense_stack_spec(
    depth: int, width: int, activation: str, batch: int, init: str = "glorot_uniform"
) -> NetworkSpec:
    """The network ``compare`` uses without ``--config``: ``depth`` dense layers of ``width``."""
    for flag, value in (("--depth", depth), ("--width", width), ("--batch", batch)):
        if value < 1:
            raise InitcliError(f"{flag} {value} must be at least 1", EXIT_BAD_USAGE)
    where = Location("<command line>", None, "--activation")
    layers = tuple(
        LayerSpec(
            type="dense",
            name=f"dense{index}",
            location=where,
            units=width,
            activation=activation,
        )
        for index in range(1, depth + 1)
    )
    return NetworkSpec(
        name=f"dense{depth}x{width}_{activation}",
        path="<command line>",
        input_shape=(width,),
        input_distribution="normal",
        batch=batch,
        init=init,
        bias_init="zeros",
        layers=layers,
    )


SPREAD_KEYS = ("preact_var", "act_var", "grad_var", "weight_grad_var")
BLOCK_SPREAD_KEYS = ("avg_channel_sq_mean", "avg_channel_var", "branch_avg_channel_var", "grad_var")


def run_seeds(
    spec: NetworkSpec,
    options: RunOptions,
    seeds: int,
    on_step: Callable[[], None] | None = None,
    on_draw: Callable[[], None] | None = None,
) -> RunResult:
    """``seeds`` independent draws (seeds ``seed``, ``seed + 1``, ...), aggregated.

    Each layer's numbers become the mean over the draws, and ``spread`` holds the
    [min, max] of every variance: deep products of finite random matrices fluctuate from
    draw to draw (a log-normal spread that grows with depth / width), and the user should see
    by how much. Draw k is exactly ``run --seed seed+k``. See :func:`run_jobs`.
    """
    return run_jobs([(spec, options)], seeds, on_step, on_draw)[0]


def run_jobs(
    jobs: Sequence[tuple[NetworkSpec, RunOptions]],
    seeds: int,
    on_step: Callable[[], None] | None = None,
    on_draw: Callable[[], None] | None = None,
) -> list[RunResult]:
    """Every job ``seeds`` times, one aggregated :class:`RunResult` per job, in order.

    With one seed each job runs here and ``on_step`` is called after each propagation step.
    With more, the draws of all jobs run side by side in threads of this process (one per
    core given, as many as fit in memory), see :func:`_run_in_threads`; ``on_draw`` is
    called in this thread as each draw completes. No thread or process outlives the call.
    """
    if seeds < 1:
        raise InitcliError(f"--seeds {seeds} must be at least 1", EXIT_BAD_USAGE)
    if seeds == 1:
        results = []
        for spec, options in jobs:
            results.append(run_experiment(spec, options, on_step))
            if on_draw is not None:
                on_draw()
        return results
    draws: list[tuple[NetworkSpec, RunOptions]] = [
        (spec, replace(options, seed=options.seed + k, keep_samples=options.keep_samples and not k))
        for spec, options in jobs
        for k in range(seeds)
    ]
    workers = min(_parallel_workers(spec, options, len(draws)) for spec, options in jobs)
    if workers == 1:
        finished = []
        for spec, draw in draws:
            finished.append(run_experiment(spec, draw))
            if on_draw is not None:
                on_draw()
    else:
        finished = _run_in_threads(draws, workers, on_draw)
    return [aggregate(finished[k * seeds : (k + 1) * seeds]) for k in range(len(jobs))]


class _Cancelled(Exception):
    """Raised inside a draw's thread at its next step once the call is being abandoned."""


def _run_in_threads(
    draws: Sequence[tuple[NetworkSpec, RunOptions]],
    workers: int,
    on_draw: Callable[[], None] | None,
) -> list[RunResult]:
    """``run_experiment`` of every draw, ``workers`` at a time, each with one BLAS thread.

    Threads, not processes: numpy releases the GIL in its GEMMs and elementwise loops, so
    ``workers`` single-threaded draws keep that many cores busy, with no start-up cost (a
    spawned worker paid ~0.5 s importing numpy and initcli), no copies of results between
    processes and nothing to reap. BLAS is held to one thread per call meanwhile
    (threadpoolctl; the setting is process-wide and restored on the way out): several
    multi-threaded GEMMs side by side would oversubscribe the cores. Measured on 2 cores
    (bench/RESULTS.md): efficiency 0.96 for 4 draws of a 20 x 1024 network, where the
    process pool reached 0.6x the serial time's speed.

    On an error or Ctrl-C in this thread, the running draws stop at their next layer step
    and are joined before the exception propagates; queued ones never start.
    """
    from threadpoolctl import threadpool_limits

    stop = threading.Event()

    def check_stop() -> None:
        if stop.is_set():
            raise _Cancelled

    done: list[RunResult | None] = [None] * len(draws)
    with threadpool_limits(limits=1, user_api="blas"):
        executor = ThreadPoolExecutor(workers, thread_name_prefix="initcli-draw")
        try:
            futures = {
                executor.submit(run_experiment, spec, draw, check_stop): position
                for position, (spec, draw) in enumerate(draws)
            }
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                if on_draw is not None:
                    on_draw()
        finally:
            stop.set()
            executor.shutdown(wait=True, cancel_futures=True)
    finished = [result for result in done if result is not None]
    assert len(finished) == len(draws)
    return finished


def cores() -> int:
    """The cores this process may run on (its affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _parallel_workers(spec: NetworkSpec, options: RunOptions, draws: int) -> int:
    """One process per core, but no more than fit in memory side by side."""
    batch = spec.batch if options.batch is None else options.batch
    network = build_network(spec, init=options.init, bias_init=options.bias_init)
    estimate = check_memory(network, batch, options.dtype, options.with_grad)
    available = _memory_limit_from_environment() or available_memory()
    fit = draws if available is None else int(MEMORY_HEADROOM * available // max(estimate, 1))
    return max(1, min(draws, cores(), fit))


def aggregate(draws: list[RunResult]) -> RunResult:
    """Mean of every per-layer number over ``draws``; [min, max] of variances in ``spread``."""
    base = draws[0]
    layers = []
    for position, layer in enumerate(base.layers):
        values = [draw.layers[position] for draw in draws]
        merged = replace(layer)
        for name in vars(layer):
            # A number can be undefined (None) in some draws only, e.g. a ratio over a
            # variance that is exactly 0 in one draw: the mean is over the draws defining it.
            column = [x for v in values if isinstance(x := getattr(v, name), float)]
            if column:
                setattr(merged, name, float(np.mean(column)))
        for name in PER_HEAD_KEYS:  # per-head lists: the mean of each head over the draws
            if getattr(layer, name) is not None:
                heads = np.mean([getattr(v, name) for v in values], axis=0)
                setattr(merged, name, [float(h) for h in heads])
        merged.finite = all(v.finite for v in values)
        merged.spread = {}
        for key in SPREAD_KEYS:
            defined = [x for v in values if (x := getattr(v, key)) is not None]
            if defined:
                merged.spread[key] = [min(defined), max(defined)]
        layers.append(merged)
    fill_ratios(layers)
    blocks = []
    for position, block in enumerate(base.blocks):
        values_ = [draw.blocks[position] for draw in draws]
        merged_block = replace(block)
        for name, value in vars(block).items():
            if isinstance(value, float) and name not in ("scale", "branch_input_scale"):
                setattr(merged_block, name, float(np.mean([getattr(v, name) for v in values_])))
        merged_block.finite = all(v.finite for v in values_)
        merged_block.spread = {
            key: [min(getattr(v, key) for v in values_), max(getattr(v, key) for v in values_)]
            for key in BLOCK_SPREAD_KEYS
            if getattr(block, key) is not None
        }
        blocks.append(merged_block)
    fill_block_ratios(blocks)
    input_var = float(np.mean([d.input_var for d in draws]))
    input_mean = float(np.mean([d.input_mean for d in draws]))
    grad_vars = [d.output_grad_var for d in draws if d.output_grad_var is not None]
    output_grad_var = float(np.mean(grad_vars)) if grad_vars else None
    summary = summarize(layers, input_var, output_grad_var)
    summary.blocks = judge_blocks(blocks)
    summary.notes.extend(base.summary.notes)
    summary.notes.append(
        f"numbers are means over {len(draws)} draws "
        f"(seeds {base.seed}..{base.seed + len(draws) - 1})"
    )
    return replace(
        base,
        layers=layers,
        blocks=blocks,
        summary=summary,
        input_mean=input_mean,
        input_var=input_var,
        output_grad_var=output_grad_var,
        seeds=len(draws),
    )
