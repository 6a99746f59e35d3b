"""The engines benchmark runs end to end on a random tiny Whisper and prints every figure it promises."""

from __future__ import annotations

import re

import pytest

from tests.support import run_benchmark

pytestmark = pytest.mark.slow


def test_the_engines_benchmark_prints_each_engine_and_the_ratio():
    out = run_benchmark(
        "transcription_engines", "--reduced", "--clips", "3", "--max-new-tokens", "4"
    )
    assert "RANDOM-WEIGHT" in out
    for engine in ("(a) transformers", "(b) faster-whisper", "(c) ours, CTranslate2"):
        assert re.search(
            rf"{re.escape(engine)}.*: [\d.]+ clips/s \([\d.]+ s\), CER [\d.]+, "
            r"identical to \(b\): \d/3 \(\d+%\)",
            out,
        ), out
    assert "identical to (b): 3/3 (100%)" in out.splitlines()[2]  # (b) against itself
    assert re.search(r"^engine vs faster-whisper: [\d.]+x, CER [\d.]+ vs [\d.]+$", out, re.M), out
