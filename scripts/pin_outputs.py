"""Regenerate tests/pinned/*.json: the ``--json`` output of the shipped configs and the README
examples on fixed seeds, which tests/test_pinned_outputs.py requires byte-identical.

Run it only when a change is *meant* to move the numbers (say why in the commit, with the
largest relative change it caused); a refactor must leave every pinned file unchanged.

    python scripts/pin_outputs.py           # rewrite the pinned files
    python scripts/pin_outputs.py --check   # exit 1 and list the cases that differ
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import tempfile
from pathlib import Path

# As tests/conftest.py: one BLAS thread, so GEMM sums in one order and the bytes repeat.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
# This checkout's initcli, not whichever one the environment has installed (a worktree of
# the repository would otherwise pin another checkout's code).
sys.path.insert(0, str(REPO))
PINNED = REPO / "tests" / "pinned"

CONFIGS = sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))

# name -> argv (without --json/--out, added below); run from the repository root.
CASES: dict[str, list[str]] = {
    **{f"run_{name}": ["run", f"configs/{name}.yaml", "--seed", "0"] for name in CONFIGS},
    "run_mlp_tanh_readme": ["run", "configs/mlp_tanh.yaml", "--init", "glorot_uniform"],
    "run_mlp_relu_float64_seed3": [
        "run",
        "configs/mlp_relu.yaml",
        "--dtype",
        "float64",
        "--seed",
        "3",
        "--batch",
        "64",
    ],
    "run_cnn_relu_noggrad": ["run", "configs/cnn_relu.yaml", "--no-grad", "--init", "lecun_normal"],
    "run_tcn_bias": ["run", "configs/tcn_causal.yaml", "--bias-init", "random_normal(std=0.1)"],
    "run_mlp_relu_seeds3": ["run", "configs/mlp_relu.yaml", "--seeds", "3", "--batch", "32"],
    "compare_readme": [
        "compare",
        "xavier",
        "he",
        "--activation",
        "relu",
        "--depth",
        "10",
        "--width",
        "512",
    ],
    "compare_cnn": [
        "compare",
        "he_normal",
        "torch.kaiming_uniform",
        "--config",
        "configs/cnn_relu.yaml",
    ],
    "theory_readme": ["theory", "--activation", "tanh", "--init", "glorot_normal", "--depth", "5"],
    "recommend_gelu": ["recommend", "--activation", "gelu"],
}
WRITES_FILES = ("run", "compare")


def render(argv: list[str]) -> str:
    """The JSON that ``initcli ARGV --json`` prints, run in-process from the repository root."""
    from initcli.cli import main

    args = [*argv, "--json"]
    if argv[0] in WRITES_FILES:
        args += ["--no-plots", "--out", tempfile.mkdtemp(prefix="initcli-pin-")]
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(out):
            code = main(args)
    finally:
        os.chdir(cwd)
    if code != 0:
        raise RuntimeError(f"initcli {' '.join(args)} exited {code}")
    return out.getvalue()


def machine() -> str:
    """What float32 GEMM results depend on: the CPU and numpy's BLAS build. Pinned bytes are
    compared exactly on the machine that wrote them, and to float32 rounding elsewhere."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in handle if "model name" in line), cpu
            )
    except OSError:
        pass
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    build = f"{blas.get('name')} {blas.get('version')}"
    return f"{cpu} | numpy {np.__version__} | {build} | kernel {_blas_kernel()}\n"


def _blas_kernel() -> str:
    """The kernel numpy's bundled OpenBLAS runs (OPENBLAS_CORETYPE can pick another one than
    the CPU's, e.g. Haswell on a Zen 4: other float32 GEMM roundings on the same machine)."""
    import ctypes

    from initcli.blas import bundled_openblas

    library = bundled_openblas()
    for name in ("scipy_openblas_get_corename64_", "openblas_get_corename"):
        corename = getattr(library, name, None) if library is not None else None
        if corename is not None:
            corename.restype = ctypes.c_char_p
            return str(corename().decode())
    return "unknown"


def main() -> int:
    check = "--check" in sys.argv[1:]
    PINNED.mkdir(parents=True, exist_ok=True)
    differ = []
    for name, argv in CASES.items():
        text = render(argv)
        path = PINNED / f"{name}.json"
        if check:
            if not path.exists() or path.read_text() != text:
                differ.append(name)
        else:
            path.write_text(text)
    if not check:
        (PINNED / "MACHINE").write_text(machine())
    if differ:
        print("differ:", ", ".join(differ))
        pinned_on = (PINNED / "MACHINE").read_text()
        if check and pinned_on != machine():
            print(
                f"(pinned on {pinned_on.strip()}, this is {machine().strip()}: the tests then "
                "compare to float32 rounding, tests/test_pinned_outputs.py)"
            )
        return 1
    print("all pinned outputs match" if check else f"wrote {len(CASES)} files to {PINNED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
