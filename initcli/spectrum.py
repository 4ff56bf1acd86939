"""``initcli spectrum``: the singular values of the input-output Jacobian at step 0.

spec -> network -> sampled weights (float64) and K input examples -> per example the
Jacobian ``d output / d input`` (:mod:`initcli.jacobian`) and its singular values, exactly
or by stochastic Lanczos quadrature -> pooled statistics beside the free-probability
prediction (:mod:`initcli.free_probability`) -> :class:`SpectrumResult`, of which the
table, the JSON and the plot are views.

Randomness: one generator seeded ``seed`` draws every layer's weight then bias, then the K
examples (the order of ``initcli run``, so the weights are those of ``run --seed N --dtype
float64``), then the Lanczos probes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initcli.errors import EXIT_BAD_DATA, EXIT_BAD_USAGE, InitcliError
from initcli.free_probability import SpectrumTheory, predict_spectrum
from initcli.jacobian import (
    check_supported,
    exact_bytes,
    exact_singular_values,
    lanczos_bytes,
    lanczos_quadrature,
    linearize_batch,
)
from initcli.layers.weighted import WeightedLayer
from initcli.network import Network, build_network, parameter_bytes
from initcli.network_spec import NetworkSpec
from initcli.propagate import sample_input, sample_parameters

DEFAULT_EXAMPLES = 16
# Exact SVD up to this many singular values per example (LAPACK on 2048 x 2048 takes about
# 2 s here); beyond, or when the Jacobian would not fit in memory, the Lanczos path.
EXACT_MAX_DIM = 2048
LANCZOS_STEPS = 100
LANCZOS_PROBES = 2  # per example
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
ISOMETRY_BAND = (0.5, 2.0)
WELL_CONDITIONED_SHARE = 0.9
MEMORY_HEADROOM = 0.8


@dataclass
class SpectrumResult:
    config: str
    name: str
    init: str
    bias_init: str
    seed: int
    examples: int
    method: dict[str, Any]
    in_dim: int
    out_dim: int
    mean_sq_singular: float
    var_sq_singular: float
    max_singular: float
    min_singular: float
    condition: float
    quantiles: dict[str, float]
    share_in_band: float
    per_layer: list[dict[str, Any]]
    theory: SpectrumTheory
    verdict: str
    message: str
    notes: list[str] = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))  # s, pooled
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))  # their weights (sum 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "init": self.init,
            "bias_init": self.bias_init,
            "seed": self.seed,
            "examples": self.examples,
            "input_dim": self.in_dim,
            "output_dim": self.out_dim,
            "method": self.method,
            "mean_sq_singular": self.mean_sq_singular,
            "var_sq_singular": self.var_sq_singular,
            "max_singular": self.max_singular,
            "min_singular": self.min_singular,
            "condition": self.condition,
            "quantiles": self.quantiles,
            "share_within_0.5_2": self.share_in_band,
            "per_layer": self.per_layer,
            "theory_mean_sq_singular": self.theory.mean_sq_singular,
            "theory_var_sq_singular": self.theory.var_sq_singular,
            "theory_density": self.theory.density,
            "verdict": self.verdict,
            "message": self.message,
            "notes": self.notes,
        }


def _memory_available() -> int | None:
    # The same limit `run` plans with (INITCLI_MEMORY_LIMIT, else MemAvailable).
    from initcli.experiment import _memory_limit_from_environment, available_memory

    return _memory_limit_from_environment() or available_memory()


def _format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    raise AssertionError("unreachable")


def network_in_dim(network: Network) -> int:
    return math.prod(network.input_shape)


def network_out_dim(network: Network) -> int:
    return math.prod(network.output_shape)


def _widest(network: Network) -> int:
    return max(
        [math.prod(network.input_shape)] + [math.prod(la.out_shape) for la in network.layers]
    )


def plan_method(network: Network, available: int | None, examples: int = 1) -> dict[str, Any]:
    """Exact or Lanczos, from shapes alone, before anything is allocated; refuses (exit 1)
    when not even the Lanczos path fits for one example, naming the estimates. ``group``:
    how many examples go through the network together (the Lanczos path reads each
    weight once per step for the whole group)."""
    in_dim, out_dim = math.prod(network.input_shape), math.prod(network.output_shape)
    r = min(in_dim, out_dim)
    widest = _widest(network)
    fixed = parameter_bytes(network, 8)
    per_example = 8 * 3 * sum(math.prod(la.out_shape) for la in network.layers)  # z, phi', phi
    fixed += per_example
    exact = fixed + exact_bytes(in_dim, out_dim, widest)
    steps = min(LANCZOS_STEPS, r)
    lanczos = fixed + lanczos_bytes(in_dim, out_dim, widest, steps, LANCZOS_PROBES)
    budget = None if available is None else MEMORY_HEADROOM * available
    fits_exact = budget is None or exact <= budget
    if r <= EXACT_MAX_DIM and fits_exact:
        spare = None if budget is None else budget - exact
        group = examples if spare is None else max(1, min(examples, 1 + int(spare // per_example)))
        return {"kind": "exact", "estimated_bytes": exact, "group": group}
    if budget is not None and lanczos > budget:
        raise InitcliError(
            f"the spectrum needs about {_format_bytes(lanczos)} even on the Lanczos path "
            f"({steps} vectors of {r} values per probe, weights {_format_bytes(fixed)}) but "
            f"only {_format_bytes(available or 0)} is available (the exact Jacobian, "
            f"{out_dim} x {in_dim}, would need {_format_bytes(exact)}); use a smaller input "
            "or fewer or narrower layers",
            EXIT_BAD_DATA,
        )
    why = (
        f"{r} singular values per example is above the exact limit {EXACT_MAX_DIM}"
        if r > EXACT_MAX_DIM
        else f"the exact {out_dim} x {in_dim} Jacobian needs {_format_bytes(exact)}, more than "
        f"the {_format_bytes(budget or 0)} available"
    )
    one = lanczos - fixed + per_example  # what each further example of a group adds
    spare = None if budget is None else budget - lanczos
    group = examples if spare is None else max(1, min(examples, 1 + int(spare // one)))
    return {
        "kind": "lanczos",
        "steps": steps,
        "probes_per_example": LANCZOS_PROBES,
        "estimated_bytes": lanczos + (group - 1) * one,
        "group": group,
        "why": why,
    }


def estimate_seconds(network: Network, method: dict[str, Any], examples: int) -> float:
    """A deliberately pessimistic wall time, with ``initcli run``'s rates (initcli.options)
    halved for float64: per example, the exact path pushes the smaller side's basis
    through every layer (2 FLOPs a MAC at batch r; a conv's transpose also forms the
    dropped weight gradient, hence x 2 for convs) and factorises the Jacobian (gesdd, values
    only, ~4 m n^2 FLOPs); the Lanczos path applies J and J^T once per step and probe, and
    re-orthogonalises against the basis so far (two Gram-Schmidt passes)."""
    from initcli.network import macs
    from initcli.options import FLOP_RATE, LAYER_OVERHEAD

    in_dim, out_dim = math.prod(network.input_shape), math.prod(network.output_shape)
    r = min(in_dim, out_dim)
    one_vector = sum(  # FLOPs of J v or J^T u for one vector
        2 * macs(layer, 1) * (2 if layer.type.startswith("conv") else 1) for layer in network.layers
    )
    if method["kind"] == "exact":
        work = r * one_vector + 4 * max(in_dim, out_dim) * r * r
    else:
        steps, probes = method["steps"], method["probes_per_example"]
        work = probes * (steps * 2 * one_vector + 8 * steps * steps * r)
    layer_calls = len(network.layers) * (2 if method["kind"] == "exact" else 2 * method["steps"])
    return examples * (work / (FLOP_RATE / 2) + layer_calls * LAYER_OVERHEAD)


def run_spectrum(
    spec: NetworkSpec,
    init: str | None = None,
    bias_init: str | None = None,
    seed: int = 0,
    examples: int = DEFAULT_EXAMPLES,
    allow_long: bool = False,
) -> SpectrumResult:
    """The Jacobian's singular values at ``examples`` random inputs; refuses (exit 2) a job
    estimated over initcli.options.MAX_SECONDS unless ``allow_long``."""
    from initcli.options import check_limits

    if examples < 1:
        raise InitcliError(f"--examples {examples} must be at least 1", EXIT_BAD_USAGE)
    network = build_network(spec, init=init, bias_init=bias_init)
    check_supported(network)
    if not any(isinstance(layer, WeightedLayer) for layer in network.layers):
        raise InitcliError(
            f"{spec.path}: the network has no dense or conv layer, so its Jacobian is a "
            "reshape; add one under layers:",
            EXIT_BAD_DATA,
        )
    method = plan_method(network, _memory_available(), examples)
    check_limits(
        len(network.layers),
        1,
        estimate_seconds(network, method, examples),
        allow_long,
        "use fewer --examples",
    )
    rng = np.random.default_rng(seed)
    params = sample_parameters(network, rng, np.float64)
    inputs = sample_input(network.input_shape, examples, spec.input_distribution, rng, np.float64)
    notes: list[str] = list(network.notes)
    per_values: list[np.ndarray] = []
    per_weights: list[np.ndarray] = []
    conditions: list[float] = []
    layer_means: list[list[float]] = []
    moment_estimates: list[tuple[float, float]] = []  # per probe: (E s^2, E s^4)
    max_weight = 0.0
    group = method.pop("group")
    probes = method.get("probes_per_example", 0)
    with np.errstate(all="ignore"):
        for start in range(0, examples, group):
            batch = linearize_batch(network, params, inputs[start : start + group])
            layer_means += [[la.mean_sq_singular for la in ls] for ls in batch.layers]
            if method["kind"] == "exact":
                for k in range(batch.examples):
                    s = exact_singular_values(batch.example(k))
                    per_values.append(s)
                    per_weights.append(np.full(s.size, 1.0 / (s.size * examples)))
                    conditions.append(float(s.max() / s.min()) if s.min() > 0 else math.inf)
                continue
            stacked = batch.stacked()
            rule = lanczos_quadrature(stacked, method["steps"], probes * batch.examples, rng)
            per_values.append(np.sqrt(rule.nodes.ravel()))
            per_weights.append(rule.weights.ravel() / (probes * examples))
            for nodes in rule.nodes.reshape(batch.examples, -1):
                low, high = float(np.nanmin(nodes)), float(np.nanmax(nodes))
                conditions.append(math.sqrt(high / low) if low > 0 else math.inf)
            moment_estimates += list(zip(rule.moment(1), rule.moment(2), strict=True))
            max_weight = max(max_weight, float(rule.weights.max()))
    values = np.concatenate(per_values)
    weights = np.concatenate(per_weights)
    finite = bool(np.all(np.isfinite(values)))
    theory = predict_spectrum(network)
    notes += theory.notes
    if not finite:
        notes.append("the Jacobian overflowed to inf/NaN: the weights explode the signal")
    sq = values**2
    mean_sq = float(np.sum(weights * sq)) if finite else math.nan
    # E[s^4] - E[s^2]^2, clamped at 0: an exact isometry leaves -1e-16 of rounding
    var_sq = max(0.0, float(np.sum(weights * sq**2) - mean_sq**2)) if finite else math.nan
    if method["kind"] == "lanczos" and finite:
        first = np.array([m for m, _ in moment_estimates])
        second = np.array([m for _, m in moment_estimates])
        count = len(first)
        method["accuracy"] = {
            "mean_sq_singular_stderr": float(first.std(ddof=1) / math.sqrt(count))
            if count > 1
            else None,
            "mean_fourth_power_stderr": float(second.std(ddof=1) / math.sqrt(count))
            if count > 1
            else None,
            "quantile_cdf_error_per_probe": max_weight,
            # Lanczos works on s^2 (A = J^T J): errors ~ eps * max s^2 hide smaller s
            "resolution": math.sqrt(
                np.finfo(np.float64).eps * min(network_in_dim(network), network_out_dim(network))
            )
            * float(np.max(values)),
            "max_singular": "lower bound (largest Ritz value)",
            "min_singular": "upper bound (smallest Ritz value)",
            "condition": "lower bound (median over examples of Ritz max/min)",
        }
        notes.append(
            f"Lanczos path ({method['why']}): {method['steps']} steps x "
            f"{method['probes_per_example']} probes per example; mean/variance of s^2 are "
            "unbiased probe estimates (stderr in method.accuracy), max/min singular values "
            "are lower/upper bounds, quantiles' CDF within "
            f"{max_weight:.2g} per probe (Chebyshev-Markov-Stieltjes)"
        )
    if finite and method["kind"] == "exact":
        floor = float(np.max(values)) * np.finfo(np.float64).eps * max(values.size // examples, 1)
        below = float(np.mean(values < floor))
        if below > 0:
            notes.append(
                f"{below:.1%} of the singular values are below max x eps x r = {floor:.2g}, "
                "float64's rounding floor: they are resolved only as 'numerically zero'"
            )
    quantiles = _weighted_quantiles(values, weights, method["kind"] == "exact")
    band = (values >= ISOMETRY_BAND[0]) & (values <= ISOMETRY_BAND[1])
    share = float(np.sum(weights[band])) if finite else 0.0
    condition = float(np.median(conditions)) if finite else math.nan
    per_layer = _per_layer(network, np.array(layer_means), theory)
    verdict, message = _verdict(share, condition, mean_sq, quantiles, network, finite)
    return SpectrumResult(
        config=spec.path,
        name=spec.name,
        init=init or spec.init,
        bias_init=bias_init or spec.bias_init,
        seed=seed,
        examples=examples,
        method=method,
        in_dim=math.prod(network.input_shape),
        out_dim=math.prod(network.output_shape),
        mean_sq_singular=mean_sq,
        var_sq_singular=var_sq,
        max_singular=float(np.max(values)) if finite else math.nan,
        min_singular=float(np.min(values)) if finite else math.nan,
        condition=condition,
        quantiles=quantiles,
        share_in_band=share,
        per_layer=per_layer,
        theory=theory,
        verdict=verdict,
        message=message,
        notes=notes,
        values=values,
        weights=weights,
    )


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, exact: bool) -> dict[str, float]:
    keys = [f"p{round(100 * level)}" for level in QUANTILES]
    if not np.all(np.isfinite(values)):
        return dict.fromkeys(keys, math.nan)
    if exact:
        return dict(zip(keys, map(float, np.quantile(values, QUANTILES)), strict=True))
    order = np.argsort(values)
    cdf = np.cumsum(weights[order])
    cdf /= cdf[-1]
    picks = np.searchsorted(cdf, QUANTILES, side="left")
    chosen = values[order][np.minimum(picks, len(values) - 1)]
    return dict(zip(keys, map(float, chosen), strict=True))


def _per_layer(
    network: Network, measured: np.ndarray, theory: SpectrumTheory
) -> list[dict[str, Any]]:
    by_position = {item.position: item for item in theory.layers}
    rows = []
    weighted = [(i, la) for i, la in enumerate(network.layers) if isinstance(la, WeightedLayer)]
    for column, (position, layer) in enumerate(weighted):
        item = by_position.get(position)
        rows.append(
            {
                "index": column + 1,
                "name": layer.name,
                "type": layer.type,
                "activation": layer.activation.spec if layer.activation else None,
                "mean_sq_singular": float(np.mean(measured[:, column])),
                "theory_mean_sq_singular": item.mean_sq_singular if item else None,
                "theory_q": item.q if item else None,
            }
        )
    return rows


def _verdict(
    share: float,
    condition: float,
    mean_sq: float,
    quantiles: dict[str, float],
    network: Network,
    finite: bool,
) -> tuple[str, str]:
    low, high = ISOMETRY_BAND
    if not finite:
        return "exploded", "exploded: the Jacobian overflowed; scale the weights down"
    if share >= WELL_CONDITIONED_SHARE:
        return (
            "well-conditioned",
            f"well-conditioned: {share:.0%} of singular values within [{low:g}, {high:g}]"
            f" (max/min {_power_of_ten(condition)})",
        )
    hints = []
    if mean_sq < 1e-2 or mean_sq > 1e2:
        hints.append(
            f"the mean squared singular value is {mean_sq:.3g} (the product of the layers' "
            "chi_1), so rescale the weights first (initcli recommend)"
        )
    relu_like = any(
        layer.activation is not None and layer.activation.can_die
        for layer in network.layers
        if isinstance(layer, WeightedLayer)
    )
    if relu_like:
        hints.append(
            "ReLU-like units are never isometric (Pennington et al. 2017): try tanh with "
            "orthogonal weights near the critical point"
        )
    elif all(
        layer.init is not None and "orthogonal" in layer.init.name
        for layer in network.layers
        if isinstance(layer, WeightedLayer)
    ):
        hints.append(
            "the weights are already orthogonal: move to the critical point (per-layer chi "
            "near 1, small bias variance; initcli phase)"
        )
    else:
        hints.append("try orthogonal weights near the critical point")
    return (
        "ill-conditioned",
        f"ill-conditioned: max/min {_power_of_ten(condition)}, {share:.0%} of singular values "
        f"within [{low:g}, {high:g}] (median {quantiles['p50']:.3g}); " + "; ".join(hints),
    )


def _power_of_ten(value: float) -> str:
    if not math.isfinite(value):
        return "inf (a zero singular value)"
    if value < 100:
        return f"{value:.3g}"
    return f"10^{math.log10(value):.1f}"
