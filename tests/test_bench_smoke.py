"""The benchmark's functions run end to end on toy sizes. No speed is asserted, only that what
they measure is physically possible: times positive and finite, FLOP rates below what the
machine's cores can do, memory peaks at least the tensors the case provably holds."""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import cases, measure  # noqa: E402
from bench import run as bench_run  # noqa: E402

TINY = replace(
    bench_run.QUICK,
    name="smoke",
    cases=(
        cases.dense_case(depth=2, width=16, batch=8).recipe,
        cases.conv2d_case(depth=2, channels=4, size=8, batch=2).recipe,
        cases.conv1d_case(depth=3, channels=4, length=32, batch=2).recipe,
    ),
    scaling_width=8,
    scaling_depths=(1, 2, 4),
    scaling_batches=(2, 4, 8),
    sample_size=16,
    qr_size=16,
    seeds_recipes=(cases.dense_case(depth=2, width=8, batch=4).recipe,),
    gemm_size=64,
    breakdown=True,
)
# Big enough that its tensors are fresh pages (not recycled heap): 2 x 4 MiB of weights and a
# 1 MiB input, still a few milliseconds of work.
MEMORY_RECIPE = cases.dense_case(depth=2, width=1024, batch=256).recipe
# Upper bound of a CPU's FP32 rate: 6 GHz x 64 FLOP/cycle (two AVX-512 FMA units) per core.
MAX_FLOPS_PER_CORE = 6e9 * 64


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@pytest.mark.parametrize("recipe", TINY.cases, ids=lambda r: r["kind"])
def test_case_runs_and_counts(recipe: dict) -> None:
    case = cases.case_from_recipe(recipe)
    assert cases.case_from_recipe(case.recipe) == case
    prep = cases.prepare(case)
    timed = cases.propagate_with_stats(prep)
    assert len(timed.layers) == recipe["depth"]
    assert math.isfinite(timed.seconds) and 0 < timed.stats_seconds < timed.seconds
    cases.propagate_only(prep)
    assert cases.flop_count(prep.network, case.batch) > 0
    floor = cases.floor_bytes(prep.network, case.batch, 4)
    weights = sum(w.nbytes for w in prep.params.weights if w is not None)
    assert floor > weights + prep.inputs.nbytes


@pytest.mark.parametrize("recipe", TINY.cases, ids=lambda r: r["kind"])
def test_torch_twin_matches_initcli(recipe: dict) -> None:
    pytest.importorskip("torch")
    prep = cases.prepare(cases.case_from_recipe(recipe))
    layers = cases.propagate_with_stats(prep).layers
    twin = cases.torch_twin(prep, threads=1)
    # Same weights and inputs; float32 rounding only (variances of a handful of values).
    assert cases.agreement(layers, twin.step()) < 1e-3
    # The same draws in float64 on both sides: float64 rounding only.
    wide = cases.in_float64(prep)
    assert wide.inputs.dtype == np.float64
    wide_layers = cases.propagate_with_stats(wide).layers
    assert cases.agreement(wide_layers, cases.torch_twin(wide, threads=1).step()) < 1e-9


def test_run_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = bench_run.run(TINY, ["run", "sampling", "seeds"], threads=1, out=tmp_path)
    assert len(results["run"]) == 3
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["settings"] == "smoke"
    assert "## Targets" in (tmp_path / "results.md").read_text()
    assert "initcli benchmark" in capsys.readouterr().out
    rows = [row for row in results["sampling"]["rows"] if "ratio" in row]
    assert rows and all(0 < row["ratio"] < math.inf for row in rows)
    entries = [entry for row in results["seeds"]["rows"] for entry in row["by_k"]]
    assert [entry["k"] for entry in entries] == [2, 4, 8]
    assert all(0 < entry["efficiency"] < math.inf for entry in entries)


