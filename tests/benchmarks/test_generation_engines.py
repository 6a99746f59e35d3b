"""The generation engines benchmark runs end to end on a random tiny OPT and prints every figure it promises."""

from __future__ import annotations

import re

import pytest

from tests.support import run_benchmark

pytestmark = pytest.mark.slow

NUMBER = r"[\d.]+"
ENGINE_LINE = (
    rf": {NUMBER} tokens/s \(\d+ tokens, {NUMBER} s\), "
    rf"held-out perplexity {NUMBER} \(gap [+-]{NUMBER}%\)$"
)


def test_the_generation_benchmark_prints_each_engine_agreement_and_the_ratios():
    out = run_benchmark("generation_engines", "--reduced", "--max-new-tokens", "4")
    assert "RANDOM-WEIGHT" in out
    assert re.search(
        rf"^reference, merged float32 \(transformers\): held-out perplexity {NUMBER}$", out, re.M
    ), out
    for engine in (
        "(a) PeftModel 8-bit (transformers)",
        "(b) CTranslate2 int8 (Generator)",
        "(c) CTranslate2 float32 (Generator)",
    ):
        assert re.search(rf"^{re.escape(engine)}{ENGINE_LINE}", out, re.M), out
    assert "leading 16 greedy tokens identical to (a), per prompt:" in out
    # One line per generation prompt of conf/base (three), each side at most 4 tokens.
    agreement = re.findall(r"^  '.+': \(b\) [0-4]/[0-4], \(c\) [0-4]/[0-4]$", out, re.M)
    assert len(agreement) == 3, out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"engine vs PeftModel 8-bit: {NUMBER}x \(int8\), {NUMBER}x \(float32\)", last
    ), out
