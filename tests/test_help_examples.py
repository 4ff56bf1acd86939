"""Every example a command's --help prints runs as printed (from the repository's root, with
its configs/ and examples/), so a newcomer's first copy-paste works."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from initcli.cli import app, main

ROOT = Path(__file__).resolve().parent.parent


def help_examples() -> list[tuple[str, list[str]]]:
    """(command, argv) for each ``Example:`` (and ``also:``) command line in the docstrings."""
    found = []
    for command in app.registered_commands:
        doc = " ".join((command.callback.__doc__ or "").split())  # type: ignore[union-attr]
        match = re.search(r"Example: (.*)", doc)
        assert match, f"initcli {command.name} --help has no example"
        text = match.group(1).replace("(also:", ";").rstrip(")")
        for line in re.split(r";|&&", text):
            words = shlex.split(line.strip())
            if words:
                assert words[0] == "initcli", line
                found.append((str(command.name), words[1:]))
    return found


EXAMPLES = help_examples()


def test_every_command_has_an_example() -> None:
    assert {name for name, _ in EXAMPLES} == {c.name for c in app.registered_commands}


@pytest.mark.parametrize(("command", "argv"), EXAMPLES, ids=[" ".join(a) for _, a in EXAMPLES])
def test_a_help_example_runs_as_printed(
    command: str, argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "torch_models.py" in " ".join(argv):
        pytest.importorskip("torch")
    for folder in ("configs", "examples"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    monkeypatch.chdir(tmp_path)
    if argv[0] == "run" and argv[1] == "spec.yaml":  # the second half of convert's example
        assert main(["convert", "examples/keras_cnn.json", "-o", "spec.yaml"]) == 0
    assert main(argv) == 0
