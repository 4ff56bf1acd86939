"""The ``initcli`` command line: parse, call the library, render. Nothing imports this module.

Each command lives in ``initcli/commands/<name>.py`` and is registered here. Commands import
heavy libraries (matplotlib, scipy) inside their bodies, so ``initcli fans`` starts fast.
Every user-fixable failure is an :class:`~initcli.errors.InitcliError`; :func:`main` turns it
(and Typer's own usage errors) into one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from typing import NoReturn

import typer
from click import exceptions as click_errors

from initcli.commands import register_all
from initcli.errors import EXIT_BAD_DATA, EXIT_BAD_USAGE, InitcliError

app = typer.Typer(
    name="initcli",
    help="Explore neural-network initialization statistics: initializers, fans, gains, "
    "and how variance flows forward and backward through a network at step 0.\n\n"
    "Example: initcli run configs/mlp_tanh.yaml --init glorot_uniform (then initcli "
    "COMMAND --help for each command's own example).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from initcli import __version__

        print(f"initcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Explore neural-network initialization statistics: initializers, fans, gains, and how
    variance flows forward and backward through a network at step 0."""


register_all(app)


def _error_line(message: str) -> None:
    prefix = "initcli: error: "
    if sys.stderr.isatty() and "NO_COLOR" not in os.environ:
        prefix = "\x1b[1;31minitcli: error:\x1b[0m "
    print(prefix + message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code. ``argv`` None means the console
    program (``initcli``, ``python -m initcli``): it reads sys.argv, may fork its figure
    helper and set malloc, and ends the process itself (:func:`_leave`); a host process
    passes its arguments as a list."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # Only the console program may fork helpers (initcli.forked): a host process that
        # calls main() may have threads of its own, which fork does not copy.
        invocation = {"owns_process": argv is None}
        result = app(args=args, prog_name="initcli", standalone_mode=False, obj=invocation)
    except InitcliError as err:
        _error_line(err.message)
        return _exit(err.exit_code, argv)
    except click_errors.Exit as err:
        return _exit(err.exit_code, argv)
    except (click_errors.Abort, KeyboardInterrupt):
        _error_line("interrupted; files already written are complete, nothing else was")
        return _exit(130, argv)
    except click_errors.UsageError as err:  # unknown option, bad value, missing argument
        context = err.ctx
        if type(err).__name__ == "NoArgsIsHelpError" and context is not None:
            print(context.get_help())
            return _exit(EXIT_BAD_USAGE, argv)
        command = context.command_path if context is not None else "initcli"
        # click and typer each add "Did you mean 'run'?" to an unknown command: say it once
        message = re.sub(r"( Did you mean [^?]*\?)\1+", r"\1", err.format_message())
        _error_line(f"{message} (see '{command} --help')")
        return _exit(err.exit_code, argv)
    except click_errors.ClickException as err:
        _error_line(err.format_message())
        return _exit(err.exit_code, argv)
    except BrokenPipeError:  # `initcli list | head`: the reader left; not an error of ours
        _silence_stdout()
        return _exit(0, argv)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            raise
        # stdout on a full disk (`initcli list > /dev/full`); files go through outputs.py
        _silence_stdout()
        _error_line(f"cannot write the output: {err.strerror}")
        return _exit(EXIT_BAD_DATA, argv)
    code = result if isinstance(result, int) else 0
    if code == 130:  # Typer turns Ctrl-C into exit code 130 and returns it
        _error_line("interrupted; files already written are complete, nothing else was")
    return _exit(code, argv)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:  # called as the console script
        _leave(code)
    return code


def _leave(code: int) -> NoReturn:
    """End the console program without the interpreter's teardown of every module and
    object: 80 ms of a 0.3 s ``run --no-plots`` (strace: no system call between the last
    atexit handler and the first munmap) and 17 ms of a 0.1 s ``fans``. Everything initcli
    writes is closed by now; what the teardown would still do is run the atexit handlers
    (logging's flush, weakref finalizers: run here) and flush stdout and stderr (done here).
    A reader that has left (``| head``) is no error; any other failed flush (a full disk) is
    one line and exit code 1. Under a profiler or tracer (``python -m cProfile -m initcli``,
    coverage, a debugger), which write their results at exit, the usual exit instead."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        raise SystemExit(code)
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"initcli: error: cannot write the output: {reason}\n")
        code = code or EXIT_BAD_DATA
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)
