"""Benchmark of ``initcli spectrum`` (issue 14) against numpy's own bound. One command::

    python bench/spectrum.py            # dense 20 x 1024 tanh, 16 examples (the issue's case)
    python bench/spectrum.py --quick    # dense 4 x 256, 4 examples: a smoke run

What the exact path must do per example at least: back-propagate the 1024 basis vectors
through 20 layers (20 float64 GEMMs 1024 x 1024 x 1024; the forward pass of one example is
negligible) and one ``np.linalg.svd(compute_uv=False)`` of a 1024 x 1024 matrix. The
bound is those numpy calls alone, timed in the same process on the same sizes: 16 x (20
GEMMs + 1 SVD). The ratio ``initcli / bound`` is the overhead of everything else (the
derivative products, basis set-up, reshapes, the theory, the statistics).

Also the Lanczos path on the same network (100 steps x 2 probes per example) for scale.
Prints a Markdown table and writes bench/results/spectrum.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `initcli` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from initcli.experiment import dense_stack_spec
from initcli.spectrum import run_spectrum


def _best(fn: Any, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def numpy_bound(depth: int, width: int, examples: int, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((width, width))
    b = rng.standard_normal((width, width))
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    gemm = _best(lambda: np.matmul(a, b, out=out), max(3, rounds))
    svd = _best(lambda: np.linalg.svd(a, compute_uv=False), max(2, rounds))
    return {
        "gemm_seconds": gemm,
        "svd_seconds": svd,
        "bound_seconds": examples * (depth * gemm + svd),
    }


def measure(depth: int, width: int, examples: int, rounds: int) -> dict[str, Any]:
    spec = dense_stack_spec(depth, width, "tanh", examples)
    bound = numpy_bound(depth, width, examples, rounds)
    exact = _best(lambda: run_spectrum(spec, init="orthogonal", examples=examples), rounds)
    import initcli.spectrum as spectrum_module

    limit = spectrum_module.EXACT_MAX_DIM
    spectrum_module.EXACT_MAX_DIM = 0  # force the Lanczos path on the same network
    try:
        lanczos = _best(lambda: run_spectrum(spec, init="orthogonal", examples=examples), 1)
    finally:
        spectrum_module.EXACT_MAX_DIM = limit
    return {
        "case": f"dense {depth} x {width}, tanh, orthogonal, {examples} examples",
        **bound,
        "exact_seconds": exact,
        "ratio_to_bound": exact / bound["bound_seconds"],
        "lanczos_seconds": lanczos,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 x 256, 4 examples, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        result = measure(4, 256, 4, 1)
    else:
        result = measure(20, 1024, 16, 2)
    table = [
        "| case | numpy bound (16 x (20 GEMM + SVD)) | initcli exact | ratio | Lanczos |",
        "|---|---|---|---|---|",
        f"| {result['case']} | {result['bound_seconds']:.2f} s (GEMM "
        f"{1e3 * result['gemm_seconds']:.1f} ms, SVD {1e3 * result['svd_seconds']:.0f} ms) "
        f"| {result['exact_seconds']:.2f} s | {result['ratio_to_bound']:.2f} "
        f"| {result['lanczos_seconds']:.2f} s |",
    ]
    print("\n".join(table))
    target = Path(__file__).resolve().parent / "results"
    target.mkdir(exist_ok=True)
    (target / "spectrum.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
