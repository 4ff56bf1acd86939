"""initcli's benchmark (issue 5). One command::

    python bench/run.py              # the issue's sizes; sample 4096^2, QR 1024^2
    python bench/run.py --quick      # half sizes, one repeat: a smoke run
    python bench/run.py --full       # five repeats; sample and QR at 8192^2 (long)
    python bench/run.py --threads 1  # one BLAS/PyTorch thread: per-core efficiency,
                                     # steady while other processes share the cores
    python bench/run.py --sections run,memory   # any of: run,memory,cli,allocator,scaling,
                                                 # sampling,seeds
    python bench/run.py --malloc glibc          # glibc's malloc as it comes (default: as
                                                 # `initcli run` sets it; --seeds K leaves
                                                 # it alone, so measure `seeds` with glibc)

Prints Markdown tables and writes bench/results/results.json and results.md. What it measures:

- ``run`` on a dense, a conv2d and a causal dilated conv1d stack: FLOPs (forward and both
  backward products), wall time of ``for step in propagate(...): collector.add(step)`` after
  sampling, its ratio to the GEMM bound (FLOPs / float32 matmul FLOP/s measured in the same
  rounds), propagation alone against propagation + statistics, and PyTorch's forward +
  backward of the same network (same weights) with per-layer variances collected by hooks;
- peak memory of each case in a fresh process (VmHWM after resetting it, above the RSS after
  imports) against the floor (parameters + each weighted layer's input, and phi'(z) where kept) and
  against ``initcli.propagate.estimate_memory``;
- CLI start-up of ``initcli fans`` against ``python -c "import numpy"``, and who imports what;
- time and memory over depth and batch (dense), with straight-line fits;
- ``Initializer.sample`` of an N x N tensor for every initializer against numpy's normals,
  and orthogonal against ``np.linalg.qr``;
- ``--seeds K`` for K = 2, 4, 8: ``initcli.experiment.run_seeds`` (draws in threads, one BLAS
  thread each) against one single-threaded draw (efficiency) and K draws in a row.

Each timing is the best of N interleaved rounds (other processes share the 2 cores); the
median's excess over the best is reported as the noise.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `initcli` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from initcli.__main__ import OPENBLAS_THREAD_TIMEOUT  # imports no numpy

# As the console program sets it, before numpy loads OpenBLAS (initcli/__main__.py); the
# children inherit it. A value already in the environment is kept (and reported).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)

import numpy as np

from bench import cases
from bench.measure import (
    Samples,
    blas_info,
    blas_threads,
    gemm_seconds,
    heavy_imports,
    import_profile,
    peak_rss,
    reset_peak,
    rss,
    run_child,
    set_blas_threads,
    timed,
    torch_gemm_rate,
    wall_of,
)
from initcli.network import build_network
from initcli.propagate import weighted_layers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MiB = 2**20


@dataclass(frozen=True)
class Settings:
    name: str
    repeats: int  # interleaved rounds per case
    cases: tuple[dict[str, Any], ...]  # recipes (bench.cases.case_from_recipe)
    scaling_width: int
    scaling_depths: tuple[int, ...]
    scaling_batches: tuple[int, ...]
    scaling_repeats: int
    sample_size: int  # N of the N x N draws of every elementwise initializer
    qr_size: int  # N for orthogonal (QR) initializers and the np.linalg.qr reference
    sample_repeats: int
    qr_repeats: int  # rounds for the QR-based initializers (an 8192^2 QR is ~20-40 s here)
    cli_repeats: int
    seeds_recipes: tuple[dict[str, Any], ...]  # a short draw and a long one: start-up shows
    seeds_repeats: int
    gemm_size: int = 2048
    breakdown: bool = True


DEFAULT = Settings(
    name="default",
    repeats=3,
    cases=(
        cases.dense_case().recipe,
        cases.config_case("cnn_relu", batch=256).recipe,
        cases.conv2d_case().recipe,
        cases.conv1d_case().recipe,
    ),
    scaling_width=512,
    scaling_depths=(10, 20, 40),
    scaling_batches=(256, 512, 1024),
    scaling_repeats=5,
    sample_size=4096,
    qr_size=1024,  # a contended 2-thread QR of 2048^2 took 7 to 20 s here
    sample_repeats=2,
    qr_repeats=2,
    cli_repeats=10,
    seeds_recipes=(
        cases.dense_case(depth=10, width=512, batch=512).recipe,
        cases.dense_case(depth=20, width=1024, batch=512).recipe,
    ),
    seeds_repeats=2,
)
QUICK = replace(
    DEFAULT,
    name="quick",
    repeats=1,
    cases=(
        cases.dense_case(width=512, batch=512).recipe,
        cases.config_case("cnn_relu", batch=32).recipe,
        cases.conv2d_case(batch=16).recipe,
        cases.conv1d_case(batch=8).recipe,
    ),
    scaling_width=256,
    scaling_repeats=1,
    sample_size=2048,
    qr_size=512,
    sample_repeats=1,
    qr_repeats=1,
    cli_repeats=3,
    seeds_recipes=(cases.dense_case(depth=10, width=256, batch=256).recipe,),
    seeds_repeats=1,
    breakdown=False,
)
FULL = replace(
    DEFAULT,
    name="full",
    repeats=5,
    sample_size=8192,
    qr_size=8192,
    sample_repeats=2,
    qr_repeats=1,
    cli_repeats=20,
)
SECTIONS = ("run", "memory", "cli", "allocator", "scaling", "sampling", "seeds")


def have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# --- run: time against the GEMM bound and against PyTorch ------------------------------


def profile_breakdown(prep: cases.Prepared) -> dict[str, float]:
    """Share of one propagate + statistics run spent in each part (cProfile, cumulative)."""
    profiler = cProfile.Profile()
    profiler.enable()
    cases.propagate_with_stats(prep)
    profiler.disable()
    stats = pstats.Stats(profiler)
    # (files the function may live in, its name): the linear parts are methods of the
    # weighted layer kinds (initcli/layers/dense.py, convolution.py), each counted once.
    layer_kinds = ("layers/dense.py", "layers/convolution.py")
    parts: dict[str, tuple[tuple[str, ...], str]] = {
        "linear_forward": (layer_kinds, "linear_forward"),
        "linear_backward": (layer_kinds, "linear_backward"),
        "im2col": (("conv.py",), "columns"),
        "col2im": (("conv.py",), "_col2im"),
        "padding": (("conv.py",), "padded_input"),
        "activation": (("activations.py",), "forward_and_derivative"),
        "bias_grad": (("layers/weighted.py", "layers/dense.py"), "bias_grad"),
        "statistics": (("stats.py",), "add"),
        "moments": (("moments.py",), "moments"),
    }
    found = {key: 0.0 for key in parts}
    total = 0.0
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        cumulative = row[3]
        if function == "propagate_with_stats":
            total = cumulative
        for key, (file_ends, name) in parts.items():
            if function == name and filename.endswith(file_ends):
                found[key] += cumulative
    if total <= 0:
        return {}
    shares = {key: value / total for key, value in found.items()}
    covered = sum(
        shares[k] for k in ("linear_forward", "linear_backward", "activation", "statistics")
    )
    shares["rest"] = 1.0 - covered - shares["bias_grad"]
    # The GEMMs: the linear parts less their memory-bound im2col, col2im and padding copies
    # (the output transposes and bias adds inside conv_forward/backward stay counted here).
    shares["gemm"] = (
        shares["linear_forward"]
        + shares["linear_backward"]
        - shares["im2col"]
        - shares["col2im"]
        - shares["padding"]
    )
    shares["total_seconds"] = total
    return shares


def bench_case(recipe: dict[str, Any], settings: Settings, threads: int) -> dict[str, Any]:
    case = cases.case_from_recipe(recipe)
    sampling = Samples()
    for _ in range(settings.repeats):  # weights, biases, input, output gradient
        sampling.add(timed(lambda: cases.prepare(case))[0])
    prep = cases.prepare(case)
    network = prep.network
    flop = cases.flop_count(network, case.batch)
    gemm = gemm_seconds(settings.gemm_size)
    twin = cases.torch_twin(prep, threads) if have_torch() else None
    # No separate warm-up: the first round's first-touch and PyTorch's one-time set-up only
    # make that round slower, and each figure is the best round.
    gemm_s, prop_s, full_s, stats_s, torch_s = (Samples() for _ in range(5))
    layers = None
    for _ in range(settings.repeats):
        gemm_s.add(min(gemm(), gemm()))
        prop_s.add(timed(lambda: cases.propagate_only(prep))[0])
        run = cases.propagate_with_stats(prep)
        full_s.add(run.seconds)
        stats_s.add(run.stats_seconds)
        layers = run.layers
        if twin is not None:
            torch_s.add(timed(twin.step)[0])
    assert layers is not None
    rate = 2.0 * settings.gemm_size**3 / gemm_s.best
    bound = flop / rate
    # Statistics overhead, two ways: best-with over best-without (two noisy minima), and the
    # collector's own time within the best full run (one run, no differencing).
    best_round = full_s.values.index(full_s.best)
    direct = stats_s.values[best_round] / (full_s.best - stats_s.values[best_round])
    result: dict[str, Any] = {
        "case": case.key,
        "title": case.title,
        "recipe": recipe,
        "layers": len(weighted_layers(network)),
        "flops": flop,
        "gemm_rate": rate,
        "gemm_seconds": gemm_s.to_dict(),
        "bound_seconds": bound,
        "propagate_seconds": prop_s.to_dict(),
        "run_seconds": full_s.to_dict(),
        "stats_in_run_seconds": stats_s.to_dict(),
        "efficiency": bound / full_s.best,
        "efficiency_propagate_only": bound / prop_s.best,
        "stats_overhead": full_s.best / prop_s.best - 1.0,
        "stats_overhead_direct": direct,
        "noise": max(full_s.spread, prop_s.spread),
    }
    if twin is not None:
        result["torch_seconds"] = torch_s.to_dict()
        result["torch_ratio"] = full_s.best / torch_s.best
        result["torch_agreement"] = cases.agreement(layers, twin.step())
        wide = cases.in_float64(prep)
        wide_layers = cases.propagate_with_stats(wide, keep_samples=False).layers
        result["torch_agreement_float64"] = cases.agreement(
            wide_layers, cases.torch_twin(wide, threads).step()
        )
        result["torch_threads"] = threads
    result["sampling_seconds"] = sampling.to_dict()
    if settings.breakdown:
        result["breakdown"] = breakdown = profile_breakdown(prep)
        if breakdown:
            # Of sampling + the run (best of each): everything that is not a GEMM.
            whole = sampling.best + full_s.best
            gemm_seconds_in_run = breakdown["gemm"] * full_s.best
            result["non_gemm_share"] = 1.0 - gemm_seconds_in_run / whole
            result["sampling_share"] = sampling.best / whole
    return result


# --- memory: fresh processes, the OS's accounting ------------------------------------------------


def memory_child(recipe: dict[str, Any], mode: str) -> dict[str, Any]:
    """In a fresh process: peak RSS of sampling + one run, above the RSS after imports:
    ``run_experiment`` itself (what ``initcli run`` does), or the PyTorch twin."""
    from initcli.experiment import RunOptions, run_experiment
    from initcli.propagate import estimate_memory

    threads = blas_threads()  # OPENBLAS_NUM_THREADS from the parent (--threads)
    if mode == "torch":
        import torch

        torch.set_num_threads(threads)
    case = cases.case_from_recipe(recipe)
    network = build_network(case.spec)
    exact = reset_peak()
    baseline = rss()
    if mode == "torch":
        prep = cases.prepare(case)
        twin = cases.torch_twin(prep, threads)
        twin.step()
    else:
        run_experiment(case.spec, RunOptions(batch=case.batch, dtype="float32"))
    peak = peak_rss()
    itemsize = np.dtype(np.float32).itemsize
    return {
        "mode": mode,
        "baseline_rss": baseline,
        "peak_rss": peak,
        "peak_above_baseline": peak - baseline,
        "hwm_reset": exact,
        "floor": cases.floor_bytes(network, case.batch, itemsize),
        "estimate": estimate_memory(network, case.batch, itemsize, True),
    }


def bench_memory(recipe: dict[str, Any], with_torch: bool) -> dict[str, Any]:
    mine = run_child(["--child", "memory", json.dumps(recipe), "initcli"])
    # The console's malloc keeps freed blocks for reuse (time) at some fragmentation (peak):
    # the other setting's peak shows what that costs.
    other = "glibc" if os.environ.get(MALLOC_VARIABLE, "console") == "console" else "console"
    theirs_malloc = run_child(
        ["--malloc", other, "--child", "memory", json.dumps(recipe), "initcli"]
    )
    result = {
        "other_malloc": other,
        "initcli_peak_other_malloc": theirs_malloc["peak_above_baseline"],
        "floor": mine["floor"],
        "estimate": mine["estimate"],
        "initcli_peak": mine["peak_above_baseline"],
        "initcli_over_floor": mine["peak_above_baseline"] / mine["floor"],
        "estimate_over_measured": mine["estimate"] / mine["peak_above_baseline"],
        "hwm_reset": mine["hwm_reset"],
    }
    if with_torch:
        theirs = run_child(["--child", "memory", json.dumps(recipe), "torch"])
        result["torch_peak"] = theirs["peak_above_baseline"]
        result["torch_over_floor"] = theirs["peak_above_baseline"] / mine["floor"]
    return result


# --- CLI start-up -------------------------------------------------------------------------------


def bench_cli(repeats: int) -> dict[str, Any]:
    python = sys.executable
    # `python -m initcli` from the repository root: this tree's initcli, whatever the
    # installed console script points at (an editable install may name another checkout).
    initcli = [python, "-m", "initcli"]
    fans = [*initcli, "fans", "--shape", "64,3,7,7"]
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import numpy'": [python, "-c", "import numpy"],
        "python -c 'import typer'": [python, "-c", "import typer"],
        "python -c 'import initcli.cli'": [python, "-c", "import initcli.cli"],
        "initcli fans --shape 64,3,7,7": fans,
        "initcli fans --shape 64,3,7,7 --json": [*fans, "--json"],
        "initcli --help": [*initcli, "--help"],
    }
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    for argv in commands.values():  # warm the page cache and .pyc files
        wall_of(argv, env)
    samples = {name: Samples() for name in commands}
    for _ in range(repeats):
        for name, argv in commands.items():
            samples[name].add(wall_of(argv, env))
    numpy_best = samples["python -c 'import numpy'"].best
    fans_best = samples["initcli fans --shape 64,3,7,7"].best
    roots = import_profile(fans, env)
    return {
        "walls": {name: s.to_dict() for name, s in samples.items()},
        "fans_over_numpy": fans_best / numpy_best,
        "help_over_numpy": samples["initcli --help"].best / numpy_best,
        "imports": heavy_imports(roots),
    }


# --- allocator: whole `initcli run` processes, malloc as set by the console program or not ---

ALLOCATOR_RUNS = (
    ("configs/cnn_relu.yaml", "--batch", "256"),
    ("configs/skipinit.yaml",),
    ("configs/resnet_preact.yaml",),
    ("configs/gpt_small.yaml",),
)

# main(argv) is how a host process calls initcli: it leaves malloc alone. main() reading
# sys.argv is the console program, which calls initcli.allocator.keep_freed_memory().
_ALLOCATOR_CHILD = """
import json, resource, sys
import initcli.cli
from initcli.cli import main
args, mode, report = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]


