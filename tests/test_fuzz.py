"""Fuzzing the whole command line (issue 16): >= 10,000 generated invocations.

Spec files (generated YAML, valid and broken), SPEC strings, shapes and flag combinations of
``run`` (incl. ``--seeds``), ``compare`` (incl. ``--seeds``, ``--config``, the stack flags),
``fans``, ``sample``, ``theory``, ``gain`` and ``recommend``. The bulk runs in-process through
:func:`initcli.cli.main` (draws serial there, so no pool is spawned 10,000 times); a few run
as real processes, some interrupted with SIGINT, to count orphans and leaked semaphores.

Counted: tracebacks (an exception escaping ``main``, or "Traceback" on stderr), hangs (an
invocation past its time bound, the up-front refusal being the only stop a job needs), exit
codes other than 0/1/2 (130 for the interrupted ones), orphans, leaked semaphores. All must
be 0, and a healthy share of invocations must succeed (exit 0).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from initcli import experiment
from initcli.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import run_initcli

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
IN_PROCESS = int(os.environ.get("INITCLI_FUZZ_EXAMPLES", "10000"))  # fewer: a quick look
CHUNKS = 4  # separate tests, so `pytest -n 2` runs them on both cores
TIME_BOUND = 20.0  # seconds for one in-process invocation; beyond it counts as a hang

GOOD_INITS = [
    "he_normal",
    "xavier",
    "glorot_uniform",
    "torch.kaiming_uniform",
    "keras.he_normal",
    "orthogonal(gain=1.41)",
    "lecun_normal",
    "jax.glorot_normal",
    "he_normal(mode=fan_out)",
    "random_normal(std=0.1)",
]
BAD_INITS = [
    "zeros",  # valid, but every variance 0
    "ones",
    "sparse(sparsity=0.5)",
    "he_normall",
    "random_normal(std=-1)",
    "orthogonal(gain=1))",
    "",
    " ",
    "(",
    "x(y=",
    "truncated_normal(std=1e308)",
    "random_uniform(minval=1,maxval=0)",
    "constant(value=nan)",
]
INITS = GOOD_INITS * 2 + BAD_INITS
ACTIVATIONS = ["relu", "tanh", "linear", "selu", "gelu", "sigmoid", "mish", "silu"] * 2 + [
    "leaky_relu(negative_slope=0.2)",
    "elu(alpha=-1)",
    "relux",
    "",
    "softplus(beta=0)",
    "hard_tanh(min_val=1,max_val=0)",
]
DTYPES = ["float32", "float64", "float32", "float64", "", "float16", "int8", "FLOAT32", "float32 "]
INTS = ["1", "2", "3", "-1", "0", "x", "", "1e3", "99999999999999999999", "2.5"]
SHAPES = ["8,4", "64,3,7,7", "4", "3x3x2", "(2, 3)", "[4,4]", "0,3", "-1,2", "", "a,b", "5,,3",
          "1,1,1,1,1,1", "99999999,99999999"]  # fmt: skip
SHIPPED = ["mlp_tanh", "mlp_sigmoid", "tcn_causal", "he2015_30layer", "cnn_relu"]  # the quick ones

dense = st.fixed_dictionaries(
    {"type": st.just("dense"), "units": st.sampled_from([1, 2, 3, 8, 4, 2, 0, -1, "x"])},
    optional={
        "activation": st.sampled_from(ACTIVATIONS),
        "init": st.sampled_from(INITS),
        "repeat": st.sampled_from([1, 2, 3, 1, 2, 3, 0, 20000]),
        "bias": st.booleans(),
    },
)
layer = st.one_of(
    dense,
    dense,
    dense,
    st.fixed_dictionaries(
        {"type": st.sampled_from(["conv1d", "conv2d"]), "filters": st.sampled_from([1, 2, 4])},
        optional={
            "kernel_size": st.sampled_from([1, 2, 3, 9, 0]),
            "stride": st.sampled_from([1, 2]),
            "padding": st.sampled_from(["same", "valid", "causal", 1]),
            "dilation": st.sampled_from([1, 2]),
            "activation": st.sampled_from(ACTIVATIONS),
        },
    ),
    st.just({"type": "flatten"}),
    st.just({"type": "attention"}),  # not (yet) a layer kind: refused
    st.just({"type": "dense", "unit": 3}),  # a misspelt key
)
network = st.fixed_dictionaries(
    {
        "input": st.fixed_dictionaries(
            {"shape": st.sampled_from([[4], [4], [2, 8], [1, 6, 6], [0], [3, 3, 3, 3], "x"])},
            optional={"distribution": st.sampled_from(["normal", "uniform", "cauchy"])},
        ),
        "layers": st.lists(layer, min_size=1, max_size=4),
    },
    optional={
        "batch": st.sampled_from([1, 2, 4, 0, "x"]),
        "init": st.sampled_from(INITS),
        "name": st.sampled_from(["fuzz", "a b", "../up", ""]),
    },
)


def _yaml(value: object) -> str:
    import yaml

    return yaml.safe_dump(value, sort_keys=False)


@st.composite
def invocation(draw: st.DrawFn, tmp: Path) -> tuple[list[str], str | None]:
    """One command line, and the YAML text to write at ``{spec}`` (None: no file)."""
    flags: list[str] = []

    def maybe(flag: str, values: list[str], p: float = 0.25) -> None:
        if draw(st.integers(0, 99)) < 100 * p:
            flags.extend([flag, draw(st.sampled_from(values))])

    def switch(flag: str, p: float = 0.3) -> None:
        if draw(st.integers(0, 99)) < 100 * p:
            flags.append(flag)

    command = draw(
        st.sampled_from(
            ["run"] * 6 + ["compare"] * 4 + ["fans", "sample", "theory", "gain", "recommend"]
        )
    )
    text: str | None = None
    long = False
    if command in ("run", "compare"):
        seeds = draw(st.sampled_from(["1"] * 12 + ["2", "3", "0", "-2", "2000", "x"]))
        flags += ["--seeds", seeds]
        maybe("--dtype", DTYPES, 0.3)
        maybe("--seed", ["0", "1", "7", "-1", "x"], 0.2)
        # plots are the slow part of a run; a few of them are enough
        if draw(st.integers(0, 999)) >= 5:  # 0.5% draw plots (~0.7 s each)
            flags.append("--no-plots")
        switch("--json", 0.3)
        switch("--force", 0.2)
        long = draw(st.integers(0, 99)) < 100 * 0.05 and seeds in ("1", "2", "3")
        if long:
            flags.append("--allow-long")  # only where the job is small anyway
    if command == "run":
        source = draw(st.sampled_from(["shipped"] + ["generated"] * 12 + ["missing", "dir"]))
        if long and source == "generated":
            source = "shipped"  # a generated `repeat: 20000` is a long job the user asked for
        if source == "shipped":
            config = str(CONFIGS / f"{draw(st.sampled_from(SHIPPED))}.yaml")
            flags += ["--batch", draw(st.sampled_from(["1", "2", "3", "0", "-5"]))]
        elif source == "generated":
            config, text = "{spec}", _yaml(draw(network))
            maybe("--batch", INTS, 0.3)
        elif source == "missing":
            config = str(tmp / "missing.yaml")
        else:
            config = str(CONFIGS)
        maybe("--init", INITS, 0.4)
        maybe("--bias-init", INITS, 0.2)
        switch("--no-grad", 0.2)
        return ["run", config, *flags, "--out", "{out}"], text
    if command == "compare":
        specs = draw(st.lists(st.sampled_from(INITS), min_size=1, max_size=3))
        # the default 20-deep stack is slow enough to dominate; stay shallow. With
        # --allow-long the user asked for a 100000-layer run: long, not a hang; leave it out.
        depths = ["1", "2", "3", "1", "2", "0", "x"]
        flags += ["--depth", draw(st.sampled_from(depths + ([] if long else ["100000"])))]
        if draw(st.integers(0, 99)) < 100 * 0.8:
            flags += ["--width", draw(st.sampled_from(["1", "2", "8", "0", "1000000000"]))]
        else:
            flags += ["--width", "4"]  # the default 512-wide, 20-deep stack costs too much
        if draw(st.integers(0, 99)) < 100 * 0.9:
            flags += ["--batch", draw(st.sampled_from(["1", "2", "4", "0", "-1"]))]
        maybe("--activation", ACTIVATIONS, 0.5)
        if draw(st.integers(0, 99)) < 100 * 0.15:
            flags += ["--config", "{spec}"]
            text = _yaml(draw(network))
        return ["compare", *specs, *flags, "--out", "{out}"], text
    if command == "fans":
        maybe("--layout", ["torch", "keras", "jax", "tf", ""], 0.4)
        switch("--json")
        return ["fans", "--shape", draw(st.sampled_from(SHAPES)), *flags], None
    if command == "sample":
        maybe("--layout", ["torch", "keras", "jax", "x"], 0.3)
        maybe("--seed", ["0", "3", "-1"], 0.2)
        switch("--json")
        shape = draw(st.sampled_from(SHAPES[:9]))
        return ["sample", draw(st.sampled_from(INITS)), "--shape", shape, *flags], None
    if command == "theory":
        maybe("--init", INITS, 0.5)
        maybe("--depth", INTS, 0.3)
        maybe("--sigma-w2", ["1", "2", "-1", "nan", "x"], 0.2)
        switch("--json")
        return ["theory", "--activation", draw(st.sampled_from(ACTIVATIONS)), *flags], None
    if command == "gain":
        switch("--json")
        return ["gain", draw(st.sampled_from(ACTIVATIONS)), *flags], None
    switch("--json")
    switch("--no-check", 0.95)  # the check runs a network; keep most of them quick
    return ["recommend", "--activation", draw(st.sampled_from(ACTIVATIONS)), *flags], None


class _Hang(Exception):
    pass


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _Hang


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_fuzz_the_command_line(chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """IN_PROCESS / CHUNKS generated invocations in-process (each chunk its own seed)."""
    # In-process draws run serially (a pool per invocation would cost 10,000 spawns); the
    # pool itself is fuzzed by the subprocess part below.
    monkeypatch.setattr(experiment, "cores", lambda: 1)
    counts: Counter[str] = Counter()
    failures: list[str] = []
    previous = signal.signal(signal.SIGALRM, _alarm)

    examples = -(-IN_PROCESS // CHUNKS)

    @seed(16_000 + chunk)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(invocation(tmp_path))
    def one(case: tuple[list[str], str | None]) -> None:
        args, text = case
        number = counts["total"]
        counts["total"] += 1
        out = tmp_path / "out" / str(number % 50)
        spec = tmp_path / f"spec{number % 50}.yaml"
        if text is not None:
            spec.write_text(text)
        args = [a.replace("{out}", str(out)).replace("{spec}", str(spec)) for a in args]
        stdout, stderr = io.StringIO(), io.StringIO()
        signal.setitimer(signal.ITIMER_REAL, TIME_BOUND)
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(args)
        except _Hang:
            counts["hangs"] += 1
            failures.append(f"hang: {args}")
            return
        except BaseException as err:  # anything escaping main is the bug
            counts["tracebacks"] += 1
            failures.append(f"{type(err).__name__}: {err!r} from {args}")
            return
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        err_text = stderr.getvalue()
        if "Traceback" in err_text:
            counts["tracebacks"] += 1
            failures.append(f"traceback on stderr from {args}: {err_text[-300:]}")
        if code not in (0, 1, 2):
            counts["bad_exit"] += 1
            failures.append(f"exit {code} from {args}")
        if code != 0 and err_text.count("\n") != 1:
            counts["not_one_line"] += 1
            failures.append(f"error of {err_text.count(chr(10))} lines from {args}: {err_text}")
        counts[f"exit{code}"] += 1

    try:
        one()
    finally:
        signal.signal(signal.SIGALRM, previous)

    counts["tmp_files"] = len(list(tmp_path.rglob(".*.tmp")))

    summary = ", ".join(
        f"{key} {counts[key]}"
        for key in ("total", "exit0", "exit1", "exit2", "tracebacks", "hangs", "bad_exit",
                    "not_one_line", "tmp_files")
    )  # fmt: skip
    print(f"fuzz chunk {chunk}: {summary}")
    Path(os.environ.get("INITCLI_FUZZ_REPORT", os.devnull)).write_text("\n".join(failures))
    assert not failures, "\n".join(failures[:20])
    assert not counts["tmp_files"]
    assert counts["total"] >= examples >= 1
    assert counts["exit0"] >= 0.1 * counts["total"], summary  # a healthy share succeeds
    assert counts["exit1"] > 0 and counts["exit2"] > 0, summary


@pytest.mark.slow
def test_fuzz_processes_pools_and_ctrl_c(tmp_path: Path) -> None:
    """Real processes: pools of --seeds, compare's one pool for all SPECs, SIGINT to the
    process group (a terminal's Ctrl-C) at several moments, from start-up to the pool."""
    counts: Counter[str] = Counter()
    failures: list[str] = []
    small = ["--no-plots", "--out", str(tmp_path / "proc")]
    process_cases = [
        (["run", str(CONFIGS / "mlp_tanh.yaml"), "--seeds", "4", *small], None),
        (["compare", "xavier", "he", "--depth", "4", "--seeds", "4", *small], None),
        (["run", str(CONFIGS / "mlp_relu.yaml"), "--dtype", "", "--seeds", "2", *small], None),
        (["compare", "xavier", "he", "--depth", "100000", "--width", "1", *small], None),
        (["run", str(CONFIGS / "mlp_tanh.yaml"), "--seeds", "10000", *small], None),
    ] + [
        (["run", str(CONFIGS / "mlp_tanh.yaml"), "--seeds", "16", *small], delay)
        for delay in (0.2, 0.5, 0.8, 1.2, 1.8)
    ] + [
        (["compare", "xavier", "he", "orthogonal", "--seeds", "8", *small], delay)
        for delay in (0.6, 1.5)
    ]  # fmt: skip
    for args, delay in process_cases:
        counts["processes"] += 1
        done = run_initcli(args, timeout=120, interrupt_after=delay)
        if done.code is None:
            counts["hangs"] += 1
            failures.append(f"process hang: {args}")
        # Interrupted: 130, or death by SIGINT itself (-2) when the signal lands while the
        # interpreter has no Python handler (start-up, finalization); a shell shows both as 130.
        elif done.code not in ((0, 1, 2, 130, -signal.SIGINT) if delay else (0, 1, 2)):
            counts["bad_exit"] += 1
            failures.append(f"process exit {done.code} from {args}: {done.err[-300:]}")
        if done.traceback:
            counts["tracebacks"] += 1
            failures.append(f"process traceback from {args}: {done.err[-500:]}")
        if done.leaked_semaphores:
            counts["leaked_semaphores"] += 1
            failures.append(f"leaked semaphores from {args}: {done.err[-300:]}")
        if done.orphans:
            counts["orphans"] += len(done.orphans)
            failures.append(f"orphans {done.orphans} from {args}")
    counts["tmp_files"] = len(list(tmp_path.rglob(".*.tmp")))
    summary = ", ".join(
        f"{key} {counts[key]}"
        for key in ("processes", "tracebacks", "hangs", "orphans", "leaked_semaphores",
                    "bad_exit", "tmp_files")
    )  # fmt: skip
    print(f"fuzz processes: {summary}")
    assert not failures, "\n".join(failures)
    assert not counts["tmp_files"]
