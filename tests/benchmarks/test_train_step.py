"""The training step benchmark runs in reduced mode and prints both windows' cost and their ratio."""

from __future__ import annotations

import re

import pytest

from tests.support import run_benchmark

pytestmark = pytest.mark.slow


def test_train_step_prints_seconds_per_step_for_both_windows_and_their_ratio():
    out = run_benchmark("train_step", "--reduced")
    assert "RANDOM-WEIGHT" in out, out
    seed_way = re.search(r"\(a\) seed's 30 s padded window\s+80 x 3000\s+([\d.]+)", out)
    ours = re.search(r"\(b\) ours, 5 s window\s+80 x 500\s+([\d.]+)", out)
    ratio = re.search(r"ratio 30 s / 5 s: ([\d.]+)x", out)
    assert seed_way and ours and ratio, out
    assert float(seed_way.group(1)) > 0, out
    assert float(ours.group(1)) > 0, out
    assert float(ratio.group(1)) > 0, out
