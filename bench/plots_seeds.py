"""Issue 15/16 ratios: the cost of plots, and the speed-up of ``--seeds K`` on the cores given.

    python bench/plots_seeds.py            # both
    python bench/plots_seeds.py --plots    # only the plot overhead
    python bench/plots_seeds.py --seeds    # only the seeds efficiency

Plots: wall time of ``initcli run configs/mlp_tanh.yaml`` (fresh processes, the way a user
runs it) with and without ``--no-plots``, best of N interleaved rounds; the target is at most
+0.3 s. Seeds: ``run_seeds`` of a dense 20 x 1024 network, batch 512 (about a second a draw)
for K = 2, 4, 8; efficiency = K * t(1) / (t(K) * min(K, cores)), 1.0 being linear, where
t(1) is one draw on one BLAS thread (each of run_seeds' threads has one).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent


def _wall(args: list[str], repo: Path) -> float:
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(repo)}
    subprocess.run(
        [sys.executable, "-m", "initcli", *args], cwd=repo, env=env, check=True, capture_output=True
    )
    return time.perf_counter() - start


def plots(rounds: int, repo: Path) -> None:
    with tempfile.TemporaryDirectory() as out:
        base = ["run", "configs/mlp_tanh.yaml", "--out", out, "--force"]
        with_plots, without = [], []
        for _ in range(rounds):
            with_plots.append(_wall(base, repo))
            without.append(_wall([*base, "--no-plots"], repo))
    best_with, best_without = min(with_plots), min(without)
    print(
        f"plots ({repo}): run mlp_tanh {best_with:.2f} s, --no-plots {best_without:.2f} s: "
        f"+{best_with - best_without:.2f} s ({best_with / best_without:.2f}x), "
        f"best of {rounds} (medians {sorted(with_plots)[rounds // 2]:.2f} / "
        f"{sorted(without)[rounds // 2]:.2f})"
    )


def seeds(rounds: int) -> None:
    from initcli.experiment import RunOptions, cores, dense_stack_spec, run_seeds

    spec = dense_stack_spec(20, 1024, "tanh", 512)
    options = RunOptions(keep_samples=False)
    available = cores()

    def timed(k: int) -> float:
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            run_seeds(spec, options, k)
            best = min(best, time.perf_counter() - start)
        return best

    from threadpoolctl import threadpool_limits

    # The baseline is one draw on one BLAS thread: what each of run_seeds' threads gets.
    with threadpool_limits(limits=1, user_api="blas"):
        one = timed(1)
    print(
        f"seeds: {available} cores, one draw on 1 BLAS thread {one:.2f} s "
        "(dense 20 x 1024, batch 512)"
    )
    for k in (2, 4, 8):
        wall = timed(k)
        efficiency = k * one / (wall * min(k, available))
        print(
            f"  --seeds {k}: {wall:.2f} s, speed-up {k * one / wall:.2f}x, "
            f"efficiency {efficiency:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plots", action="store_true")
    parser.add_argument("--seeds", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--repo",
        type=Path,
        default=REPO,
        help="Checkout to time (an older commit's export)",
    )
    args = parser.parse_args()
    both = not (args.plots or args.seeds)
    if args.plots or both:
        plots(args.rounds, args.repo)
    if args.seeds or both:
        seeds(max(1, args.rounds // 2))


if __name__ == "__main__":
    main()