def leave(code):  # the console program leaves by os._exit; this probe must report first
    raise SystemExit(code)


initcli.cli._leave = leave
if mode == "console":
    sys.argv = ["initcli", *args]
    try:
        main()
    except SystemExit as done:
        if done.code:
            raise
elif main(args):
    sys.exit("initcli failed")
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
with open(report, "w") as handle:
    json.dump({"maxrss_kib": peak, "minor_faults": faults}, handle)
"""


def bench_allocator(repeats: int) -> dict[str, Any]:
    """Interleaved A/B of whole ``initcli run --no-plots`` processes: malloc as glibc
    leaves it (host mode) against the console program's setting; both leave through the
    interpreter's teardown, so the console's os._exit does not count as malloc's."""
    with tempfile.TemporaryDirectory(prefix="initcli-bench-") as scratch:
        return _allocator_ab(repeats, Path(scratch))


def _allocator_ab(repeats: int, scratch: Path) -> dict[str, Any]:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    report = scratch / "allocator.json"
    rows = []
    for run_args in ALLOCATOR_RUNS:
        args = ["run", str(ROOT / run_args[0]), *run_args[1:], "--no-plots", "--json"]
        args += ["--out", str(scratch)]
        walls = {mode: Samples() for mode in ("host", "console")}
        usage: dict[str, dict[str, int]] = {}
        for _ in range(repeats):
            for mode in walls:
                argv = [sys.executable, "-c", _ALLOCATOR_CHILD, json.dumps(args), mode]
                report.unlink(missing_ok=True)  # never read the other mode's report
                walls[mode].add(wall_of([*argv, str(report)], env))
                usage[mode] = json.loads(report.read_text())  # the same every round
        rows.append(
            {
                "command": "initcli run " + " ".join(run_args),
                "walls": {mode: s.to_dict() for mode, s in walls.items()},
                "usage": usage,
                "wall_ratio": walls["console"].best / walls["host"].best,
            }
        )
    return {"rows": rows, "repeats": repeats}


