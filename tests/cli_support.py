"""Running swapcam's commands as a user does, and the check that a user mistake gets exactly one clear line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from faces.cli import USER_ERROR

ROOT = Path(__file__).resolve().parents[1]


def ctrl_c_as_from_a_terminal() -> None:
    """Popen's preexec_fn for a child that a test will Ctrl-C: SIGINT back to its default. A shell that runs the
    suite in the background without job control (`bash .ci/run &` in a script) hands SIGINT down ignored, and a
    Python child then never sees it: run_live played its whole clip on (stop 30's clean-clone CI, twice)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_module(module: str, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS...` in the repository, as a separate process; output captured as text."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def run_live(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python run_live.py ARGS...` as a separate process."""
    return subprocess.run([sys.executable, str(ROOT / "run_live.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def assert_one_line_error(code: int, stderr: str, prog: str, *words: str, alone: bool = True) -> str:
    """Exit status USER_ERROR, no traceback, exactly one `PROG: error: ...` line holding every word; returns it.

    `alone`: that line is all of stderr (False lets log lines printed before the mistake showed stand).
    """
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"{prog}: error:")]
    assert code == USER_ERROR, stderr
    assert "Traceback" not in stderr and len(errors) == 1, stderr
    if alone:
        assert lines == errors, stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def assert_process_error(result: subprocess.CompletedProcess, prog: str, *words: str, alone: bool = True) -> str:
    """`assert_one_line_error` for a finished process (its stdout must be empty too when `alone`)."""
    line = assert_one_line_error(result.returncode, result.stderr, prog, *words, alone=alone)
    if alone:
        assert result.stdout == "", result.stdout
    return line
