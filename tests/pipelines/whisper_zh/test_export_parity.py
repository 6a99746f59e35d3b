"""whisper_zh's export parity: the CTranslate2 export against the merged model it was converted from."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset, DatasetDict

from peft_pipelines.pipelines.whisper_zh.nodes import check_export_parity
from peft_pipelines.project import Project
from peft_pipelines.speech.export_parity import TranscriptParitySettings, parity_failures
from peft_pipelines.training.export import (
    ExportParityError,
    record_export_verdict,
    require_export_parity,
)
from tests.scratch_project import PROJECT_ROOT
from tests.support import export_lookalike_adapter


def _audio(seconds: list[float], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32) for s in seconds]


def _figures(cer_merged: float, cer_exported: float, identical: int, n: int = 25) -> dict:
    return {
        "n": n,
        "cer": {"merged": cer_merged, "ctranslate2": cer_exported},
        "identical": identical,
        "identical_share": identical / n,
    }


@pytest.fixture(scope="module")
def whisper_parameters() -> dict:
    return Project.at(PROJECT_ROOT).parameters["whisper_zh"]


def test_the_report_holds_both_engines_figures_and_its_verdict(
    tmp_path, tiny_whisper_manifest, whisper_parameters
):
    _, merged, export = export_lookalike_adapter(tmp_path, tiny_whisper_manifest, "float32")
    corpus = DatasetDict(
        {
            "test": Dataset.from_dict(
                {"audio_16k": _audio([1.5, 2.0, 3.0], 0), "sentence": ["你好"] * 3}
            )
        }
    )
    recordings = Dataset.from_dict({"audio_16k": _audio([7.0], 1), "sentence": ["你好世界"]})
    # A random model decodes its whole budget: a few tokens keep the test quick.
    evaluation = {**whisper_parameters["evaluation"], "max_new_tokens": 6, "vad": None}
    report = check_export_parity(
        merged,
        export,
        tiny_whisper_manifest,
        corpus,
        recordings,
        whisper_parameters["model"],
        evaluation,
        {"quantization": "float32"},
    )
    assert report["quantization"] == "float32"
    assert report["clips"]["n"] == 3 and report["long_utterances"]["n"] == 1
    assert report["base_model_random"] is True  # every report says the figures are a random model's
    # A random model never ends its text, so its transcripts are not compared here (the greedy
    # ids of a float32 export are, in tests/training/test_export.py): the figures are.
    transcripts = report["clips"]["transcripts"]
    assert len(transcripts["merged"]) == len(transcripts["ctranslate2"]) == 3
    identical = sum(
        a == b for a, b in zip(transcripts["merged"], transcripts["ctranslate2"], strict=True)
    )
    assert report["clips"]["identical"] == identical
    assert all(rate > 0 for rate in report["clips"]["clips_per_second"].values())
    assert report["passed"] == (identical / 3 >= 0.96) == (report["failures"] == [])


def test_a_failing_report_stops_the_run_with_its_reason():
    report = {"passed": False, "failures": ["the CTranslate2 export at x: test clips: CER 0.130"]}
    with pytest.raises(ExportParityError, match="CER 0.130"):
        require_export_parity(record_export_verdict(report))


def test_a_quantized_export_fails_when_its_cer_moves_more_than_the_gap():
    settings = TranscriptParitySettings(max_cer_gap=0.02)
    close = parity_failures(_figures(0.10, 0.11, 10), _figures(0.15, 0.16, 1, 5), "int8", settings)
    assert close == []
    [line] = parity_failures(_figures(0.10, 0.13, 20), _figures(0.15, 0.16, 1, 5), "int8", settings)
    assert (
        line == "test clips: CER 0.130 against the merged model's 0.100 (export.max_cer_gap: 0.02)"
    )


def test_an_unquantized_export_must_agree_on_the_clips():
    settings = TranscriptParitySettings(min_identical_share=0.96)
    assert (
        parity_failures(_figures(0.1, 0.1, 24), _figures(0.2, 0.3, 0, 5), "float32", settings) == []
    )
    [line] = parity_failures(_figures(0.1, 0.1, 23), _figures(0.2, 0.2, 5, 5), "float32", settings)
    assert line.startswith("23 of 25 test clips' transcripts equal the merged model's")
