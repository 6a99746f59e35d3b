"""The data-stage and evaluation benchmarks run end to end on small inputs and print their figures."""

from __future__ import annotations

import re

import pytest

from tests.support import run_benchmark

pytestmark = pytest.mark.slow


def test_throughput_prints_both_rates_and_their_ratio():
    out = run_benchmark("data_stages_throughput", "--times", "1")
    assert re.search(r"\(a\) seed's way .*: [\d.]+ s, \d+ audio-s/s, 960,\d{3} bytes/clip", out), (
        out
    )
    assert re.search(r"\(b\) ours .*: [\d.]+ s, \d+ audio-s/s", out), out
    assert re.search(r"ratio ours/seed: [\d.]+x", out), out


def test_memory_prints_peak_growth_per_scale_and_the_ratio():
    out = run_benchmark("data_stages_memory", "--scales", "1", "2")
    assert re.search(r"1x:\s+550 clips .* growth \d+ MiB; disk [\d.]+ MiB", out), out
    assert re.search(r"2x:\s+1100 clips", out), out
    assert re.search(
        r"peak growth 2x/1x: [\d.]+ \(target < 1.5\); disk 2.0x for 2x the clips", out
    ), out


def test_eval_throughput_compares_batched_and_one_by_one_on_the_same_transcripts():
    out = run_benchmark("eval_throughput", "--reduced", "--times", "1", "--max-new-tokens", "8")
    assert "RANDOM-WEIGHT" in out
    assert re.search(r"ratio batched/one-by-one: [\d.]+x; identical transcripts: \d+/25", out), out
