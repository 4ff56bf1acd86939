"""Issue 11's performance target: a 50-block pre-LN residual MLP (width 1024, batch 1024),
initcli's forward + backward + statistics against PyTorch doing the same with hooks.

    OPENBLAS_NUM_THREADS=2 python -m bench.residual [--blocks 50] [--repeats 3]

Both sides use the same weights (shared arrays) and input, float32, the same thread count.
PyTorch's hooks collect what initcli reports: per dense layer Var z and Var dL/dz, Var W and
Var dL/dW after backward, per layernorm its output's Var, and per block the per-channel
mean and variance of the block output and of the branch plus Var dL/d(block output).
Rounds alternate initcli / PyTorch so a busy machine slows both alike; the ratio is of the
medians. Prints one Markdown line for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

SPEC = """
name: preln_bench
input: {{shape: [{width}]}}
batch: {batch}
layers:
  - type: residual
    repeat: {blocks}
    layers:
      - {{type: layernorm}}
      - {{type: dense, units: {width}, activation: relu, init: he_normal}}
      - {{type: dense, units: {width}, init: lecun_normal}}
"""


def initcli_step(network: Any, params: Any, inputs: np.ndarray, grad: np.ndarray) -> int:
    from initcli.experiment import order_blocks
    from initcli.propagate import propagate
    from initcli.stats import StatsCollector

    collector = StatsCollector(keep_samples=False)
    for step in propagate(network, params, inputs, grad):
        collector.add(step)
        del step
    layers = collector.finish()
    return len(order_blocks(network, layers, collector.blocks))


def torch_model(network: Any, params: Any, threads: int) -> Any:
    import torch

    torch.set_num_threads(threads)
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, layer: Any) -> None:
            super().__init__()
            norm, first, second = layer.body.layers
            width = first.weight_shape[1]
            self.norm = nn.LayerNorm(width, eps=1e-5)
            self.first = nn.Linear(width, first.weight_shape[0])
            self.second = nn.Linear(first.weight_shape[0], second.weight_shape[0])
            for module, source in ((self.norm, norm), (self.first, first), (self.second, second)):
                own = params.of(source)
                module.weight = nn.Parameter(torch.from_numpy(own["weight"]))
                module.bias = nn.Parameter(torch.from_numpy(own["bias"]))
            self.scale = layer.scale

        def forward(self, x: Any) -> Any:
            branch = self.scale * self.second(torch.relu(self.first(self.norm(x))))
            return x + branch, branch

    return nn.ModuleList(Block(layer) for layer in network.layers)


def torch_step(blocks: Any, x: Any, grad_out: Any) -> int:
    import torch

    nn = torch.nn
    found: dict[str, Any] = {}

    def channel(name: str, y: Any) -> None:
        flat = y.detach().double()
        found[f"{name}.sq_mean"] = (flat.mean(0) ** 2).mean()
        found[f"{name}.var"] = flat.var(0, correction=0).mean()

    handles = []
    for index, block in enumerate(blocks):
        for part in (block.norm, block.first, block.second):

            def record(module: Any, inputs: Any, output: Any, key: str = f"{index}") -> None:
                found[f"{key}.{id(module)}.out_var"] = output.detach().var(correction=0)
                if isinstance(module, nn.Linear):

                    def grad_hook(g: Any) -> None:
                        found[f"{key}.{id(module)}.grad_var"] = g.var(correction=0)

                    output.register_hook(grad_hook)

            handles.append(part.register_forward_hook(record))
    for parameter in blocks.parameters():
        parameter.grad = None
    h = x
    for index, block in enumerate(blocks):
        h, branch = block(h)
        channel(f"block{index}", h)
        channel(f"branch{index}", branch)
        h.register_hook(lambda g, i=index: found.__setitem__(f"block{i}.grad", g.var(correction=0)))
    h.backward(grad_out)
    for name, parameter in blocks.named_parameters():
        found[f"{name}.var"] = parameter.detach().var(correction=0)
        found[f"{name}.grad.var"] = parameter.grad.var(correction=0)
    values = {key: float(value) for key, value in found.items()}
    for handle in handles:
        handle.remove()
    return len(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=50)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from initcli.network import build_network
    from initcli.network_spec import load_spec_text
    from initcli.propagate import sample_input, sample_parameters

    text = SPEC.format(blocks=args.blocks, width=args.width, batch=args.batch)
    network = build_network(load_spec_text(text, "<bench>", "preln_bench"))
    rng = np.random.default_rng(0)
    params = sample_parameters(network, rng, np.float32)
    inputs = sample_input(network.input_shape, args.batch, "normal", rng, np.float32)
    grad = rng.standard_normal(inputs.shape, dtype=np.float32)
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "2"))
    import torch

    blocks = torch_model(network, params, threads)
    x, grad_out = torch.from_numpy(inputs), torch.from_numpy(grad)
    ours: list[float] = []
    theirs: list[float] = []
    initcli_step(network, params, inputs, grad)  # warm-up both
    torch_step(blocks, x, grad_out)
    for _ in range(args.repeats):
        start = time.perf_counter()
        initcli_step(network, params, inputs, grad)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        torch_step(blocks, x, grad_out)
        theirs.append(time.perf_counter() - start)
    mine, torch_s = statistics.median(ours), statistics.median(theirs)
    print(
        f"| pre-LN residual MLP {args.blocks} blocks x{args.width}, batch {args.batch}, "
        f"{threads} threads | initcli {mine:.2f} s | PyTorch + hooks {torch_s:.2f} s | "
        f"ratio {mine / torch_s:.2f} | rounds {[round(t, 2) for t in ours]} vs "
        f"{[round(t, 2) for t in theirs]} |"
    )


if __name__ == "__main__":
    main()
