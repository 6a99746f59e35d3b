"""The one evaluation loop for transcripts: the base (adapter off) and the fine-tuned model on the same audio."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from peft import PeftModel

from peft_pipelines.speech.metrics import character_error_rate, word_error_rate

SIDES = ("base", "finetuned")


def adapter_side(model: PeftModel, side: str) -> AbstractContextManager:
    """Within the block the model is the base (``base``: adapter disabled) or the fine-tuned one."""
    return model.disable_adapter() if side == "base" else nullcontext()


def error_rates(references: list[str], predictions: list[str]) -> dict[str, Any]:
    """WER, CER (normalised, unclipped fractions) and the number of utterances."""
    return {
        "wer": word_error_rate(references, predictions),
        "cer": character_error_rate(references, predictions),
        "n": len(references),
    }


def transcribe_and_score(
    model: PeftModel,
    references: list[str],
    transcribe: Callable[[], list[tuple[str, bool, bool]]],
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Run ``transcribe`` (returning (text, loop cut, no speech) per utterance) for each side; score each side.

    Returns the scores per side (``wer``, ``cer``, ``n``, ``loops_cut``,
    ``no_speech_skipped``: utterances the voice activity detector heard no
    speech in, not decoded and scored as "") and the transcripts per side, in
    the order of ``references``.
    """
    scores: dict[str, dict[str, Any]] = {}
    texts: dict[str, list[str]] = {}
    for side in SIDES:
        with adapter_side(model, side):
            results = transcribe()
        texts[side] = [text for text, _, _ in results]
        scores[side] = {
            **error_rates(references, texts[side]),
            "loops_cut": int(sum(looped for _, looped, _ in results)),
            "no_speech_skipped": int(sum(no_speech for _, _, no_speech in results)),
        }
    return scores, texts
