"""He et al. 2015: relu stacks under Glorot's and He's initializations."""

from __future__ import annotations

import math
from dataclasses import dataclass

from initcli.experiment import RunOptions, dense_stack_spec, run_experiment
from initcli.network import build_network
from initcli.stats import RunResult
from reproductions.common import (
    Claim,
    Series,
    band,
    difference_weights,
    log_claim,
    worst_layer_claim,
)
from reproductions.noise import noise_model

HE = "He et al. 2015"


@dataclass
class He2015:
    """A deep relu stack under Glorot's and He's initializations (He et al. 2015, fig. 1)."""

    depth: int
    width: int
    batch: int
    runs: dict[str, RunResult]
    forward_factor: dict[str, tuple[float, float]]  # init -> (measured, theory) per layer
    backward_factor: dict[str, tuple[float, float]]
    series: list[Series]
    claims: list[Claim]


def reproduce_he2015(depth: int = 30, width: int = 256, batch: int = 256, seed: int = 0) -> He2015:
    """He et al. 2015, section 2.2: with Var(W) = 1 / n (Glorot, square layers) a relu layer
    halves the variance, since E[relu(z)^2] = Var(z) / 2; Var(W) = 2 / n (He) keeps it.

    The per-layer factor is measured end to end, (Var z_L / Var z_1)^(1 / (L - 1)), and
    backward as (Var g_1 / Var g_L)^(1 / (L - 1)); its noise is the :class:`NoiseModel`'s sd
    of ln(Var z_L / Var z_1) divided by L - 1 (5 (L - 1) / n for relu, a neutral walk).
    """
    inits = {"glorot_uniform": "Glorot", "he_normal": "He"}
    spec = dense_stack_spec(depth, width, "relu", batch, "he_normal")
    runs, forward_factor, backward_factor = {}, {}, {}
    series: list[Series] = []
    claims: list[Claim] = []
    ends = difference_weights(depth, depth - 1, 0)
    layers = list(range(1, depth + 1))
    for init, short in inits.items():
        result = run_experiment(spec, RunOptions(seed=seed, init=init, keep_samples=False))
        runs[init] = result
        model = noise_model(build_network(spec, init=init), batch)
        pre = [s.preact_var for s in result.layers]
        pre_theory = [float(s.theory_preact_var or math.nan) for s in result.layers]
        grad = [float(s.grad_var or math.nan) for s in result.layers]
        grad_theory = [float(s.theory_grad_var or math.nan) for s in result.layers]
        per = 1.0 / (depth - 1)
        fwd = ((pre[-1] / pre[0]) ** per, (pre_theory[-1] / pre_theory[0]) ** per)
        bwd = ((grad[0] / grad[-1]) ** per, (grad_theory[0] / grad_theory[-1]) ** per)
        forward_factor[init], backward_factor[init] = fwd, bwd
        verb = "halves" if short == "Glorot" else "keeps"
        claims.append(
            log_claim(
                HE,
                f"{short} init ({init}) {verb} Var z: factor per layer",
                fwd[0],
                fwd[1],
                model.forward.sd(ends) * per,
                model.forward.jensen(ends) * per,
                f"noise model, width {width}, {depth} layers",
            )
        )
        claims.append(
            log_claim(
                HE,
                f"{short} init ({init}) {verb} Var dL/dz going back: factor per layer",
                bwd[0],
                bwd[1],
                model.backward.sd(-ends) * per,
                model.backward.jensen(-ends) * per,
                f"noise model, width {width}, {depth} layers",
            )
        )
        for label, rows, measured, theory in (
            ("Var z", model.forward, pre, pre_theory),
            ("Var dL/dz", model.backward, grad, grad_theory),
        ):
            sds, jensens = rows.layer_sds(), rows.layer_jensens()
            claims.append(
                worst_layer_claim(
                    HE,
                    f"{short}: every layer's {label} matches mean-field theory",
                    measured,
                    theory,
                    sds,
                    jensens,
                )
            )
            series.append(Series(f"{init}: {label}", layers, measured, theory, band(sds, jensens)))
    return He2015(depth, width, batch, runs, forward_factor, backward_factor, series, claims)
