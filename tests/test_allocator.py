"""The console program's malloc setting (initcli.allocator): freed tensors are reused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from initcli import cli
from initcli.allocator import is_glibc

MLP_TANH = str(Path(__file__).resolve().parent.parent / "configs" / "mlp_tanh.yaml")


glibc = pytest.mark.skipif(not is_glibc(), reason="mallopt is glibc's")

# Allocate, touch and free a 40 MiB array ten times (past glibc's largest mmap threshold,
# so by default each one is a fresh mmap); print the minor page faults of the ten rounds.
PROBE = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    if sys.argv[1] == "keep":
        from initcli.allocator import keep_freed_memory
        assert keep_freed_memory()
    a = np.empty(10 * 2**20, dtype=np.float32); a.fill(1); del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        a = np.empty(10 * 2**20, dtype=np.float32); a.fill(1); del a
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@glibc
def test_freed_arrays_are_reused_without_new_page_faults() -> None:
    default, kept = _faults("default"), _faults("keep")
    assert default >= 100  # each round faults its pages in again (4 KiB or 2 MiB pages)
    assert kept <= default // 20


def _raise_system_exit(code: int) -> None:
    raise SystemExit(code)


@pytest.mark.parametrize("command", [["run", MLP_TANH], ["compare", "he"]])
def test_only_the_console_program_changes_the_allocator(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr("initcli.allocator.keep_freed_memory", lambda: calls.append(True))
    monkeypatch.setattr(cli, "_leave", _raise_system_exit)  # not os._exit: this is pytest
    common = ["--no-plots", "--json", "--out", str(tmp_path)]
    assert cli.main([*command, *common, "--batch", "8"]) == 0  # a host process: untouched
    assert calls == []
    monkeypatch.setattr(sys, "argv", ["initcli", *command, *common, "--batch", "8"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code in (0, None)
    assert calls == [True]
    calls.clear()
    monkeypatch.setattr(sys, "argv", [*sys.argv, "--seeds", "2"])  # threads: malloc untouched
    with pytest.raises(SystemExit):
        cli.main()
    assert calls == []
