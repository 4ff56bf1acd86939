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


def numpy_bound(spec: Any, depth: int, width: int, examples: int, rounds: int) -> dict[str, float]:
    """numpy's time for the work itself: ``depth`` float64 GEMMs of width^3 and one values-only
    SVD per example. LAPACK's divide-and-conquer SVD deflates more on some spectra than on
    others (a Gaussian 1024^2 matrix takes ~3x longer here than this network's Jacobian),
    so the SVD is timed on a real Jacobian of the benchmarked network, and on a Gaussian
    matrix for reference."""
    from initcli.jacobian import jacobian_matrix, linearize
    from initcli.network import build_network
    from initcli.propagate import sample_input, sample_parameters

    rng = np.random.default_rng(0)
    a = rng.standard_normal((width, width))
    b = rng.standard_normal((width, width))
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    gemm = _best(lambda: np.matmul(a, b, out=out), max(3, rounds))
    gaussian_svd = _best(lambda: np.linalg.svd(a, compute_uv=False), max(2, rounds))
    network = build_network(spec, init="orthogonal")
    params = sample_parameters(network, rng, np.float64)
    x = sample_input(network.input_shape, 1, "normal", rng, np.float64)[0]
    jacobian = jacobian_matrix(linearize(network, params, x))
    svd = _best(lambda: np.linalg.svd(jacobian, compute_uv=False), max(2, rounds))
    return {
        "gemm_seconds": gemm,
        "svd_seconds": svd,
        "gaussian_svd_seconds": gaussian_svd,
        "bound_seconds": examples * (depth * gemm + svd),
    }


def measure(
    depth: int, width: int, examples: int, rounds: int, lanczos: bool = True
) -> dict[str, Any]:
    spec = dense_stack_spec(depth, width, "tanh", examples)
    bound = numpy_bound(spec, depth, width, examples, rounds)
    exact = _best(lambda: run_spectrum(spec, init="orthogonal", examples=examples), rounds)
    import initcli.spectrum as spectrum_module

    limit = spectrum_module.EXACT_MAX_DIM
    spectrum_module.EXACT_MAX_DIM = 0  # force the Lanczos path on the same network
    try:
        lanczos_seconds = (
            _best(lambda: run_spectrum(spec, init="orthogonal", examples=examples), 1)
            if lanczos
            else float("nan")
        )
    finally:
        spectrum_module.EXACT_MAX_DIM = limit
    return {
        "case": f"dense {depth} x {width}, tanh, orthogonal, {examples} examples",
        **bound,
        "exact_seconds": exact,
        "ratio_to_bound": exact / bound["bound_seconds"],
        "lanczos_seconds": lanczos_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 x 256, 4 examples, 1 round")
    parser.add_argument("--no-lanczos", action="store_true", help="skip the Lanczos run")
    args = parser.parse_args(argv)
    if args.quick:
        result = measure(4, 256, 4, 1)
    else:
        result = measure(20, 1024, 16, 2, lanczos=not args.no_lanczos)
    table = [
        "| case | numpy bound (16 x (20 GEMM + SVD)) | initcli exact | ratio | Lanczos |",
        "|---|---|---|---|---|",
        f"| {result['case']} | {result['bound_seconds']:.2f} s (GEMM "
        f"{1e3 * result['gemm_seconds']:.1f} ms, SVD {1e3 * result['svd_seconds']:.0f} ms; "
        f"Gaussian SVD {1e3 * result['gaussian_svd_seconds']:.0f} ms) "
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
