"""Per-block statistics of residual networks: the signal-propagation numbers of Brock, De &
Smith (2021, fig. 1) and the per-block verdict (``blocks`` in the JSON).

For a block output ``y`` (batch first; a channel is a dense stream's feature, a
convolution's channel (axis 1), reduced over batch and positions, or a sequence's feature
(the last axis of ``(B, tokens, features)``), reduced over batch and tokens):

- ``avg_channel_sq_mean`` = mean over channels c of (mean over batch and positions of y_c)^2
- ``avg_channel_var``     = mean over channels c of Var(y_c) (population variance)
- ``branch_avg_channel_var``: the same for ``scale * f(x)``, the branch before the add
- ``second_moment`` = E[y^2] over every element = avg_channel_sq_mean + avg_channel_var

All reduced in float64 over chunks of the batch (two passes: channel means, then squared
deviations from them), so a float32 run loses nothing to cancellation.

Verdict (per stage: a run of blocks whose shortcuts are identities; a projection
shortcut starts a new stage): the stream's average channel variance v_1..v_K is fitted
two ways, linear growth v_k = a + b k and exponential growth log v_k = c + d k, by least
squares in log space. Exponential growth (the better fit and a factor above 1.1 per
block) is what a plain un-normalized residual stream does, (1 + scale^2 g) per block;
linear growth is what normalized branches (De & Smith 2020) and NF-ResNets (Brock et al.
2021, rate scale^2) give.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

_CHUNK_ELEMENTS = 1 << 20  # float64 elements converted at once


@dataclass
class BlockStats:
    """One residual block. Field names are the ``--json`` contract; add, never rename."""

    index: int  # 1-based among residual blocks, in network order
    name: str
    scale: float  # alpha: output = shortcut(x) + scale * f(branch_input_scale * x)
    branch_input_scale: float  # 1/beta in NF-ResNets; 1.0 by default
    shortcut: str  # "identity" or the projection layer's name
    out_shape: list[int]
    avg_channel_sq_mean: float
    avg_channel_var: float
    branch_avg_channel_var: float
    second_moment: float  # E[y^2] = avg_channel_sq_mean + avg_channel_var
    branch_second_moment: float  # E[(scale * f)^2]
    grad_var: float | None = None  # Var(dL/d(block output))
    var_ratio: float | None = None  # avg_channel_var over the previous block's
    finite: bool = True
    theory_second_moment: float | None = None  # mean field: E[y^2] = E[s^2] + scale^2 E[f^2]
    theory_branch_second_moment: float | None = None  # scale^2 E[f^2]
    theory_grad_var: float | None = None
    spread: dict[str, list[float]] | None = None  # with --seeds K: [min, max] over the draws


@dataclass
class BlockVerdict:
    """The growth of the stream variance over one stage of blocks."""

    verdict: str  # "linear" | "exponential" | "flat" | "shrinking" | "exploding" | "short"
    first_block: int
    last_block: int
    factor_per_block: float | None  # (v_K / v_1)^(1 / (K - 1))
    increment_per_block: float | None  # b of the linear fit
    total: float | None  # v_K / v_1
    message: str


@dataclass
class ChannelMoments:
    sq_mean: float  # mean over channels of the squared channel mean
    var: float  # mean over channels of the channel variance
    finite: bool

    @property
    def second_moment(self) -> float:
        return self.sq_mean + self.var


def channel_moments(values: np.ndarray, features_last: bool = False) -> ChannelMoments:
    """Per-channel mean and variance, in float64: channels on axis 1 (batch and positions
    reduced), or with ``features_last`` on the last axis (every other axis reduced)."""
    if features_last:
        flat = values.reshape(-1, values.shape[-1], 1)  # tokens join the batch
    else:
        flat = values.reshape(values.shape[0], values.shape[1], -1)
    batch, channels = flat.shape[0], flat.shape[1]
    per_example = flat.shape[1] * flat.shape[2]
    rows = max(1, _CHUNK_ELEMENTS // max(per_example, 1))
    count = batch * flat.shape[2]
    with np.errstate(all="ignore"):
        sums = np.zeros(channels)
        for start in range(0, batch, rows):
            chunk = flat[start : start + rows].astype(np.float64)
            sums += chunk.sum(axis=(0, 2))
        means = sums / count
        squares = np.zeros(channels)
        for start in range(0, batch, rows):
            chunk = flat[start : start + rows].astype(np.float64)
            chunk -= means[None, :, None]
            squares += np.einsum("bcp,bcp->c", chunk, chunk)
        var = squares / count
        sq_mean = float(np.mean(means * means))
        avg_var = float(np.mean(var))
    finite = math.isfinite(sq_mean) and math.isfinite(avg_var)
    return ChannelMoments(sq_mean, avg_var, finite)


def fill_block_ratios(blocks: list[BlockStats]) -> None:
    for previous, current in itertools.pairwise(blocks):
        if previous.avg_channel_var > 0 and math.isfinite(previous.avg_channel_var):
            current.var_ratio = current.avg_channel_var / previous.avg_channel_var


FACTOR_EXPONENTIAL = 1.1  # per block: below this, growth is harmless at any depth we run
FLAT_TOTAL = 1.5  # the whole stage within x1.5 ...
FLAT_INCREMENT = 0.02  # ... and each block adding under 2% of the first block's: flat


def stages(blocks: list[BlockStats]) -> list[list[BlockStats]]:
    """Runs of blocks with identity shortcuts; a projection shortcut starts a new run."""
    runs: list[list[BlockStats]] = []
    for block in blocks:
        if not runs or block.shortcut != "identity":
            runs.append([block])
        else:
            runs[-1].append(block)
    return runs


def judge_blocks(blocks: list[BlockStats]) -> list[BlockVerdict]:
    """One verdict per stage (see the module docstring); [] for a network without blocks."""
    return [_judge(run) for run in stages(blocks)]


def _fit_errors(values: np.ndarray) -> tuple[float, float, float]:
    """(log-space SSE of the linear fit, that of the exponential fit, linear slope b)."""
    k = np.arange(values.size, dtype=np.float64)
    logs = np.log(values)
    slope_log, intercept_log = np.polyfit(k, logs, 1)
    exp_error = float(np.sum((logs - (intercept_log + slope_log * k)) ** 2))
    # Weighted so each point counts by its relative error, as on the log axis.
    slope, intercept = np.polyfit(k, values, 1, w=1.0 / values)
    fitted = intercept + slope * k
    if np.any(fitted <= 0):
        return math.inf, exp_error, float(slope)
    lin_error = float(np.sum((logs - np.log(fitted)) ** 2))
    return lin_error, exp_error, float(slope)


def _judge(run: list[BlockStats]) -> BlockVerdict:
    first, last = run[0].index, run[-1].index
    span = f"blocks {first}-{last}" if last > first else f"block {first}"
    bad = next((b.index for b in run if not b.finite), None)
    if bad is not None:
        return BlockVerdict(
            "exploding",
            first,
            last,
            None,
            None,
            None,
            f"{span}: the stream overflowed to inf/NaN at block {bad}; scale the branches "
            "down (scale: 0.2, or 1/sqrt(blocks)) or add a norm inside them",
        )
    values = np.array([b.avg_channel_var for b in run], dtype=np.float64)
    if len(run) < 3 or np.any(values <= 0):
        return BlockVerdict(
            "short",
            first,
            last,
            None,
            None,
            None,
            f"{span}: {len(run)} block{'s' if len(run) != 1 else ''} in this stage, too few "
            "to tell linear from exponential growth",
        )
    total = float(values[-1] / values[0])
    factor = total ** (1.0 / (len(run) - 1))
    lin_error, exp_error, slope = _fit_errors(values)
    shown = f"x{factor:.3g} per block, x{total:.3g} over {len(run)} blocks"
    if total < 1 / FLAT_TOTAL:
        end = run[-1]
        offset = end.avg_channel_sq_mean / end.second_moment if end.second_moment > 0 else 0.0
        why = (
            # a norm after each add (post-LN) keeps E[y^2] while the channel means grow: the
            # examples and positions drift towards one shared vector
            f"the channel means grow instead: {100 * offset:.0f}% of E[y^2] at block "
            f"{end.index} is one vector shared by every example and position"
            if offset > 0.5 and end.avg_channel_sq_mean > run[0].avg_channel_sq_mean
            else "the branches remove signal: check the shortcut and the branch scale"
        )
        return BlockVerdict(
            "shrinking",
            first,
            last,
            factor,
            slope,
            total,
            f"{span}: stream variance shrinks ({shown}); {why}",
        )
    increment = float(np.mean(np.diff(values)))
    if total <= FLAT_TOTAL and increment < FLAT_INCREMENT * values[0]:
        return BlockVerdict(
            "flat",
            first,
            last,
            factor,
            slope,
            total,
            f"{span}: stream variance is flat ({shown}): healthy (each branch adds little, "
            "as SkipInit or a small scale)",
        )
    if exp_error < lin_error and factor > FACTOR_EXPONENTIAL:
        depth = len(run)
        return BlockVerdict(
            "exponential",
            first,
            last,
            factor,
            slope,
            total,
            f"{span}: stream variance {shown}: exponential; scale the branch by "
            f"1/sqrt(depth) (scale: {1 / math.sqrt(depth):.2g}) or add a norm inside it",
        )
    relative = slope / values[0]
    return BlockVerdict(
        "linear",
        first,
        last,
        factor,
        slope,
        total,
        f"{span}: stream variance grows linearly, +{slope:.3g} per block "
        f"(+{relative:.3g} of block {first}'s; x{total:.3g} over {len(run)} blocks): healthy",
    )
