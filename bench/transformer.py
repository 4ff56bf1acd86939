"""gpt_small (6 pre-LN blocks, d=256, 128 tokens) at step 0: initcli's propagation with its
statistics against PyTorch CPU doing the same forward + backward with the same weights and
hooks that collect the same per-row variances (every projection's output and gradient,
every weight gradient), side by side in one process.

    python -m bench.transformer [--batch 64] [--repeats 3] [--threads 1]

Prints one JSON object: best seconds of each, their ratio and the largest relative
difference of the Var z / Var dL/dz the two collect (a check that they did the same work).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from initcli.network import build_network
from initcli.network_spec import load_spec
from initcli.propagate import propagate, sample_input, sample_parameters
from initcli.stats import StatsCollector

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "gpt_small.yaml"


def initcli_step(network: Any, params: Any, ids: np.ndarray, grad: np.ndarray) -> dict[str, Any]:
    collector = StatsCollector(keep_samples=False)
    for step in propagate(network, params, ids, grad):
        collector.add(step)
        del step
    return {s.name: s for s in collector.finish()}


def torch_step(network: Any, params: Any, ids: np.ndarray, grad: np.ndarray) -> dict[str, Any]:
    """The same network in PyTorch: weights copied, variances collected by hooks."""
    import torch
    import torch.nn.functional as F

    stats: dict[str, list[float]] = {}

    def keep(name: str, tensor: Any) -> Any:
        stats.setdefault(name, []).append(float(tensor.detach().double().var(unbiased=False)))
        if tensor.requires_grad:
            tensor.register_hook(
                lambda g: stats.setdefault(name + ":grad", []).append(
                    float(g.double().var(unbiased=False))
                )
            )
        return tensor

    def tensor(array: np.ndarray) -> Any:
        return torch.from_numpy(array).requires_grad_(True)

    weights = {name: {k: tensor(v) for k, v in p.items()} for name, p in params.by_layer.items()}

    def linear(name: str, x: Any) -> Any:
        own = weights[name]
        return keep(name, F.linear(x, own["weight"], own.get("bias")))

    x: Any = None
    for layer in network.walk():
        kind, name = layer.type, layer.name
        if kind == "embedding":
            x = keep(name, F.embedding(torch.from_numpy(ids), weights[name]["weight"]))
        elif kind == "positional_embedding":
            x = keep(name, x + weights[name]["weight"])
        elif kind == "residual":
            branch_input = x
            for child in layer.branch.layers:
                if child.type == "layernorm":
                    own = weights[child.name]
                    shape = own["weight"].shape
                    z = F.layer_norm(branch_input, shape, own["weight"], own["bias"], child.eps)
                    branch_input = keep(child.name, z)
                elif child.type == "attention":
                    q, k, v, o = (p.name for p in child.projections)
                    batch, tokens, _ = branch_input.shape

                    def heads(
                        t: Any, child: Any = child, batch: int = batch, tokens: int = tokens
                    ) -> Any:
                        return t.reshape(batch, tokens, child.heads, child.head_dim).transpose(1, 2)

                    attended = F.scaled_dot_product_attention(
                        heads(linear(q, branch_input)),
                        heads(linear(k, branch_input)),
                        heads(linear(v, branch_input)),
                        is_causal=child.causal,
                        scale=child.logit_scale,
                    )
                    branch_input = linear(o, attended.transpose(1, 2).reshape(batch, tokens, -1))
                elif child.type == "dense":
                    z = linear(child.name, branch_input)
                    branch_input = F.gelu(z) if child.activation.name == "gelu" else z
            x = x + branch_input
        elif kind == "layernorm" and name.count(".") == 0:
            own = weights[name]
            x = keep(name, F.layer_norm(x, own["weight"].shape, own["weight"], own["bias"]))
        elif kind == "dense" and name.count(".") == 0:
            x = linear(name, x)
    x.backward(torch.from_numpy(grad))
    return stats


def best(fn: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    network = build_network(load_spec(CONFIG))
    rng = np.random.default_rng(0)
    params = sample_parameters(network, rng, np.float32)
    ids = sample_input(network.input_shape, args.batch, "tokens", rng, np.float32, vocab=1000)
    grad = rng.standard_normal((args.batch, *network.output_shape), dtype=np.float32)
    ours_s, ours = best(lambda: initcli_step(network, params, ids, grad), args.repeats)
    torch_s, theirs = best(lambda: torch_step(network, params, ids, grad), args.repeats)
    worst = 0.0
    for name, row in ours.items():
        if name in theirs:
            other = theirs[name][-1]
            worst = max(worst, abs(row.preact_var - other) / max(abs(other), 1e-30))
    print(
        json.dumps(
            {
                "case": f"gpt_small, batch {args.batch}, 6 blocks d=256, 128 tokens",
                "threads": args.threads,
                "initcli_seconds": ours_s,
                "torch_seconds": torch_s,
                "ratio": ours_s / torch_s,
                "max_rel_diff_var_z": worst,
                "rows_compared": sum(1 for name in ours if name in theirs),
                "finite": all(math.isfinite(r.preact_var) for r in ours.values()),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
