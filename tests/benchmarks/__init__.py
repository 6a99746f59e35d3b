"""Tests that keep the benchmark scripts working (their figures are not asserted: they are measurements)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def run_benchmark(name: str, *args: str) -> str:
    """Run ``python -m benchmarks.<name> *args`` from the checkout; its stdout (fails on a non-zero exit)."""
    run = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout
