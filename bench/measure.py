"""Probes: timers, BLAS facts, GEMM throughput, the OS's memory accounting, CLI start-up.

Timings on a shared machine are noisy, so every probe keeps all its samples and the report
uses the best (the run least disturbed by other processes) and says how far the median was.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from initcli.blas import bundled_openblas, set_openblas_threads


@dataclass
class Samples:
    """Wall times of one measurement, in seconds."""

    values: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.values.append(seconds)

    @property
    def best(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return float(np.median(self.values))

    @property
    def spread(self) -> float:
        """Median over best, minus one: how much other processes slowed the typical run."""
        return self.median / self.best - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best, "median": self.median, "samples": self.values}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# --- BLAS -------------------------------------------------------------------------------------


def _symbol(lib: ctypes.CDLL, *names: str) -> Any:
    for name in names:
        if hasattr(lib, name):
            return getattr(lib, name)
    return None


def blas_info() -> dict[str, Any]:
    """Which BLAS kernel numpy runs, with how many threads, and the environment that picks it.

    threadpoolctl is not installed here, so the bundled OpenBLAS is asked directly
    (``openblas_get_corename`` is the kernel chosen at run time, which OPENBLAS_CORETYPE can
    override; ``np.show_config()`` shows only the build machine's).
    """
    info: dict[str, Any] = {
        "numpy": np.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
        "cpu": _cpu_model(),
    }
    lib = bundled_openblas()
    if lib is None:
        info["blas"] = "not the bundled OpenBLAS; see np.show_config()"
        return info
    corename = _symbol(lib, "scipy_openblas_get_corename64_", "openblas_get_corename")
    config = _symbol(lib, "scipy_openblas_get_config64_", "openblas_get_config")
    threads = _symbol(lib, "scipy_openblas_get_num_threads64_", "openblas_get_num_threads")
    for fn in (corename, config):
        if fn is not None:
            fn.restype = ctypes.c_char_p
    info["blas"] = config().decode() if config else "OpenBLAS"
    info["blas_kernel"] = corename().decode() if corename else None
    info["blas_threads"] = int(threads()) if threads else None
    return info


def blas_threads() -> int:
    info = blas_info()
    return int(info.get("blas_threads") or os.cpu_count() or 1)


def set_blas_threads(threads: int) -> bool:
    """Set the bundled OpenBLAS's thread count in this process; False if it cannot."""
    return set_openblas_threads(bundled_openblas(), threads)


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def gemm_seconds(size: int = 2048, dtype: type = np.float32) -> Callable[[], float]:
    """A timer of one ``size``^3 matmul into a preallocated output (2 size^3 FLOPs)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=dtype)
    b = rng.standard_normal((size, size), dtype=dtype)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)  # warm: threads started, pages touched

    def once() -> float:
        seconds, _ = timed(lambda: np.matmul(a, b, out=out))
        return seconds

    return once


def torch_gemm_rate(size: int, repeats: int, threads: int) -> float | None:
    """FLOP/s of torch.mm on the same sizes, to read the initcli / PyTorch ratio against."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)
    best = min(timed(lambda: torch.mm(a, b))[0] for _ in range(repeats))
    return 2.0 * size**3 / best


# --- memory: the OS's own accounting ------------------------------------------------------------


def _status(key: str) -> int | None:
    """A ``/proc/self/status`` field in bytes (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def reset_peak() -> bool:
    """Reset VmHWM (and ru_maxrss) to the current RSS: Linux >= 4.0, ``clear_refs`` = 5."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def rss() -> int:
    value = _status("VmRSS")
    if value is not None:
        return value
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss() -> int:
    value = _status("VmHWM")
    if value is not None:
        return value
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_child(args: Sequence[str], timeout: float = 600) -> dict[str, Any]:
    """Run ``python bench/run.py --child ...`` in a fresh process; it prints one JSON line."""
    import json

    script = Path(__file__).resolve().parent / "run.py"
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- CLI start-up ---------------------------------------------------------------------------------


def console_script(name: str = "initcli") -> list[str]:
    """The installed console script beside this interpreter, else ``python -m initcli``."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", name]


def wall_of(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        list(argv),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        env=env,
    )
    return time.perf_counter() - start


@dataclass
class ImportNode:
    name: str
    self_us: int
    cumulative_us: int
    depth: int
    children: list[ImportNode] = field(default_factory=list)


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def import_tree(stderr: str) -> list[ImportNode]:
    """Top-level nodes of ``-X importtime`` output (printed children first, indented)."""
    pending: dict[int, list[ImportNode]] = {}
    for line in stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        depth = len(indent) // 2
        node = ImportNode(name, int(self_us), int(cumulative_us), depth)
        node.children = pending.pop(depth + 1, [])
        pending.setdefault(depth, []).append(node)
    return pending.get(0, [])


def import_profile(argv: Sequence[str], env: dict[str, str] | None = None) -> list[ImportNode]:
    env = {**(os.environ if env is None else env), "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(
        list(argv), capture_output=True, text=True, env=env, check=True, timeout=120
    )
    return import_tree(done.stderr)


def heavy_imports(roots: list[ImportNode], threshold_ms: float = 5.0) -> list[dict[str, Any]]:
    """Who imports what: each initcli module's direct non-initcli imports above a threshold,
    and every top-level import (done by the interpreter or by the CLI at run time)."""
    rows: list[dict[str, Any]] = []

    def visit(node: ImportNode, parent: str) -> None:
        ms = node.cumulative_us / 1000
        mine = node.name.startswith("initcli")
        parent_is_mine = parent.startswith("initcli")
        if ms >= threshold_ms and not mine and (parent_is_mine or parent == "<top>"):
            rows.append({"module": node.name, "imported_by": parent, "ms": round(ms, 1)})
        if mine or parent == "<top>":
            for child in node.children:
                visit(child, node.name)

    for root in roots:
        visit(root, "<top>")
        if root.name.startswith("initcli"):
            rows.append(
                {
                    "module": root.name,
                    "imported_by": "<top>",
                    "ms": round(root.cumulative_us / 1000, 1),
                }
            )
    return sorted(rows, key=lambda row: -row["ms"])
