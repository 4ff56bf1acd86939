"""Pennington, Schoenholz & Ganguli 2017 (figs. 1-2, qualitatively) and Saxe et al. 2014 with
``initcli spectrum``'s library: the singular values of the input-output Jacobian at step 0.

    python scripts/reproduce_spectrum.py            # depths 10, 50, 200; width 128; 8 examples
    python scripts/reproduce_spectrum.py --quick    # depths 10, 50; width 64; 4 examples

Prints a Markdown table (measured, with theory) and writes docs/figures/spectrum_pennington2017.png.

Networks (width N, depth L, input N):
- tanh at the critical point with q* = 1/64 (sigma_w^2 = 1.03056, sigma_b^2 = 4.65e-6, so
  chi_1 = 1 at every layer): a first layer scaling the unit-variance input to q* (gain
  1/8), L - 2 critical tanh layers, a linear readout of gain 8 (so the Jacobian's scale is
  that of the critical layers), with orthogonal weights or Gaussian weights of the same
  variance;
- relu with He scaling (sigma_w^2 = 2): orthogonal or Gaussian;
- linear with orthogonal weights (Saxe et al. 2014): every singular value is exactly 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from initcli.network_spec import LayerSpec, Location, NetworkSpec  # noqa: E402
from initcli.spectrum import SpectrumResult, run_spectrum  # noqa: E402

WHERE = Location("<reproduce_spectrum>")
SIGMA_W2, SIGMA_B = 1.0305575, 0.0021566950  # tanh, q* = 1/64 (initcli.theory)


def _gaussian(scale: float) -> str:
    return f"variance_scaling(scale={scale:.8g}, mode=fan_in, distribution=normal)"


def _orthogonal(scale: float) -> str:
    return f"orthogonal(gain={scale**0.5:.8g})"


def tanh_critical(depth: int, width: int, weights: str) -> NetworkSpec:
    law = _orthogonal if weights == "orthogonal" else _gaussian
    layers = [LayerSpec("dense", "in", WHERE, units=width, activation="tanh", init=law(1 / 64))]
    layers += [
        LayerSpec("dense", f"d{i}", WHERE, units=width, activation="tanh") for i in range(2, depth)
    ]
    layers.append(LayerSpec("dense", "out", WHERE, units=width, init=law(64.0), bias=False))
    return NetworkSpec(
        name=f"tanh_critical_{weights}_L{depth}",
        path="<reproduce_spectrum>",
        input_shape=(width,),
        input_distribution="normal",
        batch=1,
        init=law(SIGMA_W2),
        bias_init=f"random_normal(std={SIGMA_B})",
        layers=tuple(layers),
    )


def stack(depth: int, width: int, activation: str, init: str) -> NetworkSpec:
    layers = tuple(
        LayerSpec("dense", f"d{i}", WHERE, units=width, activation=activation)
        for i in range(1, depth + 1)
    )
    return NetworkSpec(
        name=f"{activation}_L{depth}",
        path="<reproduce_spectrum>",
        input_shape=(width,),
        input_distribution="normal",
        batch=1,
        init=init,
        bias_init="zeros",
        layers=layers,
    )


def cases(depth: int, width: int) -> list[tuple[str, NetworkSpec]]:
    return [
        ("tanh, orthogonal, critical", tanh_critical(depth, width, "orthogonal")),
        ("tanh, Gaussian, critical", tanh_critical(depth, width, "gaussian")),
        ("relu, orthogonal, He", stack(depth, width, "relu", _orthogonal(2.0))),
        ("relu, Gaussian, He", stack(depth, width, "relu", _gaussian(2.0))),
        ("linear, orthogonal (Saxe)", stack(depth, width, "linear", "orthogonal")),
    ]


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    depths, width, examples = ((10, 50), 64, 4) if args.quick else ((10, 50, 200), 128, 8)
    print(
        "| network | L | mean s² (theory) | var s² (theory) | max/min (median) | "
        "5%-95% of s | share in [0.5, 2] |"
    )
    print("|---|---|---|---|---|---|---|")
    deepest: list[tuple[str, SpectrumResult]] = []
    for depth in depths:
        for label, spec in cases(depth, width):
            result = run_spectrum(spec, seed=0, examples=examples)
            print(
                f"| {label} | {depth} | {fmt(result.mean_sq_singular)} "
                f"({fmt(result.theory.mean_sq_singular)}) | {fmt(result.var_sq_singular)} "
                f"({fmt(result.theory.var_sq_singular)}) | {fmt(result.condition)} | "
                f"{fmt(result.quantiles['p5'])}-{fmt(result.quantiles['p95'])} | "
                f"{100 * result.share_in_band:.1f}% |",
                flush=True,
            )
            if depth == depths[-1]:
                deepest.append((label, result))
    import dataclasses

    from initcli.outputs import save_figure
    from initcli.spectrum_report import _pyplot, spectrum_figure

    labelled = [dataclasses.replace(r, init=label) for label, r in deepest[:4]]
    figure = spectrum_figure(
        labelled,
        f"Jacobian singular values at depth {depths[-1]}, width {width}, {examples} examples "
        "(Pennington et al. 2017, figs. 1-2)",
    )
    target = ROOT / "docs" / "figures" / "spectrum_pennington2017.png"
    save_figure(target, figure)
    _pyplot().close(figure)
    saxe = deepest[4][1]
    print(f"\nSaxe: max |s - 1| at depth {depths[-1]} = {abs(saxe.values - 1).max():.2e}")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