def test_memory_child_reports_floor_and_peak() -> None:
    recipe = TINY.cases[0]
    inline = bench_run.memory_child(recipe, "initcli")
    assert inline["floor"] > 0 and inline["estimate"] > 0 and inline["peak_rss"] > 0
    case = cases.case_from_recipe(MEMORY_RECIPE)
    prep = cases.prepare(case)
    held = prep.inputs.nbytes + sum(w.nbytes for w in prep.params.weights if w is not None)
    child = measure.run_child(["--child", "memory", json.dumps(MEMORY_RECIPE), "initcli"])
    assert (
        child["floor"] == cases.floor_bytes(prep.network, case.batch, prep.inputs.itemsize) > held
    )
    # the child samples the weights and draws the inputs after its baseline and holds them
    # through the run, so its peak is at least their size; and it is not absurdly more
    # (a bytes/KiB mix-up would be 1024x): imports during the run cost ~7 MiB here.
    assert held <= child["peak_above_baseline"] <= 2 * child["estimate"] + 64 * 2**20


def test_linear_fit_of_a_line() -> None:
    fit = bench_run.linear_fit([10, 20, 40], [1.0, 2.0, 4.0])
    assert fit["slope"] == pytest.approx(0.1)
    assert fit["r2"] == pytest.approx(1.0)
    assert fit["doubling_ratios"] == pytest.approx([2.0, 2.0])


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |     numpy._core
import time:      5000 |       6000 |   numpy
import time:        50 |       6050 | initcli.outputs
import time:      7000 |       7000 | typer
import time:       200 |        200 |   initcli.fans
import time:       300 |        500 | initcli.shape_strings
"""


def test_import_tree_names_who_imports_what() -> None:
    roots = measure.import_tree(IMPORTTIME)
    assert [root.name for root in roots] == ["initcli.outputs", "typer", "initcli.shape_strings"]
    assert roots[0].children[0].name == "numpy"
    heavy = measure.heavy_imports(roots)
    by_module = {row["module"]: row for row in heavy}
    assert by_module["numpy"]["imported_by"] == "initcli.outputs"
    assert by_module["typer"]["imported_by"] == "<top>"


def test_blas_facts_and_timers() -> None:
    info = measure.blas_info()
    assert info["numpy"] == np.__version__
    assert measure.blas_threads() >= 1
    small, large = measure.gemm_seconds(32), measure.gemm_seconds(256)
    best_small = min(small() for _ in range(5))
    best_large = min(large() for _ in range(5))
    assert 0 < best_small < math.inf and 0 < best_large < math.inf
    # 512x the FLOPs takes longer: the timer times the matmul, not just itself
    assert best_large > best_small
    rate = 2 * 256**3 / best_large  # FLOP/s
    assert 1e6 < rate < MAX_FLOPS_PER_CORE * _cores(), f"{rate:.3g} FLOP/s"
    samples = measure.Samples([2.0, 1.0, 3.0])
    assert samples.best == 1.0 and samples.median == 2.0 and samples.spread == 1.0


def test_allocator_ab_runs_both_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_run, "ALLOCATOR_RUNS", (("configs/mlp_tanh.yaml", "--batch", "4"),))
    result = bench_run.bench_allocator(1)
    (row,) = result["rows"]
    for mode in ("host", "console"):
        assert row["walls"][mode]["best"] > 0
        assert row["usage"][mode]["minor_faults"] > 0
        assert row["usage"][mode]["maxrss_kib"] > 10 * 1024  # at least Python and numpy
    assert "| `initcli run configs/mlp_tanh.yaml --batch 4` |" in "\n".join(
        bench_run._render_allocator(result)
    )


@pytest.mark.parametrize("dilation,pad", [((1, 1), 1), ((2, 2), 2), ((1, 2), 0), ((3,), 3)])
def test_implicit_gemm_probe_times_both_routes(dilation: tuple[int, ...], pad: int) -> None:
    from bench import implicit_gemm
    from initcli import blas

    if blas.gemm(np.dtype(np.float32)) is None:
        pytest.skip("numpy's bundled OpenBLAS is not the BLAS here")
    spatial = (7, 6)[: len(dilation)]
    rng = np.random.default_rng(0)
    ours, theirs, worst = implicit_gemm.compare_layer(
        (3, 4, *spatial), (5, 4, *(3,) * len(dilation)), dilation, pad, 1, rng
    )
    assert ours > 0 and theirs > 0
    assert worst < 1e-5  # the same convolution in float32, summed in another order
