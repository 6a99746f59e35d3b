"""Model stages of ``whisper_zh``: base model -> LoRA (or any PEFT method) -> training -> CER/WER.

The loading, wrapping and fitting are the shared training core
(:mod:`peft_pipelines.training`); these nodes add what is Whisper's own.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict
from peft import PeftModel
from tqdm.auto import tqdm
from transformers import WhisperProcessor

from peft_pipelines.speech.collator import collator_for
from peft_pipelines.speech.ctranslate2_whisper import convert_packaged_whisper, packaged_parts
from peft_pipelines.speech.metrics import NORMALISER, character_error_rate, word_error_rate
from peft_pipelines.speech.tiny_whisper import build_tiny_whisper
from peft_pipelines.speech.transcribe import generate_transcripts, transcribe_recordings
from peft_pipelines.training.base_model import whisper_encoder_window
from peft_pipelines.training.nodes import base_model_manifest, fit_adapter, report_provenance

logger = logging.getLogger(__name__)

RANDOM_BASE_NOTE = (
    "The base model has random weights (no pretrained Whisper is available offline): "
    "these error rates prove the mechanics of 8-bit loading, LoRA, training and evaluation, not accuracy."
)


def describe_base_model(base_model: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The manifest of the base model (see :class:`peft_pipelines.io.BaseModelDataset`).

    ``base_model["init"]``:

    * ``ctranslate2``: OpenAI's Whisper in the CTranslate2 file that installed
      packages ship (``base_model["ctranslate2"]``: parts and config with their
      SHA-256) is converted exactly into ``name_or_path`` once, with the
      processor in ``model["processor"]``, and reused while the files are unchanged;
    * ``pretrained``: ``name_or_path`` is a Hub id (``openai/whisper-large-v2``) or a folder;
    * ``random_tiny``: a tiny random Whisper is (re)built into ``name_or_path``,
      deterministically from ``base_model["random_tiny"]``: for tests.

    ``base_model["window_seconds"]`` (the training input window) goes into the manifest.
    """
    init = base_model.get("init", "pretrained")
    if init == "ctranslate2":
        parts, config = packaged_parts(base_model["ctranslate2"])
        convert_packaged_whisper(
            parts, config, model["processor"], Path(base_model["name_or_path"])
        )
    elif init == "random_tiny":
        tiny = base_model["random_tiny"]
        build_tiny_whisper(
            model["processor"],
            dict(tiny["architecture"]),
            int(tiny["seed"]),
            base_model["name_or_path"],
        )
    elif init != "pretrained":
        raise ValueError(
            f"base_model.init must be ctranslate2, pretrained or random_tiny, not {init!r}"
        )
    manifest = base_model_manifest(
        base_model, "whisper", random_weights=init == "random_tiny", random_note=RANDOM_BASE_NOTE
    )
    manifest["window_seconds"] = base_model.get("window_seconds")
    return manifest


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


