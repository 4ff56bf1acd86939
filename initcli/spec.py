"""The network spec: YAML file -> validated :class:`NetworkSpec`.

The YAML keys are a contract (see README, "Network spec"). Every value keeps the file
and line it came from, so later stages can name it in an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """Where a value came from: ``configs/x.yaml:12: layers[3].units``."""

    path: str
    line: int | None = None
    key: str = ""

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.key}" if self.key else where


@dataclass(frozen=True)
class LayerSpec:
    """One layer after ``repeat`` is expanded. Sizes are tuples, one entry per spatial dim."""

    type: str  # "dense" | "conv1d" | "conv2d" | "flatten"
    name: str  # e.g. "dense3", unique in the network
    location: Location  # where the layer's mapping starts in the YAML
    units: int | None = None  # dense: units; conv: filters
    kernel_size: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    padding: str | tuple[int, ...] = "valid"  # "valid" | "same" | "causal" | explicit ints
    activation: str = "linear"  # a SPEC string, resolved by initcli.activations
    init: str | None = None  # None: the network's default
    bias_init: str | None = None
    bias: bool = True
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False)

    def where(self, key: str) -> Location:
        """Location of one of this layer's keys (falls back to the layer's own line)."""
        return self.key_locations.get(key, self.location)


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    path: str
    input_shape: tuple[int, ...]  # per example, channels-first
    input_distribution: str  # "normal" | "uniform", scaled to unit variance
    batch: int
    init: str
    bias_init: str
    layers: tuple[LayerSpec, ...]
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False)
