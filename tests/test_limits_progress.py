"""Issue 16: options checked once, absurd jobs refused up front, progress, pools reaped."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from initcli import options as options_module
from initcli.experiment import RunOptions, dense_stack_spec, run_experiment
from initcli.network import build_network
from initcli.options import estimate_seconds
from initcli.progress import Progress, progress, wanted

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import children_of, run_initcli, session_members

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
MLP = str(CONFIGS / "mlp_relu.yaml")


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("seeds", ["1", "2"])
def test_bad_dtype_is_refused_the_same_with_any_seeds(
    cli: Callable[..., object], tmp_path: Path, seeds: str
) -> None:
    result = cli("run", MLP, "--dtype", "", "--seeds", seeds, "--no-plots", "--out", str(tmp_path))
    assert result.code == 2  # type: ignore[attr-defined]
    assert "--dtype '' is not supported" in one_line(result.err)  # type: ignore[attr-defined]
    compared = cli("compare", "he", "--dtype", "", "--seeds", seeds, "--depth", "2", "--width", "2")
    assert compared.code == 2 and "--dtype ''" in one_line(compared.err)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("compare", "xavier", "he", "--depth", "100000", "--width", "1", "--batch", "1"),
         ["100000 weighted layers", "limit of 10000", "estimated", "--allow-long"]),
        (("run", str(CONFIGS / "mlp_tanh.yaml"), "--seeds", "10000"),
         ["--seeds 10000", "limit of 1000", "estimated", "--allow-long"]),
        (("compare", "he", "--width", "100000", "--depth", "20"),
         ["estimated to take about", "h", "--width", "--allow-long"]),
        (("compare", "he", "--depth", "1000000000", "--width", "1"), ["1000000000 weighted"]),
    ],
)  # fmt: skip
def test_absurd_jobs_are_refused_up_front(
    cli: Callable[..., object], tmp_path: Path, args: tuple[str, ...], needles: list[str]
) -> None:
    result = cli(*args, "--no-plots", "--out", str(tmp_path / "o"))
    assert result.code == 2  # type: ignore[attr-defined]
    message = one_line(result.err)  # type: ignore[attr-defined]
    assert all(needle in message for needle in needles), message
    assert not (tmp_path / "o").exists()


def test_allow_long_lifts_the_limits(
    cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(options_module, "MAX_SEEDS", 2)
    monkeypatch.setattr(options_module, "MAX_LAYERS", 2)
    args = ("compare", "he", "--depth", "3", "--width", "2", "--batch", "1", "--no-plots")
    assert cli(*args).code == 2  # type: ignore[attr-defined]
    assert cli(*args, "--allow-long").code == 0  # type: ignore[attr-defined]


def test_the_estimate_errs_long_but_not_absurdly() -> None:
    """2-10x a one-core run's time on this machine (measured in bench/); here only its
    scaling: linear in depth, quadratic-ish in width, never zero."""
    small = build_network(dense_stack_spec(10, 64, "relu", 32))
    deep = build_network(dense_stack_spec(20, 64, "relu", 32))
    wide = build_network(dense_stack_spec(10, 1024, "relu", 32))
    assert estimate_seconds(deep, 32, True) == pytest.approx(2 * estimate_seconds(small, 32, True))
    assert estimate_seconds(wide, 32, True) > 10 * estimate_seconds(small, 32, True) > 0


def test_on_step_is_called_once_per_propagation_step() -> None:
    spec = dense_stack_spec(5, 4, "tanh", 3)
    calls: list[None] = []
    run_experiment(spec, RunOptions(keep_samples=False), on_step=lambda: calls.append(None))
    assert len(calls) == 10  # 5 forward, 5 backward
    calls.clear()
    forward_only = RunOptions(keep_samples=False, with_grad=False)
    run_experiment(spec, forward_only, on_step=lambda: calls.append(None))
    assert len(calls) == 5


def test_progress_only_on_a_terminal_without_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert wanted(False, 5.0)
    assert not wanted(True, 5.0)  # --json
    assert not wanted(False, 0.1)  # too short to watch
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not wanted(False, 5.0)
    with progress(False) as bar:  # the no-op one accepts every call
        assert isinstance(bar, Progress) and not bar.shown
        bar.start("x", 3)
        bar.advance()


def test_a_shown_bar_counts_to_its_total() -> None:
    with progress(True) as bar:
        assert bar.shown
        bar.start("layers", 4)
        for _ in range(4):
            bar.advance()
        rich_bar = bar._bar
        assert rich_bar is not None
        (task,) = rich_bar.tasks
        assert task.completed == 4 and task.total == 4


def _children() -> set[int]:
    return children_of(os.getpid())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_worker_outlives_compare_seeds(cli: Callable[..., object], tmp_path: Path) -> None:
    """`compare --seeds 8` used to leave its pool's workers running after it returned; the
    draws now run in threads, and none of those may outlive the command either."""
    before = set(_children())
    threads_before = set(threading.enumerate())
    seen_draw_threads: list[str] = []
    real_submit = ThreadPoolExecutor.submit

    def spying_submit(self: ThreadPoolExecutor, *args: Any, **kwargs: Any) -> Any:
        future = real_submit(self, *args, **kwargs)
        seen_draw_threads.extend(t.name for t in threading.enumerate() if "draw" in t.name)
        return future

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ThreadPoolExecutor, "submit", spying_submit)
        result = cli("compare", "xavier", "he", "--depth", "3", "--width", "8", "--seeds", "8",
                     "--no-plots")  # fmt: skip
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    assert seen_draw_threads  # the draws did run in parallel threads (the check is not vacuous)
    assert not multiprocessing.active_children()
    left = set(_children()) - before
    assert not left, left
    lingering = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert not [name for name in lingering if "draw" in name], lingering


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
@pytest.mark.parametrize("delay", [0.4, 1.0, 1.6])
def test_ctrl_c_exits_130_and_leaves_no_process(tmp_path: Path, delay: float) -> None:
    out = tmp_path / "out"
    done = run_initcli(
        ["run", str(CONFIGS / "mlp_tanh.yaml"), "--seeds", "16", "--out", str(out)],
        timeout=120,
        interrupt_after=delay,
    )
    # 0: it finished before the signal; -SIGINT: the signal came before the interpreter had
    # installed its handler (as for any Python program; a shell shows both as 130)
    assert done.code in (130, 0, -signal.SIGINT), done.err
    assert not done.traceback and not done.leaked_semaphores, done.err
    assert not done.orphans
    assert not list(tmp_path.rglob("*.tmp"))
    if done.code == 130:
        assert done.err.strip().endswith("nothing else was") or "interrupted" in done.err


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
@pytest.mark.parametrize("delay", [0.15, 0.35, 0.6, 0.85, 1.1])
def test_ctrl_c_while_the_figures_are_drawn_leaves_no_process(tmp_path: Path, delay: float) -> None:
    """One draw with plots: the signal lands during start-up, the computation (the figure
    helper importing matplotlib) or the drawing (the helper's children), depending on the
    delay; whichever, nothing of the command's session is left and no temporary file."""
    out = tmp_path / "out"
    done = run_initcli(
        ["run", str(CONFIGS / "mlp_tanh.yaml"), "--out", str(out)],
        timeout=120,
        interrupt_after=delay,
    )
    assert done.code in (130, 0, -signal.SIGINT), done.err
    assert not done.traceback, done.err
    assert not done.orphans
    assert not list(tmp_path.rglob("*.tmp"))
    pngs = sorted(p.name for p in out.rglob("*.png"))
    if done.code == 0:
        assert len(pngs) == 3


def test_session_scan_sees_a_live_process() -> None:
    """The orphan check is not vacuous: it finds a process of a session while it lives."""
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             start_new_session=True)  # fmt: skip
    try:
        assert child.pid in session_members(child.pid)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.pid not in session_members(child.pid)


