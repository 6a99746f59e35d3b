"""The features' fingerprint: what identifies the output (input, processor, settings), not how it is batched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from transformers import WhisperProcessor

from peft_pipelines.speech.nodes import extract_features_and_labels

MODEL = {"language": "zh", "task": "transcribe"}
FEATURES = {"max_label_tokens": 448, "batch_size": 2}
WINDOW = {"frames": 3000}


@pytest.fixture(scope="module")
def processor(processor_dir) -> WhisperProcessor:
    return WhisperProcessor.from_pretrained(processor_dir)


def _corpus(sentences: list[str]) -> DatasetDict:
    rows = {
        "path": [f"clip{i}.mp3" for i in range(len(sentences))],
        "sentence": sentences,
        "audio_16k": [np.sin(np.arange(8000 + 800 * i) / 9).astype(np.float32) for i in range(3)],
        "duration_s": [0.5 + 0.05 * i for i in range(3)],
    }
    return DatasetDict({"train": Dataset.from_dict(rows)})


def _fingerprint(
    corpus: DatasetDict, processor: WhisperProcessor, folder: Path, **changes: Any
) -> str:
    """The fingerprint datasets records in the saved features' state.json (what a later run reads)."""
    model = {**MODEL, **changes.pop("model", {})}
    features, _ = extract_features_and_labels(
        corpus, processor, model, {**FEATURES, **changes}, WINDOW
    )
    saved = folder / f"features-{len(list(folder.iterdir()))}"
    features["train"].save_to_disk(str(saved))
    return json.loads((saved / "state.json").read_text())["_fingerprint"]


def test_the_same_input_and_settings_give_the_same_fingerprint_however_batched(processor, tmp_path):
    corpus = _corpus(["你好", "谢谢", "再见"])
    first = _fingerprint(corpus, processor, tmp_path)
    assert _fingerprint(corpus, processor, tmp_path) == first
    assert _fingerprint(corpus, processor, tmp_path, batch_size=3) == first


@pytest.mark.parametrize(
    "change",
    [{"max_label_tokens": 100}, {"model": {"language": "en"}}, {"model": {"task": "translate"}}],
)
def test_a_setting_that_changes_the_output_changes_the_fingerprint(processor, tmp_path, change):
    corpus = _corpus(["你好", "谢谢", "再见"])
    changed = _fingerprint(corpus, processor, tmp_path, **change)
    assert changed != _fingerprint(corpus, processor, tmp_path)


def test_other_input_rows_give_another_fingerprint(processor, tmp_path):
    first = _fingerprint(_corpus(["你好", "谢谢", "再见"]), processor, tmp_path)
    assert _fingerprint(_corpus(["你好", "谢谢", "明天见"]), processor, tmp_path) != first
