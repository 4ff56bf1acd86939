"""initcli.forked: jobs in forked children, and the figure helper of ``initcli run``.

Every test checks that no child of this process is left afterwards (/proc), whichever way
the jobs ended: the module's promise is that a child never outlives the call that made it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from initcli.errors import EXIT_BAD_USAGE, InitcliError
from initcli.forked import helper_process, run_side_by_side
from tests.processes import children_of, run_initcli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc")

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _live_children() -> set[int]:
    return children_of(os.getpid(), zombies=True)  # a child not waited for is a leak


@pytest.fixture(autouse=True)
def no_child_left() -> object:
    before = _live_children()
    yield
    assert _live_children() - before == set()


def _pid() -> int:
    return os.getpid()


def _square(value: int) -> int:
    return value * value


def _raise_initcli() -> int:
    raise InitcliError("bad.yaml:3: units: -1 is not a positive integer", EXIT_BAD_USAGE)


def _raise_bug() -> int:
    raise ZeroDivisionError("division by zero in a figure")


def _sleep_long() -> int:
    time.sleep(60)
    return 0


def test_results_come_back_in_order_from_other_processes() -> None:
    jobs: list[Callable[[], int]] = [_pid, _pid, _pid, lambda: _square(7)]
    first, second, third, square = run_side_by_side(jobs)
    assert first == os.getpid()  # the first job runs here
    assert len({first, second, third}) == 3  # each other job in its own child
    assert square == 49


def test_without_parallel_every_job_runs_here() -> None:
    assert run_side_by_side([_pid, _pid], parallel=False) == [os.getpid()] * 2


def test_a_childs_initcli_error_keeps_its_message_and_exit_code() -> None:
    with pytest.raises(InitcliError) as caught:
        run_side_by_side([_pid, _raise_initcli])
    assert caught.value.message == "bad.yaml:3: units: -1 is not a positive integer"
    assert caught.value.exit_code == EXIT_BAD_USAGE


def test_a_crash_in_a_child_names_its_type_and_message() -> None:
    with pytest.raises(RuntimeError, match="ZeroDivisionError: division by zero in a figure"):
        run_side_by_side([_pid, _raise_bug, _pid])


def test_a_failure_here_stops_and_reaps_the_children_still_running() -> None:
    start = time.monotonic()
    with pytest.raises(ZeroDivisionError):
        run_side_by_side([lambda: 1 // 0, _sleep_long, _sleep_long])
    # SIGTERM ended the sleeping children (a hang guard, not a speed measurement)
    assert time.monotonic() - start < 30


def _stop_round_after_round(rounds: int) -> None:
    # A single SIGTERM was lost to a child about to block (2-4 times in 300 rounds of two
    # children): forked._stop repeats it. Each round is a hang guard, not a timing.
    for _ in range(rounds):
        start = time.monotonic()
        with pytest.raises(ZeroDivisionError):
            run_side_by_side([lambda: 1 // 0, _sleep_long, _sleep_long])
        assert time.monotonic() - start < 20


def test_sleeping_children_stop_at_once_round_after_round() -> None:
    _stop_round_after_round(50)


@pytest.mark.slow
def test_sleeping_children_stop_at_once_over_many_rounds() -> None:
    _stop_round_after_round(500)  # without the repeat, ~95% of such runs had a 60 s round


def test_the_helper_prepares_and_answers_in_its_own_process(tmp_path: Path) -> None:
    marker = tmp_path / "prepared"

    def prepare() -> None:
        marker.write_text(str(os.getpid()))

    with helper_process(prepare) as helper:
        assert helper.forked
        answer = helper.call(_pid)
    assert answer != os.getpid()
    assert marker.read_text() == str(answer)  # prepare ran in the child that answered


def test_a_helper_never_called_is_stopped_and_reaped() -> None:
    start = time.monotonic()
    with helper_process(lambda: time.sleep(60)) as helper:
        assert helper.forked
    assert time.monotonic() - start < 30  # SIGTERM interrupted prepare


def test_a_helper_whose_prepare_failed_says_why_when_called() -> None:
    def prepare() -> None:
        raise ImportError("No module named 'matplotlib'")

    with helper_process(prepare) as helper, pytest.raises(RuntimeError, match="matplotlib"):
        helper.call(_pid)


def _wait_until(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_helper_says_when_it_has_prepared(tmp_path: Path) -> None:
    go = tmp_path / "go"

    def prepare() -> None:
        if not _wait_until(go.exists):
            raise RuntimeError("the test never let prepare finish")

    with helper_process(prepare) as helper:
        assert not helper.prepared()
        time.sleep(0.05)
        assert not helper.prepared()  # asking again does not wait, nor lie
        go.write_text("")
        assert _wait_until(helper.prepared)
        assert helper.prepared()  # stays so
        assert helper.call(_square, 6) == 36


def test_a_helper_whose_prepare_failed_counts_as_prepared() -> None:
    """Nothing competes for the cores any more; the failure itself is said by receive()."""

    def prepare() -> None:
        raise ImportError("No module named 'matplotlib'")

    with helper_process(prepare) as helper:
        assert _wait_until(helper.prepared)
        with pytest.raises(RuntimeError, match="matplotlib"):
            helper.call(_pid)


def test_a_disabled_helper_is_prepared_at_once() -> None:
    with helper_process(lambda: time.sleep(60), enabled=False) as helper:
        assert helper.prepared()


def test_a_disabled_helper_calls_in_this_process() -> None:
    prepared: list[int] = []
    with helper_process(lambda: prepared.append(os.getpid()), enabled=False) as helper:
        assert not helper.forked
        assert helper.call(_square, 5) == 25
    assert prepared == [os.getpid()]


def _length(payload: bytes) -> int:
    return len(payload)


def test_send_hands_a_large_call_over_while_the_helper_still_prepares(tmp_path: Path) -> None:
    """initcli run prints its tables while the figures are drawn: send() must not wait for
    the helper's matplotlib import, also for a call larger than a default pipe (64 KiB)."""
    sent = tmp_path / "sent"

    def prepare() -> None:  # ends only once the caller's send() has returned
        deadline = time.monotonic() + 20
        while not sent.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("send() did not return while the helper was preparing")
            time.sleep(0.01)

    payload = b"x" * 300_000
    with helper_process(prepare) as helper:
        assert helper.forked
        helper.send(_length, payload)
        sent.write_text("")
        assert helper.receive() == len(payload)