@pytest.mark.parametrize("failure", ["interrupt", "error"])
def test_an_abandoned_seeds_run_joins_its_draws_and_restores_blas(
    monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """Ctrl-C (KeyboardInterrupt in the calling thread) or an error while draws run in
    threads: the running draws stop at their next step, all are joined before the exception
    propagates, and BLAS gets its thread count back."""
    from threadpoolctl import threadpool_info

    from initcli import experiment

    monkeypatch.setattr(experiment, "cores", lambda: 2)
    blas_before = [info["num_threads"] for info in threadpool_info()]
    spec = dense_stack_spec(40, 256, "tanh", 256)
    started: list[str] = []
    real = experiment.run_experiment

    def run_and_note(spec_: Any, options: RunOptions, on_step: Any = None) -> Any:
        started.append(threading.current_thread().name)
        if failure == "error" and options.seed == 1:
            raise ValueError("draw 1 failed")
        return real(spec_, options, on_step)

    def interrupt() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "run_experiment", run_and_note)
    expected = KeyboardInterrupt if failure == "interrupt" else ValueError
    with pytest.raises(expected):
        experiment.run_jobs([(spec, RunOptions(keep_samples=False))], 12, on_draw=interrupt)
    assert any(name.startswith("initcli-draw") for name in started)
    assert len(started) < 12  # queued draws never started
    assert not [t.name for t in threading.enumerate() if t.name.startswith("initcli-draw")]
    assert [info["num_threads"] for info in threadpool_info()] == blas_before
