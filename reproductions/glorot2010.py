"""Glorot & Bengio 2010: the 5 x 1000 tanh net, standard and normalized init."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from initcli.experiment import RunOptions, run_experiment
from initcli.network import build_network
from initcli.network_spec import NetworkSpec
from initcli.network_theory import predict_network
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

GLOROT = "Glorot & Bengio 2010"
GLOROT_INITS = {"torch_default": "standard", "glorot_uniform": "normalized"}


@dataclass
class Glorot2010:
    """The 5 x 1000 tanh net under the "standard" and "normalized" initializations."""

    name: str
    batch: int
    runs: dict[str, RunResult]
    act_theory: dict[str, list[float]]  # init -> predicted Var phi(z) per layer
    preact_ratios: list[tuple[float, float]]  # torch_default: (measured, theory) l+1 over l
    grad_ratios: list[tuple[float, float]]  # torch_default: (measured, theory) l over l+1
    spans: dict[str, dict[str, tuple[float, float]]]  # init -> stat -> (measured, theory)
    hidden: int  # the tanh layers 1..hidden (the output layer is linear)
    series: list[Series]
    claims: list[Claim]


def _span(values: Sequence[float]) -> float:
    return max(values) / min(values)


def reproduce_glorot2010(spec: NetworkSpec, batch: int | None = None, seed: int = 0) -> Glorot2010:
    """Glorot & Bengio 2010, section 4.2 and figures 6-8, on ``configs/glorot2010.yaml``.

    The standard init U(-1/sqrt(n), 1/sqrt(n)) (``torch_default``) has n Var(W) = 1/3, so
    q_{l+1} = E[tanh(sqrt(q_l) z)^2] / 3 <= q_l / 3 (tanh^2(x) <= x^2), tending to q_l / 3 as
    q_l -> 0; the back-propagated gradient shrinks by n_out Var(W) E[tanh'^2] ~ 1/3 per layer
    towards the input. Their eq. 14: Var(dL/dW_l) ~ Var(a_{l-1}) Var(g_l), one factor 3^-(l-1),
    the other 3^-(L-l), so the product is about the same in every layer.
    """
    size = len([layer for layer in spec.layers if layer.type != "flatten"])
    runs, act_theory = {}, {}
    spans: dict[str, dict[str, tuple[float, float]]] = {}
    series: list[Series] = []
    claims: list[Claim] = []
    preact_ratios: list[tuple[float, float]] = []
    grad_ratios: list[tuple[float, float]] = []
    layers = list(range(1, size + 1))
    hidden = size - 1  # tanh layers; the last is the linear output
    for init, short in GLOROT_INITS.items():
        result = run_experiment(spec, RunOptions(seed=seed, init=init, batch=batch))
        runs[init] = result
        network = build_network(spec, init=init)
        predictions = predict_network(network)
        model = noise_model(network, result.batch, predictions=predictions)
        act = [s.act_var for s in result.layers]
        act_th = [p.act_var for p in predictions]
        act_theory[init] = act_th
        pre = [s.preact_var for s in result.layers]
        pre_th = [float(s.theory_preact_var or math.nan) for s in result.layers]
        grad = [float(s.grad_var or math.nan) for s in result.layers]
        grad_th = [float(s.theory_grad_var or math.nan) for s in result.layers]
        wgrad = [float(s.weight_grad_var or math.nan) for s in result.layers]
        wgrad_th = [float(s.theory_weight_grad_var or math.nan) for s in result.layers]
        for label, rows, measured, theory in (
            ("Var phi(z)", model.act, act, act_th),
            ("Var dL/dz", model.backward, grad, grad_th),
            ("Var dL/dW", model.weight_grad, wgrad, wgrad_th),
        ):
            sds, jensens = rows.layer_sds(), rows.layer_jensens()
            series.append(Series(f"{init}: {label}", layers, measured, theory, band(sds, jensens)))
            if label != "Var dL/dW":  # the output layer's is checked only through ratios below
                claims.append(
                    worst_layer_claim(
                        GLOROT,
                        f"{short} init ({init}): every layer's {label} matches theory",
                        measured,
                        theory,
                        sds,
                        jensens,
                    )
                )
        top = slice(0, hidden)
        spans[init] = {
            "Var phi(z)": (_span(act[top]), _span(act_th[top])),
            "Var dL/dz": (_span(grad[top]), _span(grad_th[top])),
            "Var dL/dW": (_span(wgrad[top]), _span(wgrad_th[top])),
        }
        if init != "torch_default":
            continue
        for k in range(size - 1):  # Var z shrinks about 3x per layer
            w = difference_weights(size, k + 1, k)
            ratio = (pre[k + 1] / pre[k], pre_th[k + 1] / pre_th[k])
            preact_ratios.append(ratio)
            claims.append(
                log_claim(
                    GLOROT,
                    f"standard init: Var z of layer {k + 2} / layer {k + 1} (theory <= 1/3)",
                    *ratio,
                    model.forward.sd(w),
                    model.forward.jensen(w),
                    "noise model",
                )
            )
        claims.append(
            Claim(
                GLOROT,
                "standard init: theory's Var z ratio never exceeds 1/3",
                max(t for _, t in preact_ratios),
                1 / 3,
                0.0,
                1 / 3,
                "E[tanh(x)^2] <= E[x^2] and n Var(W) = 1/3",
            )
        )
        for k in range(hidden - 1):  # Var dL/dz shrinks about 3x per layer towards the input
            w = difference_weights(size, k, k + 1)
            ratio = (grad[k] / grad[k + 1], grad_th[k] / grad_th[k + 1])
            grad_ratios.append(ratio)
            claims.append(
                log_claim(
                    GLOROT,
                    f"standard init: Var dL/dz of layer {k + 1} / layer {k + 2}",
                    *ratio,
                    model.backward.sd(w),
                    model.backward.jensen(w),
                    "noise model",
                )
            )
        for k in range(1, hidden):  # ... while Var dL/dW stays flat
            w = difference_weights(size, k, 0)
            claims.append(
                log_claim(
                    GLOROT,
                    f"standard init: Var dL/dW of layer {k + 1} / layer 1 (flat)",
                    wgrad[k] / wgrad[0],
                    wgrad_th[k] / wgrad_th[0],
                    model.weight_grad.sd(w),
                    model.weight_grad.jensen(w),
                    "noise model",
                )
            )
    return Glorot2010(
        spec.name,
        runs["torch_default"].batch,
        runs,
        act_theory,
        preact_ratios,
        grad_ratios,
        spans,
        hidden,
        series,
        claims,
    )
