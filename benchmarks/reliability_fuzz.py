"""The request fuzzing figure of the reliability results: what tests/serving/test_fuzz.py prints."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field

from benchmarks.api_setup import REPO


@dataclass
class Fuzz:
    """What tests/serving/test_fuzz.py printed: cases per operation, total, pass/fail."""

    ran: bool
    passed: bool = False
    total: int = 0
    cases: dict[str, int] = field(default_factory=dict)
    summary: str = "not run"
    seconds: float = 0.0


FUZZ_LINE = re.compile(r"fuzz cases: (\{.*\}), total (\d+)")


def fuzz_cases(timeout: float = 1800.0) -> Fuzz:
    """Run the fuzz suite in a subprocess and parse the `fuzz cases: {...}, total N` line."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/serving/test_fuzz.py",
        "-q",
        "-rP",
        "-p",
        "no:cacheprovider",
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return Fuzz(ran=False, summary=f"not run: no result after {timeout:.0f} s")
    seconds = time.perf_counter() - started
    found = FUZZ_LINE.search(done.stdout)
    lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
    summary = lines[-1] if lines else f"exit status {done.returncode}"
    if found is None:
        return Fuzz(ran=False, passed=done.returncode == 0, summary=summary, seconds=seconds)
    try:
        cases = {str(k): int(v) for k, v in ast.literal_eval(found.group(1)).items()}
    except (ValueError, SyntaxError):
        cases = {}
    return Fuzz(
        ran=True,
        passed=done.returncode == 0,
        total=int(found.group(2)),
        cases=cases,
        summary=summary,
        seconds=seconds,
    )
