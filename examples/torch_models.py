"""Example PyTorch factories for `initcli run examples/torch_models.py:NAME --input-shape ...`."""

import torch
from torch import nn


class BasicBlock(nn.Module):
    """A ResNet basic block (He et al. 2016): conv-bn-relu-conv-bn, plus the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


def make_resnet(depth: int = 3, width: int = 16) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        *[BasicBlock(width) for _ in range(depth)],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 10),
    )


def make_mlp(depth: int = 8, width: int = 256) -> nn.Module:
    """A plain tanh MLP with PyTorch's default init: U(±1/sqrt(fan_in)), Var = 1/(3 fan_in)."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers)