def test_a_disabled_helper_runs_the_sent_call_when_asked_for_its_answer() -> None:
    order: list[str] = []
    with helper_process(lambda: order.append("prepare"), enabled=False) as helper:
        helper.send(order.append, "call")
        order.append("went on")
        assert helper.receive() is None
    assert order == ["went on", "prepare", "call"]


@pytest.mark.parametrize("enabled", [True, False])
def test_a_helper_takes_one_call(enabled: bool) -> None:
    with helper_process(lambda: None, enabled=enabled) as helper:
        with pytest.raises(RuntimeError, match="no call"):
            helper.receive()
        helper.send(_square, 3)
        with pytest.raises(RuntimeError, match="one call"):
            helper.send(_square, 4)
        assert helper.receive() == 9


def test_a_helpers_initcli_error_reaches_the_caller() -> None:
    with helper_process(lambda: None) as helper, pytest.raises(InitcliError, match=r"bad\.yaml"):
        helper.call(_raise_initcli)


def test_main_called_in_process_never_forks(
    cli: Callable[..., object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host process calling main() may have threads that fork would not copy."""

    def refuse_fork() -> int:
        raise AssertionError("initcli forked inside a host process")

    monkeypatch.setattr(os, "fork", refuse_fork)
    result = cli("run", str(CONFIGS / "mlp_tanh.yaml"), "--out", str(tmp_path))
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    assert len(list(tmp_path.rglob("*.png"))) == 3


@pytest.mark.parametrize(
    "config, batch", [("mlp_tanh.yaml", "512"), ("he2015_30layer.yaml", "64")]
)  # all 10 layers' histograms; 8 of 30 (the helper is sent only those 8 layers' samples)
def test_the_console_program_draws_the_same_figures_as_in_process(
    cli: Callable[..., object], tmp_path: Path, config: str, batch: str
) -> None:
    """The forked helper (console program) and the in-process path write identical PNGs."""
    args = ["run", str(CONFIGS / config), "--seed", "3", "--batch", batch]
    done = run_initcli([*args, "--out", str(tmp_path / "forked")], timeout=120)
    assert done.code == 0, done.err
    assert not done.orphans
    result = cli(*args, "--out", str(tmp_path / "here"))
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    forked = sorted((tmp_path / "forked").rglob("*.png"))
    here = sorted((tmp_path / "here").rglob("*.png"))
    assert [p.name for p in forked] == [
        "activation_histograms.png",
        "gradient_histograms.png",
        "variance_by_layer.png",
    ]
    assert [p.name for p in here] == [p.name for p in forked]
    for a, b in zip(forked, here, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_a_fork_that_fails_leaves_no_pipe_open(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise OSError("fork: resource temporarily unavailable")

    before = sorted(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fork", no_fork)
    with pytest.raises(OSError, match="fork"), helper_process(lambda: None):
        pass
    assert sorted(os.listdir("/proc/self/fd")) == before
