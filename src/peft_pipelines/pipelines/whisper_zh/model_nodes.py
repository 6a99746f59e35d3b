"""Model stages of ``whisper_zh``: base model -> LoRA (or any PEFT method) -> training -> CER/WER.

The loading, wrapping and fitting are the shared training core
(:mod:`peft_pipelines.training`); these nodes add what is Whisper's own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datasets import DatasetDict
from peft import PeftModel
from transformers import PreTrainedModel, WhisperProcessor

from peft_pipelines.speech.collator import collator_for
from peft_pipelines.speech.metrics import NORMALISER, character_error_rate, word_error_rate
from peft_pipelines.speech.tiny_whisper import build_tiny_whisper
from peft_pipelines.speech.transcribe import generate_transcripts
from peft_pipelines.training.fitting import fit_model
from peft_pipelines.training.peft_wrapping import wrap_with_peft
from peft_pipelines.training.provenance import git_commit, package_versions

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
    name_or_path = str(base_model["name_or_path"])
    if Path(name_or_path).is_dir():
        # An absolute folder, so the adapters saved with this manifest load from any working directory.
        name_or_path = str(Path(name_or_path).resolve())
    return {
        "name_or_path": name_or_path,
        "revision": base_model.get("revision"),
        "architecture": "whisper",
        "quantization": base_model.get("quantization", "int8"),
        "gradient_checkpointing": bool(base_model.get("gradient_checkpointing", False)),
        "config_overrides": dict(base_model.get("config_overrides") or {}),
        "base_model_random": random_weights,
        # What the base is, for every report made with it (e.g. the synthetic-speech demo base).
        "note": RANDOM_BASE_NOTE if random_weights else base_model.get("note"),
    }


def add_peft_adapter(
    base_model: PreTrainedModel, peft: dict[str, Any]
) -> tuple[PeftModel, dict[str, Any]]:
    """Wrap the prepared base with the configured PEFT method; the summary goes to ``peft_summary.json``."""
    peft_model, summary = wrap_with_peft(base_model, peft)
    peft_model.peft_pipelines_manifest = base_model.peft_pipelines_manifest
    summary["base_model"] = base_model.peft_pipelines_manifest["name_or_path"]
    summary["base_model_random"] = base_model.peft_pipelines_manifest["base_model_random"]
    summary["base_model_note"] = base_model.peft_pipelines_manifest.get("note")
    return peft_model, summary


def train_adapter(
    peft_model: PeftModel, features: DatasetDict, training: dict[str, Any], peft: dict[str, Any]
) -> tuple[PeftModel, dict[str, Any]]:
    """Fit the adapter on ``features["train"]``, evaluating on ``features["dev"]``, with ``Seq2SeqTrainer``.

    Checkpoints go to ``training["output_dir"]`` and a rerun after an
    interruption resumes from the last one made with the same data and
    parameters. Returns the trained adapter and the training log (Trainer log
    history: loss per logging step, eval loss per evaluation).
    """
    manifest = peft_model.peft_pipelines_manifest
    columns = ["log_mel", "labels"]
    trained, log = fit_model(
        peft_model,
        features["train"].select_columns(columns),
        features["dev"].select_columns(columns) if "dev" in features else None,
        collator_for(peft_model.get_base_model().config),
        training=dict(training),
        fingerprint_parts={"base_model": manifest, "peft": dict(peft)},
        seq2seq=True,
    )
    trained.peft_pipelines_manifest = manifest
    log["base_model_random"] = manifest["base_model_random"]
    log["base_model_note"] = manifest.get("note")
    return trained, log


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
    for start in range(0, len(split), batch_size):
        rows = split[start : start + batch_size]
        references += rows["sentence"]
        clips = [np.asarray(m) for m in rows["log_mel"]]
        with adapter.disable_adapter():
            base_predictions += generate_transcripts(
                adapter, processor.tokenizer, clips, **generation
            )
        tuned_predictions += generate_transcripts(adapter, processor.tokenizer, clips, **generation)

    manifest = adapter.peft_pipelines_manifest
    metrics = {
        "base": _scores(references, base_predictions),
        "finetuned": _scores(references, tuned_predictions),
        "split": evaluation.get("split", "test"),
        "normaliser": NORMALISER,
        "base_model": manifest["name_or_path"],
        "base_model_random": manifest["base_model_random"],
        "quantization": manifest["quantization"],
        "peft_config": dict(peft),
        "seed": evaluation.get("seed"),
        "git_commit": git_commit(),
        "package_versions": package_versions(),
    }
    if manifest["base_model_random"]:
        metrics["note"] = RANDOM_BASE_NOTE
        logger.warning(RANDOM_BASE_NOTE)
    elif manifest.get("note"):
        metrics["note"] = manifest["note"]
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
