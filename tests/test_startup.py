"""Start-up: `initcli fans` and `initcli --help` never import numpy, rich only to render.

The time itself is measured in bench/ (bench/run.py --sections cli); these tests pin the
import structure that makes it fast, and that the math-only fans table equals the library.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from initcli.commands.fans import _RULES, scales
from initcli.initializers import VarianceScaling
from initcli.serialize import jsonable

ROOT = Path(__file__).resolve().parent.parent


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from initcli.cli import main\n"
        f"code = main({args!r})\n"
        "print(' '.join(sorted(sys.modules)))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.strip().splitlines()[-1].split())


@pytest.mark.parametrize(
    "args",
    [["fans", "--shape", "64,3,7,7"], ["fans", "--shape", "64,3,7,7", "--json"], ["--help"]],
)
def test_fans_and_help_never_import_numpy(args: list[str]) -> None:
    modules = _modules_after(args)
    assert "initcli.commands.fans" in modules  # the command really ran / was listed
    assert "numpy" not in modules
    assert "scipy" not in modules and "matplotlib" not in modules


def test_fans_json_does_not_load_rich() -> None:
    modules = _modules_after(["fans", "--shape", "8,4", "--json"])
    assert "rich.console" not in modules and "rich.table" not in modules


@pytest.mark.parametrize("dims", [(64, 3, 7, 7), (10, 20), (1, 1, 1), (5, 7, 3)])
def test_math_only_scales_equal_variance_scaling(dims: tuple[int, ...]) -> None:
    from initcli.fans import compute_fans

    fans = compute_fans(dims, "torch")
    table = scales(fans.fan_in, fans.fan_out, fans.receptive_field)
    for name, scale, mode, _ in _RULES:
        std = VarianceScaling(scale, mode, "uniform").std(fans)
        assert table[name]["std"] == std  # the same formula, bit for bit
        assert table[name]["limit"] == pytest.approx(3**0.5 * std, rel=1e-15)


def test_jsonable_handles_numpy_values_when_numpy_is_loaded() -> None:
    import numpy as np

    value = {"a": np.float32(0.5), "b": np.int64(3), "c": np.bool_(True), "d": np.array([1.0])}
    assert jsonable(value) == {"a": 0.5, "b": 3, "c": True, "d": [1.0]}
    assert jsonable([np.float64("nan"), float("inf"), True, 2]) == [None, None, True, 2]
    assert type(jsonable(np.bool_(False))) is bool


def _console(args: list[str], pre: str = "") -> subprocess.CompletedProcess[str]:
    """The console program (main() with no argv, which leaves through os._exit)."""
    code = (
        f"import sys\n{pre}\nsys.argv = ['initcli', *{args!r}]\n"
        "from initcli.__main__ import entry\nentry()\n"
    )
    # Buffered, as a user's terminal or pipe is: PYTHONUNBUFFERED (set in some sandboxes)
    # would let output through without the final flush this checks.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False,
        env=env,
    )  # fmt: skip


def test_the_console_program_flushes_everything_and_runs_atexit_handlers() -> None:
    """It skips the interpreter's teardown (initcli.cli._leave), not its output: stdout
    through a pipe is complete, stderr too, and atexit handlers (logging's) still run."""
    in_process = subprocess.run(
        [sys.executable, "-c", "from initcli.cli import main; main(['list'])"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    listed = _console(["list"], pre="import atexit; atexit.register(print, 'atexit ran')")
    assert listed.returncode == 0
    assert listed.stdout == in_process.stdout + "atexit ran\n"
    failed = _console(["fans", "--shape", "0,3"])
    assert failed.returncode == 2 and failed.stderr.startswith("initcli: error: ")


def test_the_console_program_shortens_openblas_spin_unless_the_user_set_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OPENBLAS_THREAD_TIMEOUT is in the environment before numpy could load OpenBLAS (which
    reads it once), and a value the user set stays."""
    report = (  # the variable as it stood when numpy was first imported
        "import atexit, builtins, os\n"
        "seen, real = [], builtins.__import__\n"
        "def spy(name, *args, **kw):\n"
        "    if name == 'numpy' and not seen:\n"
        "        seen.append(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))\n"
        "    return real(name, *args, **kw)\n"
        "builtins.__import__ = spy\n"
        "atexit.register(lambda: print('numpy saw', seen))\n"
    )
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    assert _console(["list"], pre=report).stdout.endswith("numpy saw ['24']\n")
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "20")
    assert _console(["list"], pre=report).stdout.endswith("numpy saw ['20']\n")


def test_a_reader_that_leaves_early_is_not_an_error() -> None:
    # The reader closes before reading anything, so the write surely meets a closed pipe.
    code = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-m', 'initcli', 'list'],"
        " stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "child.stdout.close()\n"
        "err = child.stderr.read(); sys.exit(child.wait() * 10 + (1 if err else 0))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False)
    assert done.returncode == 0


def test_a_full_stdout_is_one_line_and_exit_1() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "initcli", "list"], stdout=full, stderr=subprocess.PIPE,
            text=True, cwd=ROOT, env=env, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == "initcli: error: cannot write the output: No space left on device\n"


def test_under_a_profiler_the_console_program_exits_as_usual(tmp_path: Path) -> None:
    """cProfile writes its file at exit: os._exit would skip it."""
    profile = tmp_path / "p.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "initcli", "fans",
         "--shape", "8,8"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert profile.stat().st_size > 0