# --- scaling ------------------------------------------------------------


def linear_fit(xs: list[float], ys: list[float]) -> dict[str, Any]:
    """Least squares y = a + b x; r2; and y(2x) / y(x) for consecutive doublings."""
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    predicted = intercept + slope * x
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - predicted) ** 2)) / total if total > 0 else 1.0
    fit: dict[str, Any] = {
        "slope": float(slope),
        "intercept": float(intercept),
        "r2": r2,
        "intercept_share": float(intercept / y.max()),
        "doubling_ratios": [float(b / a) for a, b in itertools.pairwise(y)],
    }
    return fit


def bench_scaling(settings: Settings) -> dict[str, Any]:
    width = settings.scaling_width
    mid_depth = settings.scaling_depths[len(settings.scaling_depths) // 2]
    mid_batch = settings.scaling_batches[len(settings.scaling_batches) // 2]
    points = {("depth", d): (d, mid_batch) for d in settings.scaling_depths}
    points.update({("batch", b): (mid_depth, b) for b in settings.scaling_batches})
    keys = sorted(set(points.values()))
    preps = {
        (depth, batch): cases.prepare(cases.dense_case(depth=depth, width=width, batch=batch))
        for depth, batch in keys
    }
    times = {key: Samples() for key in keys}
    for _ in range(settings.scaling_repeats):  # round-robin: every point sees the same noise
        for key in keys:
            times[key].add(cases.propagate_with_stats(preps[key]).seconds)
    preps.clear()
    measured: dict[tuple[int, int], dict[str, float]] = {}
    for depth, batch in keys:
        recipe = cases.dense_case(depth=depth, width=width, batch=batch).recipe
        memory = run_child(["--child", "memory", json.dumps(recipe), "initcli"])
        measured[(depth, batch)] = {
            "seconds": times[(depth, batch)].best,
            "noise": times[(depth, batch)].spread,
            "peak": memory["peak_above_baseline"],
            "floor": memory["floor"],
        }
    result: dict[str, Any] = {"width": width, "points": []}
    for (axis, value), key in points.items():
        result["points"].append({"axis": axis, "value": value, **measured[key]})
    for axis in ("depth", "batch"):
        rows = [p for p in result["points"] if p["axis"] == axis]
        xs = [float(p["value"]) for p in rows]
        result[f"{axis}_time_fit"] = linear_fit(xs, [p["seconds"] for p in rows])
        result[f"{axis}_memory_fit"] = linear_fit(xs, [p["peak"] / MiB for p in rows])
    return result


# --- sampling -------------------------------------------------------------------------------------


def _reference(
    structured: bool,
    shape: tuple[int, int],
    rng: np.random.Generator,
    gaussians: dict[tuple[int, int], np.ndarray],
) -> Callable[[], Any]:
    """numpy's own cost of the same draw: plain normals, or the QR behind orthogonal."""
    if not structured:
        return lambda: rng.standard_normal(shape, dtype=np.float32)
    if shape not in gaussians:
        gaussians[shape] = rng.standard_normal(shape, dtype=np.float32)
    gaussian = gaussians[shape]
    return lambda: np.linalg.qr(gaussian)


def bench_sampling(settings: Settings) -> dict[str, Any]:
    """Each initializer against its reference drawn just before it, in alternation."""
    from initcli.errors import InitcliError
    from initcli.initializers import list_initializers, resolve_initializer

    rng = np.random.default_rng(0)
    gaussians: dict[tuple[int, int], np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    for info in list_initializers():
        init = resolve_initializer(info.example)
        try:
            init.sample((8, 8), rng, "torch", np.float32)
        except InitcliError as err:
            rows.append({"init": info.example, "skipped": err.message})
            continue
        structured = "orthogonal" in info.summary.distribution  # QR-based
        size = settings.qr_size if structured else settings.sample_size
        shape = (size, size)
        reference = _reference(structured, shape, rng, gaussians)
        mine, theirs = Samples(), Samples()
        for _ in range(settings.qr_repeats if structured else settings.sample_repeats):
            theirs.add(timed(reference)[0])
            mine.add(timed(lambda: init.sample(shape, rng, "torch", np.float32))[0])  # noqa: B023
        rows.append(
            {
                "init": info.example,
                "size": size,
                "reference": "np.linalg.qr" if structured else "standard_normal",
                "target": 1.5 if structured else 2.0,
                "ratio": mine.best / theirs.best,
                "seconds": mine.to_dict(),
                "reference_seconds": theirs.to_dict(),
            }
        )
    return {"size": settings.sample_size, "qr_size": settings.qr_size, "rows": rows}


# --- --seeds K ---------------------------------------------------------------------------------


def bench_seeds(settings: Settings, ks: tuple[int, ...] = (2, 4, 8)) -> dict[str, Any]:
    """``run_seeds(K)`` for a short and a long draw, against one draw on one BLAS thread.

    efficiency = K * t(one draw, 1 thread) / (min(K, cores) * t(run_seeds K)): 1.0 is a linear
    speed-up on the cores given. Also against the K draws in a row with the default BLAS
    threads (what a loop over ``--seed`` gives; BLAS already spreads big GEMMs over cores).
    """
    from threadpoolctl import threadpool_limits

    from initcli.experiment import RunOptions, cores, run_experiment, run_seeds

    available = cores()
    rows = []
    for recipe in settings.seeds_recipes:
        case = cases.case_from_recipe(recipe)
        options = RunOptions(seed=0, keep_samples=False)
        single, in_a_row = Samples(), Samples()
        by_k: dict[int, Samples] = {k: Samples() for k in ks}
        run_experiment(case.spec, options)  # warm-up: imports, first allocations
        for _ in range(settings.seeds_repeats):
            with threadpool_limits(limits=1, user_api="blas"):
                single.add(timed(lambda: run_experiment(case.spec, options))[0])  # noqa: B023
            draws = [replace(options, seed=s) for s in range(ks[-1])]
            in_a_row.add(timed(lambda: [run_experiment(case.spec, o) for o in draws])[0])  # noqa: B023
            for k in ks:
                by_k[k].add(timed(lambda: run_seeds(case.spec, options, k))[0])  # noqa: B023
        per_k = []
        for k in ks:
            wall = by_k[k].best
            per_k.append(
                {
                    "k": k,
                    "run_seeds": by_k[k].to_dict(),
                    "efficiency": k * single.best / (min(k, available) * wall),
                    "over_in_a_row": in_a_row.best * k / ks[-1] / wall,
                }
            )
        rows.append(
            {
                "title": case.title,
                "single_1_thread": single.to_dict(),
                "in_a_row_default_threads": in_a_row.to_dict(),
                "in_a_row_k": ks[-1],
                "by_k": per_k,
            }
        )
    return {"ks": list(ks), "cores": available, "rows": rows}


# --- report ---------------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _pct1(value: float) -> str:
    """For a verdict against a threshold: 74.8% must not print as a missed 75%."""
    return f"{100 * value:.1f}%"


def _mib(count: float) -> str:
    return f"{count / MiB:.0f} MiB"


def _check(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        f"# initcli benchmark ({results['settings']} mode, {results['threads']} BLAS threads)",
        "",
        f"- malloc: {env.get('malloc', 'not recorded')}",
        f"- machine: {env['cpu']}, {env['cpu_count']} cores; Python {env['python']}; "
        f"numpy {env['numpy']}; BLAS: {env.get('blas')}; kernel in use: "
        f"{env.get('blas_kernel')}; OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}; "
        f"OPENBLAS_THREAD_TIMEOUT={env.get('OPENBLAS_THREAD_TIMEOUT')}",
        f"- torch: {env.get('torch')}; torch.mm {env.get('torch_gemm_gflops', 0):.1f} GFLOP/s "
        f"vs numpy matmul {env.get('numpy_gemm_gflops', 0):.1f} GFLOP/s "
        f"({results['gemm_size']}^3 float32, best of 5)",
        f"- load average (1 min) at start {env['load_start']:.2f}, at end "
        f"{env['load_end']:.2f}; wall {results['wall_seconds']:.0f} s",
    ]
    rows = results["run"]
    if any("run_seconds" in row for row in rows):
        lines += _render_run([row for row in rows if "run_seconds" in row])
    if results.get("torch_agreement"):
        lines += ["", f"PyTorch twin agrees: {results['torch_agreement']}"]
    if any("memory" in row for row in rows):
        lines += _render_memory([row for row in rows if "memory" in row])
    for name, part in (
        ("cli", _render_cli),
        ("allocator", _render_allocator),
        ("scaling", _render_scaling),
        ("sampling", _render_sampling),
        ("seeds", _render_seeds),
    ):
        if name in results:
            lines += part(results[name])
    lines += ["", "## Targets", "", "| target | where it stands |", "|---|---|"]
    lines += [f"| {name} | {state} |" for name, state in targets(results)]
    return "\n".join(lines) + "\n"


def _render_run(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## run: propagation + statistics against the GEMM bound and PyTorch",
        "",
        "| case | GFLOP | GEMM GFLOP/s | bound s | propagate s | + stats s | of bound | "
        "stats overhead (in-run / diff) | PyTorch s | initcli/PyTorch | noise |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        torch_s = row.get("torch_seconds", {}).get("best")
        lines.append(
            f"| {row['title']} | {row['flops'] / 1e9:.1f} | {row['gemm_rate'] / 1e9:.1f} | "
            f"{row['bound_seconds']:.2f} | {row['propagate_seconds']['best']:.2f} | "
            f"{row['run_seconds']['best']:.2f} | {_pct(row['efficiency'])} | "
            f"{_pct(row['stats_overhead_direct'])} / {_pct(row['stats_overhead'])} | "
            + (f"{torch_s:.2f} | {row['torch_ratio']:.2f} | " if torch_s else "- | - | ")
            + f"{_pct(row['noise'])} |"
        )
    lines += [
        "",
        "of bound = FLOPs / GEMM rate / (propagate + stats). Stats overhead in-run: time inside "
        "StatsCollector.add over the rest of that run; diff: best with over best without. "
        "Noise: the median run's excess over the best.",
    ]
    if any("breakdown" in row for row in rows):
        lines += [
            "",
            "Where the time goes (share of one profiled run; linear_* include im2col/col2im):",
            "",
            "| case | linear fwd | linear bwd | im2col | col2im | phi and phi' | stats "
            "(moments) | bias grad | rest | sampling s | non-GEMM share (with sampling) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            b = row.get("breakdown")
            if not b:
                continue
            lines.append(
                f"| {row['case']} | {_pct(b['linear_forward'])} | {_pct(b['linear_backward'])} | "
                f"{_pct(b['im2col'])} | {_pct(b['col2im'])} | {_pct(b['activation'])} | "
                f"{_pct(b['statistics'])} ({_pct(b['moments'])}) | "
                f"{_pct(b['bias_grad'])} | {_pct(b['rest'])} | "
                f"{row['sampling_seconds']['best']:.3f} | {_pct1(row['non_gemm_share'])} |"
            )
        lines += [
            "",
            "Shares are of the profiled run (cProfile, cumulative). non-GEMM share = 1 - GEMM "
            "time / (sampling + run), GEMM time = linear_* less im2col, col2im and padding.",
        ]
    return lines


def _render_memory(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## Peak memory (fresh process, VmHWM above the RSS after imports)",
        "",
        "| case | floor | initcli peak | peak / floor | peak, other malloc | estimate_memory | "
        "estimate / peak | PyTorch peak | PyTorch / floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m = row["memory"]
        torch_cols = (
            f"{_mib(m['torch_peak'])} | {m['torch_over_floor']:.2f} |"
            if "torch_peak" in m
            else "- | - |"
        )
        lines.append(
            f"| {row['case']} | {_mib(m['floor'])} | {_mib(m['initcli_peak'])} | "
            f"{m['initcli_over_floor']:.2f} | "
            f"{_mib(m['initcli_peak_other_malloc'])} ({m['other_malloc']}) | "
            f"{_mib(m['estimate'])} | "
            f"{m['estimate_over_measured']:.2f} | {torch_cols}"
        )
    lines += [
        "",
        "floor = parameters + per weighted layer its input, and phi'(z) unless backward reads "
        "it from phi(z) (relu, leaky_relu: then the network's output) or it is 1 (linear): "
        "what backward needs (bench/cases.py floor_bytes). Peak, other malloc: the same "
        "child with the other --malloc setting (console: freed blocks kept for reuse, faster, "
        "at some fragmentation; glibc: its default).",
    ]
    return lines


def _render_cli(cli: dict[str, Any]) -> list[str]:
    lines = ["", "## CLI start-up (best of N, subprocess wall)", ""]
    lines += ["| command | best s | median s |", "|---|---|---|"]
    for name, s in cli["walls"].items():
        lines.append(f"| `{name}` | {s['best']:.3f} | {s['median']:.3f} |")
    lines += [
        "",
        f"`initcli fans` / `import numpy` = {cli['fans_over_numpy']:.2f}, `initcli --help` / "
        f"`import numpy` = {cli['help_over_numpy']:.2f} (target <= 1.3)",
        "",
        "Imports of `initcli fans` above 5 ms (`-X importtime`, cumulative; first importer):",
        "",
        "| module | imported by | ms |",
        "|---|---|---|",
    ]
    for row in cli["imports"][:20]:
        lines.append(f"| {row['module']} | {row['imported_by']} | {row['ms']:.0f} |")
    return lines


def _render_allocator(al: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## malloc: the console program's setting (initcli.allocator) against glibc's default",
        "",
        f"Whole `--no-plots` processes, interleaved, best of {al['repeats']}: `main(argv)` "
        "(a host process, malloc untouched) against `main()` (the console program).",
        "",
        "| command | default s | console s | console / default | minor faults default -> "
        "console | peak RSS MiB default -> console |",
        "|---|---|---|---|---|---|",
    ]
    for row in al["rows"]:
        host, console = row["usage"]["host"], row["usage"]["console"]
        lines.append(
            f"| `{row['command']}` | {row['walls']['host']['best']:.3f} | "
            f"{row['walls']['console']['best']:.3f} | {row['wall_ratio']:.2f} | "
            f"{host['minor_faults']} -> {console['minor_faults']} | "
            f"{host['maxrss_kib'] / 1024:.0f} -> {console['maxrss_kib'] / 1024:.0f} |"
        )
    return lines


def _render_scaling(sc: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## Scaling (dense, width {sc['width']}, tanh): propagation + statistics",
        "",
        "| axis | value | seconds | peak MiB | floor MiB |",
        "|---|---|---|---|---|",
    ]
    for p in sc["points"]:
        lines.append(
            f"| {p['axis']} | {p['value']} | {p['seconds']:.3f} | {p['peak'] / MiB:.0f} | "
            f"{p['floor'] / MiB:.0f} |"
        )
    lines += ["", "| fit | slope | intercept / max | r2 | y(2x)/y(x) |", "|---|---|---|---|---|"]
    for axis in ("depth", "batch"):
        for what, unit in (("time", "s"), ("memory", "MiB")):
            fit = sc[f"{axis}_{what}_fit"]
            ratios = ", ".join(f"{r:.2f}" for r in fit["doubling_ratios"])
            lines.append(
                f"| {what} vs {axis} | {fit['slope']:.4g} {unit}/{axis} | "
                f"{_pct(fit['intercept_share'])} | {fit['r2']:.4f} | {ratios} |"
            )
    return lines


def _render_sampling(sm: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## sample: N x N float32 (N = {sm['size']}; QR-based N = {sm['qr_size']})",
        "",
        "Each initializer alternates with its reference (standard_normal of the same size, or "
        "np.linalg.qr of a float32 Gaussian of that size); best of each.",
        "",
        "| initializer | N | best s | reference best s | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for row in sm["rows"]:
        if "skipped" in row:
            continue
        flag = "" if row["ratio"] <= row["target"] else " MISSED"
        lines.append(
            f"| {row['init']} | {row['size']} | {row['seconds']['best']:.3f} | "
            f"{row['reference']} {row['reference_seconds']['best']:.3f} | "
            f"{row['ratio']:.2f}{flag} | <= {row['target']} |"
        )
    skipped = [row["init"] for row in sm["rows"] if "skipped" in row]
    lines += ["", f"skipped (cannot take a 2-D shape): {', '.join(skipped) or 'none'}"]
    return lines


def _render_seeds(sd: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## --seeds K ({sd['cores']} cores): draws in threads, one BLAS thread each",
        "",
        "| network | one draw, 1 thread s | K | run_seeds s | efficiency | over K in a row |",
        "|---|---|---|---|---|---|",
    ]
    for row in sd["rows"]:
        for entry in row["by_k"]:
            lines.append(
                f"| {row['title']} | {row['single_1_thread']['best']:.2f} | {entry['k']} | "
                f"{entry['run_seeds']['best']:.2f} | {entry['efficiency']:.2f} | "
                f"{entry['over_in_a_row']:.2f}x |"
            )
    lines += [
        "",
        "efficiency = K x (one draw on one BLAS thread) / (min(K, cores) x run_seeds time); "
        "1.0 is linear. over K in a row: K draws one after another with the default BLAS "
        "threads (which spread each GEMM over the cores) over run_seeds.",
    ]
    return lines


def targets(results: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for row in results["run"]:
        if "efficiency" in row:
            if row["case"] == "dense":
                goal = 0.85
            elif row["case"] == "config":
                goal = 0.50
            else:
                goal = None  # the older conv stacks: measured, no target in issue 15
            if goal is not None:
                out.append(
                    (
                        f"{row['title']}: >= {_pct(goal)} of GEMM bound",
                        f"{_check(row['efficiency'] >= goal)}: {_pct1(row['efficiency'])}",
                    )
                )
                if "torch_ratio" in row:
                    out.append(
                        (
                            f"{row['title']}: <= 1.0x PyTorch with hooks",
                            f"{_check(row['torch_ratio'] <= 1.0)}: initcli/PyTorch "
                            f"{row['torch_ratio']:.2f}",
                        )
                    )
                if "non_gemm_share" in row:
                    share = row["non_gemm_share"]
                    out.append(
                        (
                            f"{row['case']}: non-GEMM work (phi, phi', statistics, sampling) "
                            "< 15% of the run",
                            f"{_check(share < 0.15)}: {_pct1(share)} (sampling alone "
                            f"{_pct1(row['sampling_share'])})",
                        )
                    )
        if "memory" in row:
            ratio = row["memory"]["initcli_over_floor"]
            out.append(
                (f"{row['case']}: peak <= 1.2x floor", f"{_check(ratio <= 1.2)}: {ratio:.2f}x")
            )
    if "cli" in results:
        cli = results["cli"]
        for key, name in (("fans_over_numpy", "fans"), ("help_over_numpy", "--help")):
            out.append(
                (
                    f"initcli {name} <= 1.3x import numpy",
                    f"{_check(cli[key] <= 1.3)}: {cli[key]:.2f}x",
                )
            )
    if "sampling" in results:
        rows = [r for r in results["sampling"]["rows"] if "ratio" in r]
        missed = [f"{r['init']} {r['ratio']:.1f}x" for r in rows if r["ratio"] > r["target"]]
        out.append(
            (
                "sample within 2x normals (orthogonal 1.5x QR)",
                f"{_check(not missed)}: " + (", ".join(missed) if missed else f"all {len(rows)}"),
            )
        )
    if "seeds" in results:
        sd = results["seeds"]
        worst = min(entry["efficiency"] for row in sd["rows"] for entry in row["by_k"])
        listing = "; ".join(
            row["title"].split(",")[0]
            + ": "
            + ", ".join(f"K={e['k']} {e['efficiency']:.2f}" for e in row["by_k"])
            for row in sd["rows"]
        )
        out.append(
            (
                "--seeds K near-linear on the cores given (efficiency >= 0.8)",
                f"{_check(worst >= 0.8)}: {listing}",
            )
        )
    return out


def environment() -> dict[str, Any]:
    info = blas_info()
    info["python"] = platform.python_version()
    info["load_start"] = os.getloadavg()[0]
    try:
        import torch

        info["torch"] = f"{torch.__version__}, {torch.get_num_threads()} threads by default"
    except ImportError:
        info["torch"] = None
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="half sizes, one repeat")
    mode.add_argument("--full", action="store_true", help="more repeats; 8192^2 sampling")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS and PyTorch threads (default: what OpenBLAS chose, one per core); "
        "1 measures per-core efficiency, steadier on a shared machine",
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    parser.add_argument(
        "--malloc",
        choices=MALLOC_MODES,
        default=os.environ.get(MALLOC_VARIABLE, "console"),
        help="console (default): glibc's malloc set as `initcli run` sets it "
        "(initcli.allocator.keep_freed_memory), in this process and the memory children; "
        "glibc: its default, as a host process calling initcli.cli.main() has it",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("KIND", "RECIPE", "MODE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    malloc = set_malloc(args.malloc)
    os.environ[MALLOC_VARIABLE] = args.malloc  # the memory children set theirs alike
    if args.child:
        kind, recipe, child_mode = args.child
        assert kind == "memory"
        print(json.dumps(memory_child(json.loads(recipe), child_mode)))
        return 0
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    settings = QUICK if args.quick else FULL if args.full else DEFAULT
    if args.threads is not None:
        if args.threads < 1 or not set_blas_threads(args.threads):
            parser.error("--threads needs a positive count and numpy's bundled OpenBLAS")
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)  # for the child processes
    run(settings, sections, blas_threads(), args.out, malloc)
    return 0


MALLOC_MODES = ("console", "glibc")
MALLOC_VARIABLE = "INITCLI_BENCH_MALLOC"


def set_malloc(mode: str) -> str:
    """Set this process's malloc as ``mode`` says; returns what it really is (the console
    program's setting needs glibc: elsewhere the run measures the system's default)."""
    from initcli.allocator import keep_freed_memory

    if mode == "console" and keep_freed_memory():
        return "console program's (initcli.allocator.keep_freed_memory)"
    return "glibc's default" if mode == "glibc" else "the system's default (not glibc)"


def run(
    settings: Settings,
    sections: list[str],
    threads: int,
    out: Path,
    malloc: str = "as the calling process has it (not set by bench/run.py)",
) -> dict[str, Any]:
    start = time.perf_counter()
    results: dict[str, Any] = {
        "settings": settings.name,
        "gemm_size": settings.gemm_size,
        "threads": threads,
        "sections": sections,
    }
    results["environment"] = env = environment()
    env["malloc"] = malloc
    gemm = gemm_seconds(settings.gemm_size)
    env["numpy_gemm_gflops"] = 2 * settings.gemm_size**3 / min(gemm() for _ in range(5)) / 1e9
    torch_rate = torch_gemm_rate(settings.gemm_size, 5, threads)
    env["torch_gemm_gflops"] = (torch_rate or 0) / 1e9
    with_torch = have_torch()
    results["run"] = []
    agreement = []
    for recipe in settings.cases if "run" in sections or "memory" in sections else ():
        row: dict[str, Any] = {
            "case": recipe["kind"],
            "title": cases.case_from_recipe(recipe).title,
        }
        if "run" in sections:
            print(f"run: {row['title']}", file=sys.stderr, flush=True)
            row = bench_case(recipe, settings, threads)
            if "torch_agreement" in row:
                agreement.append(
                    f"{row['case']} {row['torch_agreement']:.1e} "
                    f"({row['torch_agreement_float64']:.0e} in float64)"
                )
        if "memory" in sections:
            print(f"memory: {row['title']}", file=sys.stderr, flush=True)
            row["memory"] = bench_memory(recipe, with_torch)
        results["run"].append(row)
    if agreement:
        results["torch_agreement"] = (
            "largest relative difference of per-layer Var z, Var dL/dz, Var dL/dW in float32 "
            "(in float64 on the same draws cast up): "
            + ", ".join(agreement)
            + ". The float32 gaps of 1e-4 come from a relu unit whose z lands on the other side "
            "of 0 in one of the two float32 computations (tests/test_float32_accuracy.py)"
        )
    for name, bench in (
        ("cli", lambda: bench_cli(settings.cli_repeats)),
        ("allocator", lambda: bench_allocator(settings.repeats + 2)),
        ("scaling", lambda: bench_scaling(settings)),
        ("sampling", lambda: bench_sampling(settings)),
        ("seeds", lambda: bench_seeds(settings)),
    ):
        if name in sections:
            print(name, file=sys.stderr, flush=True)
            began = time.perf_counter()
            results[name] = bench()
            results[name]["wall_seconds"] = time.perf_counter() - began
    env["load_end"] = os.getloadavg()[0]
    results["wall_seconds"] = time.perf_counter() - start
    text = render(results)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / "results.md").write_text(text)
    print(f"wrote {out / 'results.json'} and results.md", file=sys.stderr)
    return results


if __name__ == "__main__":
    sys.exit(main())
