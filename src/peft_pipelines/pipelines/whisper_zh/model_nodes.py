"""Model stages of ``whisper_zh``: base model -> LoRA (or any PEFT method) -> training -> CER/WER.

The loading, wrapping and fitting are the shared training core
(:mod:`peft_pipelines.training`); these nodes add what is Whisper's own.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from datasets import DatasetDict
from peft import PeftModel
from tqdm.auto import tqdm
from transformers import WhisperProcessor

from peft_pipelines.speech.collator import collator_for
from peft_pipelines.speech.metrics import NORMALISER, character_error_rate, word_error_rate
from peft_pipelines.speech.tiny_whisper import build_tiny_whisper
from peft_pipelines.speech.transcribe import generate_transcripts
from peft_pipelines.training.nodes import base_model_manifest, fit_adapter, report_provenance

logger = logging.getLogger(__name__)

RANDOM_BASE_NOTE = (
    "The base model has random weights (no pretrained Whisper is available offline): "
    "these error rates prove the mechanics of 8-bit loading, LoRA, training and evaluation, not accuracy."
)


def describe_base_model(base_model: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The manifest of the base model (see :class:`peft_pipelines.io.BaseModelDataset`).

    With ``base_model["init"] == "random_tiny"`` the tiny random Whisper is
    (re)built first into ``base_model["name_or_path"]``, deterministically from
    ``base_model["random_tiny"]`` (seed and ``WhisperConfig`` fields) and the
    processor in ``model["processor"]``. Otherwise ``name_or_path`` is a
    pretrained checkpoint (a Hub id such as ``openai/whisper-large-v2``, or a folder).
    """
    random_weights = base_model.get("init") == "random_tiny"
    if random_weights:
        tiny = base_model["random_tiny"]
        build_tiny_whisper(
            model["processor"],
            dict(tiny["architecture"]),
            int(tiny["seed"]),
            base_model["name_or_path"],
        )
    return base_model_manifest(
        base_model, "whisper", random_weights=random_weights, random_note=RANDOM_BASE_NOTE
    )


def train_adapter(
    peft_model: PeftModel, features: DatasetDict, training: dict[str, Any], peft: dict[str, Any]
) -> tuple[PeftModel, dict[str, Any]]:
    """Fit the adapter on ``features["train"]``, evaluating on ``features["dev"]``, with ``Seq2SeqTrainer``.

    Returns the trained adapter and the training log (Trainer log history:
    loss per logging step, eval loss per evaluation); see :func:`fit_adapter`.
    """
    columns = ["log_mel", "labels"]
    return fit_adapter(
        peft_model,
        features["train"].select_columns(columns),
        features["dev"].select_columns(columns) if "dev" in features else None,
        collator_for(peft_model.get_base_model().config),
        training=training,
        peft=peft,
        seq2seq=True,
    )


def evaluate_transcription(
    adapter: PeftModel,
    features: DatasetDict,
    model: dict[str, Any],
    evaluation: dict[str, Any],
    peft: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """CER and WER of the base (adapter disabled) and the fine-tuned model on the same clips.

    Batched ``generate`` with the language/task prompt forced; both sides
    normalised (see :data:`peft_pipelines.speech.metrics.NORMALISER`). Error
    rates are unclipped fractions (above 1 with many insertions). Returns the
    metrics report with its provenance and the per-clip predictions table.
    """
    split = features[evaluation.get("split", "test")]
    if evaluation.get("max_clips"):
        split = split.select(range(min(len(split), int(evaluation["max_clips"]))))
    processor = WhisperProcessor.from_pretrained(model["processor"])
    generation = {
        "language": model["language"],
        "task": model["task"],
        "max_new_tokens": int(evaluation.get("max_new_tokens", 128)),
    }
    adapter.eval()
    batch_size = int(evaluation.get("batch_size", 16))
    references, base_predictions, tuned_predictions = [], [], []
    batches = range(0, len(split), batch_size)
    label = f"transcribe {evaluation.get('split', 'test')}: base + fine-tuned"
    for start in tqdm(batches, desc=label, unit="batch"):
        rows = split[start : start + batch_size]
        references += rows["sentence"]
        clips = [np.asarray(m) for m in rows["log_mel"]]
        with adapter.disable_adapter():
            base_predictions += generate_transcripts(
                adapter, processor.tokenizer, clips, **generation
            )
        tuned_predictions += generate_transcripts(adapter, processor.tokenizer, clips, **generation)

    manifest = adapter.peft_pipelines_manifest
    split_name = evaluation.get("split", "test")
    metrics = {
        "base": _scores(references, base_predictions),
        "finetuned": _scores(references, tuned_predictions),
        "normaliser": NORMALISER,
        **report_provenance(manifest, peft, split_name, evaluation.get("seed")),
    }
    if manifest["base_model_random"]:
        logger.warning(RANDOM_BASE_NOTE)
    logger.info(
        "CER base %.3f -> fine-tuned %.3f on %d clips",
        metrics["base"]["cer"],
        metrics["finetuned"]["cer"],
        len(references),
    )
    predictions = pd.DataFrame(
        {
            "path": split["path"],
            "reference": references,
            "base_prediction": base_predictions,
            "finetuned_prediction": tuned_predictions,
            "base_cer": [
                _clip_cer(r, p) for r, p in zip(references, base_predictions, strict=True)
            ],
            "finetuned_cer": [
                _clip_cer(r, p) for r, p in zip(references, tuned_predictions, strict=True)
            ],
        }
    )
    return metrics, predictions


def _scores(references: list[str], predictions: list[str]) -> dict[str, Any]:
    return {
        "wer": word_error_rate(references, predictions),
        "cer": character_error_rate(references, predictions),
        "n": len(references),
    }


def _clip_cer(reference: str, prediction: str) -> float:
    return character_error_rate([reference], [prediction])
