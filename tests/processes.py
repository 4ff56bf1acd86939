"""Run ``initcli`` in its own session and account for every process it started.

A command runs as the leader of a new session (``start_new_session``), so each process it
starts (pool workers, multiprocessing's resource tracker) carries its session id until it
exits; after the command returns, a scan of /proc for that session id finds any orphan.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Finished:
    code: int | None  # None: still running at the time bound (a hang), then killed
    err: str
    orphans: list[int]  # processes of the command's session alive after it returned
    seconds: float

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.err

    @property
    def leaked_semaphores(self) -> bool:
        return "leaked semaphore" in self.err or "resource_tracker" in self.err


def _processes() -> list[tuple[int, str, int, int]]:
    """(pid, state, parent pid, session id) of every process (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found.append((int(entry), fields[0], int(fields[1]), int(fields[3])))
    return found


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session id is ``sid``."""
    return [pid for pid, state, _, session in _processes() if session == sid and state != "Z"]


def children_of(parent: int, zombies: bool = False) -> set[int]:
    """Children of ``parent``; with ``zombies``, also those that ended and were not waited for."""
    return {
        pid for pid, state, ppid, _ in _processes() if ppid == parent and (zombies or state != "Z")
    }


def run_initcli(
    args: list[str],
    timeout: float,
    interrupt_after: float | None = None,
    env: dict[str, str] | None = None,
) -> Finished:
    """``python -m initcli ARGS`` in a new session; SIGINT to its process group after
    ``interrupt_after`` seconds (as a terminal's Ctrl-C does), killed at ``timeout``."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    start = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "initcli", *args],
        cwd=REPO,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    sid = child.pid
    code: int | None
    try:
        if interrupt_after is not None:
            try:
                child.wait(interrupt_after)
            except subprocess.TimeoutExpired:
                os.killpg(sid, signal.SIGINT)
        _, err = child.communicate(timeout=timeout)
        code = child.returncode
    except subprocess.TimeoutExpired:
        os.killpg(sid, signal.SIGKILL)
        _, err = child.communicate()
        code = None
    seconds = time.monotonic() - start
    orphans: list[int] = []
    deadline = time.monotonic() + 3.0  # the tracker exits once the parent's pipe closes
    while (orphans := session_members(sid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in orphans:  # leave nothing behind, whatever the test concludes
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return Finished(code, err, orphans, seconds)
