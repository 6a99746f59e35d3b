"""benchmarks/gpu_full_scale.py keeps working: its CPU mode trains both models in 8-bit with the seed's LoRA."""

from __future__ import annotations

import json

from tests.support import run_benchmark


def test_the_reduced_mode_trains_both_models_and_counts_the_seeds_lora_parameters(tmp_path):
    figures = tmp_path / "figures.json"
    out = run_benchmark("gpu_full_scale", "--reduced", "--json", str(figures))
    results = {r["model"].split(" ")[0]: r for r in json.loads(figures.read_text())["results"]}
    assert set(results) == {"whisper-large-v2", "opt-6.7b"}
    whisper, opt = results["whisper-large-v2"], results["opt-6.7b"]
    assert (whisper["batch_size"], opt["batch_size"]) == (64, 4)  # the seed's batch sizes
    # The full-size models wrapped with the seed's LoRA have exactly the seed's trainable counts.
    assert whisper["full_size_trainable_parameters"] == 1_966_080
    assert opt["full_size_trainable_parameters"] == 8_388_608
    # Tiny configs: r x (in + out) per adapted projection. Whisper d_model 64, r 4, q and v
    # of 2 encoder self-attentions and 2 decoder self- plus 2 cross-attentions.
    assert whisper["trainable_parameters"] == 4 * (64 + 64) * 2 * (2 + 4)
    # OPT hidden 64, r 8, q/k/v/out of 2 layers.
    assert opt["trainable_parameters"] == 8 * (64 + 64) * 4 * 2
    for result in (whisper, opt):
        assert result["steps"] == 2
        assert result["seconds_per_step"] > 0 and result["peak_memory_gb"] > 0
    assert "seed on one T4: 62.4 s/step" in out