def evaluate_transcription(  # noqa: PLR0917 (a Kedro node: inputs arrive by position)
    adapter: PeftModel,
    features: DatasetDict,
    long_utterances: Dataset,
    model: dict[str, Any],
    evaluation: dict[str, Any],
    peft: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """CER and WER of the base (adapter disabled) and the fine-tuned model on the same audio.

    Two sets: the clips of ``evaluation["split"]`` (batched greedy decoding in
    the training window, as the seed evaluated), and ``long_utterances``
    (several clips joined), each transcribed as a file is, with the model's
    full window (:func:`transcribe_recordings`). Both sides normalised (see
    :data:`peft_pipelines.speech.metrics.NORMALISER`); error rates are unclipped
    fractions. Returns the metrics report with its provenance and the per-clip
    predictions table (raw texts).
    """
    split_name = evaluation.get("split", "test")
    split = features[split_name]
    if evaluation.get("max_clips"):
        split = split.select(range(min(len(split), int(evaluation["max_clips"]))))
    processor = WhisperProcessor.from_pretrained(model["processor"])
    generation = {
        "language": model["language"],
        "task": model["task"],
        "max_new_tokens": int(evaluation.get("max_new_tokens", 224)),
        "tokens_per_second": float(evaluation.get("tokens_per_second", 8)),
    }
    adapter.eval()
    batch_size = int(evaluation.get("batch_size", 16))
    references: list[str] = []
    predictions: dict[str, list[str]] = {"base": [], "finetuned": []}
    loops: dict[str, list[bool]] = {"base": [], "finetuned": []}
    for start in tqdm(
        range(0, len(split), batch_size), desc=f"transcribe {split_name}", unit="batch"
    ):
        rows = split[start : start + batch_size]
        references += rows["sentence"]
        clips = [np.asarray(m) for m in rows["log_mel"]]
        for side in ("base", "finetuned"):
            with _adapter_for(adapter, side):
                predictions[side] += generate_transcripts(
                    adapter, processor.tokenizer, clips, loops=loops[side], **generation
                )

    long_references = list(long_utterances["sentence"])
    long_predictions: dict[str, list[str]] = {"base": [], "finetuned": []}
    long_loops: dict[str, list[bool]] = {"base": [], "finetuned": []}
    recordings = [
        np.asarray(row["audio_16k"], dtype=np.float32)
        for row in long_utterances.with_format("numpy", columns=["audio_16k"])
    ]
    with whisper_encoder_window(adapter, None):
        for side in tqdm(("base", "finetuned"), desc="transcribe long utterances", unit="model"):
            with _adapter_for(adapter, side):
                transcribed = transcribe_recordings(
                    adapter, processor, recordings, batch_size=batch_size, **generation
                )
            long_predictions[side] = [text for text, _ in transcribed]
            long_loops[side] = [looped for _, looped in transcribed]

    manifest = adapter.peft_pipelines_manifest
    metrics: dict[str, Any] = {
        side: {
            **_scores(references, predictions[side]),
            "loops_cut": int(sum(loops[side])),
        }
        for side in ("base", "finetuned")
    }
    metrics["long_utterances"] = {
        side: {
            **_scores(long_references, long_predictions[side]),
            "loops_cut": int(sum(long_loops[side])),
            "seconds": [round(float(d), 2) for d in long_utterances["duration_s"]],
        }
        for side in ("base", "finetuned")
    }
    metrics["window_seconds"] = {
        "clips": manifest.get("window_seconds"),
        "long_utterances": "full",
    }
    metrics["normaliser"] = NORMALISER
    metrics.update(report_provenance(manifest, peft, split_name, evaluation.get("seed")))
    if manifest["base_model_random"]:
        logger.warning(RANDOM_BASE_NOTE)
    logger.info(
        "CER base %.3f -> fine-tuned %.3f on %d clips; long utterances %.3f -> %.3f on %d",
        metrics["base"]["cer"],
        metrics["finetuned"]["cer"],
        len(references),
        metrics["long_utterances"]["base"]["cer"],
        metrics["long_utterances"]["finetuned"]["cer"],
        len(long_references),
    )
    table = pd.DataFrame(
        {
            "set": [split_name] * len(references) + ["long_utterances"] * len(long_references),
            "path": list(split["path"]) + [" + ".join(p) for p in long_utterances["paths"]],
            "reference": references + long_references,
            "base_prediction": predictions["base"] + long_predictions["base"],
            "finetuned_prediction": predictions["finetuned"] + long_predictions["finetuned"],
        }
    )
    for side in ("base", "finetuned"):
        table[f"{side}_cer"] = [
            _clip_cer(r, p)
            for r, p in zip(table["reference"], table[f"{side}_prediction"], strict=True)
        ]
    return metrics, table


def _adapter_for(adapter: PeftModel, side: str) -> AbstractContextManager:
    return adapter.disable_adapter() if side == "base" else nullcontext()


def _scores(references: list[str], predictions: list[str]) -> dict[str, Any]:
    return {
        "wer": word_error_rate(references, predictions),
        "cer": character_error_rate(references, predictions),
        "n": len(references),
    }


def _clip_cer(reference: str, prediction: str) -> float:
    return character_error_rate([reference], [prediction])
