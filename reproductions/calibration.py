"""The noise model checked against the spread over many seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from initcli.experiment import RunOptions, dense_stack_spec, run_experiment
from initcli.network import build_network
from reproductions.noise import noise_model
from reproductions.schoenholz2017 import tanh_bias, tanh_init


@dataclass(frozen=True)
class CalibrationRow:
    case: str
    statistic: str
    model_sd: float  # the noise model's prediction
    observed_sd: float  # sample sd over the seeds
    interval: tuple[float, float]  # 95% chi-square interval of the true sd given observed


CALIBRATION_CASES: tuple[tuple[str, str, str, str | None, int, int, int], ...] = (
    # (label, activation, init, bias init, depth, width, batch)
    ("relu, He", "relu", "he_normal", None, 30, 128, 32),
    ("tanh, standard", "tanh", "torch_default", None, 6, 256, 64),
    ("tanh, sigma_w^2 = 1.5", "tanh", tanh_init(1.5), tanh_bias(0.05), 30, 128, 32),
    ("tanh, sigma_w^2 = 3", "tanh", tanh_init(3.0), tanh_bias(0.05), 30, 128, 32),
    ("selu, LeCun", "selu", "lecun_normal", None, 30, 128, 32),
)


def calibrate_noise_model(seeds: int = 30) -> list[CalibrationRow]:
    """The :class:`NoiseModel`'s sd of ln Var z (layers 1, L/2, L) and ln Var dL/dz
    (layers 1, L/2) against the sample sd over ``seeds`` independent runs."""
    from scipy.special import chdtri

    low_q, high_q = chdtri(seeds - 1, 0.975), chdtri(seeds - 1, 0.025)
    rows: list[CalibrationRow] = []
    for label, activation, init, bias, depth, width, batch in CALIBRATION_CASES:
        spec = dense_stack_spec(depth, width, activation, batch, init)
        model = noise_model(build_network(spec, init=init, bias_init=bias), batch)
        runs = [
            run_experiment(spec, RunOptions(seed=s, bias_init=bias, keep_samples=False))
            for s in range(seeds)
        ]
        pre = np.log([[layer.preact_var for layer in run.layers] for run in runs])
        grad = np.log([[float(layer.grad_var or math.nan) for layer in run.layers] for run in runs])
        middle = depth // 2
        checks = [
            (f"ln Var z, layer {k + 1}", pre[:, k], model.forward.layer_sds()[k])
            for k in (0, middle - 1, depth - 1)
        ] + [
            (f"ln Var dL/dz, layer {k + 1}", grad[:, k], model.backward.layer_sds()[k])
            for k in (0, middle - 1)
        ]
        for name, values, predicted in checks:
            observed = float(np.std(values, ddof=1))
            interval = (
                observed * math.sqrt((seeds - 1) / high_q),
                observed * math.sqrt((seeds - 1) / low_q),
            )
            rows.append(CalibrationRow(label, name, predicted, observed, interval))
    return rows
