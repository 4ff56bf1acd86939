"""Brock, De & Smith (2021, fig. 1) and De & Smith (2020), qualitatively: signal-propagation
plots of a BN-ReLU pre-activation ResNet, the same ResNet without normalization, and an
NF-ResNet; and the pre-LN MLP's linear growth. Prints the measured per-block growth of each
stage and writes docs/figures/spp_brock2021.png.

    python scripts/reproduce_spp.py [--out docs/figures] [--batch 64]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from initcli.experiment import RunOptions, run_experiment  # noqa: E402
from initcli.spec import load_spec, load_spec_text  # noqa: E402
from initcli.stats import RunResult  # noqa: E402


def unnormalized_text() -> str:
    """nf_resnet.yaml with alpha = 1 and no beta: the plain un-normalized ReLU ResNet."""
    text = (REPO / "configs" / "nf_resnet.yaml").read_text()
    text = text.replace("scale: 0.2", "scale: 1.0").replace("branch_input_scale: beta", "")
    return text.replace("name: nf_resnet", "name: resnet_unnormalized")


def runs(batch: int) -> list[tuple[str, RunResult]]:
    options = RunOptions(seed=0, batch=batch, keep_samples=False)
    specs = [
        ("BN-ReLU (resnet_preact)", load_spec(REPO / "configs" / "resnet_preact.yaml")),
        (
            "un-normalized, alpha=1",
            load_spec_text(unnormalized_text(), "<unnormalized>", "resnet_unnormalized"),
        ),
        ("NF-ResNet, alpha=0.2 (nf_resnet)", load_spec(REPO / "configs" / "nf_resnet.yaml")),
    ]
    return [(label, run_experiment(spec, options)) for label, spec in specs]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    results = runs(args.batch)
    for label, result in results:
        print(f"{label}:")
        for stage in result.summary.blocks:
            print(
                f"  {stage.verdict:11s} blocks {stage.first_block}-{stage.last_block}: "
                f"+{stage.increment_per_block:.3g} per block, x{stage.factor_per_block:.3g} "
                "per block"
            )
    preln = run_experiment(load_spec(REPO / "configs" / "preln_mlp.yaml"), RunOptions())
    stage = preln.summary.blocks[0]
    print(
        f"preln_mlp: {stage.verdict}, +{stage.increment_per_block:.3g} per block; E[y^2] "
        f"block 1 {preln.blocks[0].second_moment:.3g} (theory "
        f"{preln.blocks[0].theory_second_moment:.3g}), block 16 "
        f"{preln.blocks[-1].second_moment:.3g} (theory {preln.blocks[-1].theory_second_moment:.3g})"
    )
    from initcli.outputs import ensure_directory, save_figure
    from initcli.plots import signal_propagation_figure

    labelled = [dataclasses.replace(result, init=label) for label, result in results]
    figure = signal_propagation_figure(
        labelled, f"Signal propagation per residual block (batch {args.batch}, seed 0)"
    )
    ensure_directory(args.out)
    print("wrote", save_figure(args.out / "spp_brock2021.png", figure))
    return 0


if __name__ == "__main__":
    sys.exit(main())
